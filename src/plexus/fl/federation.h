// The stacked federation state: all N clients' models in one tensor X [N,P] (docs/algorithms.md).
//
// Letters: N clients, P parameters. Row i of X is client i's model; M holds momentum buffers with the
// same layout. Server aggregation, gossip (X ← W X), clipping and evaluation are row operations; a
// checkpoint is X (plus M) and the round.
#pragma once

#include <torch/torch.h>

#include "plexus/core/checkpoint.h"
#include "plexus/nn/param_layout.h"

namespace plexus::fl {

struct Federation {
  nn::ParamLayout layout;
  torch::Tensor X;  ///< [N,P] float32 parameters, one row per client
  torch::Tensor M;  ///< [N,P] momentum buffers (zeroed at the start of each round)

  /// N copies of the initial model `x0` [P] on `device`.
  static Federation replicate(const nn::ParamLayout& layout, const torch::Tensor& x0, int64_t n, torch::Device device);

  int64_t clients() const { return X.size(0); }
  /// The average model x̄ = (1/N) Σ_i x_i. Shapes: → [P].
  torch::Tensor mean() const;
  /// Consensus distance (1/N) Σ_i ||x_i − x̄||₂² (DFedSAM paper's consensus error).
  double consensus_distance() const;

  void save_into(Checkpoint& ck) const;
  /// Restore X and M from a checkpoint. Throws: Error(Data) if the shapes do not match this run's config.
  void load_from(const Checkpoint& ck);
};

}  // namespace plexus::fl
