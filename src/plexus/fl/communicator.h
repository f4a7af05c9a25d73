// Communication step of a round, on the stacked state X [N,P]:
//   Server:              x ← Σ_{i∈S} (n_i/n_S) x_i, then every row ← x            (FedAvg aggregation)
//   Gossip:              X ← W_t^Q X                                              (DFedAvg, DFedSAM, MGS)
//   GossipCombineFirst:  X ← W_t X_old + (X − X_old)                              (D-PSGD)
// W_t is the mixing matrix of round t's graph (static topologies: one W for the whole run).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/fl/algorithm.h"
#include "plexus/fl/federation.h"
#include "plexus/fl/topology.h"

namespace plexus::fl {

class Communicator {
 public:
  Communicator() = default;
  /// Throws: Error(Config) if a static topology is disconnected (gossip would never reach consensus).
  Communicator(Communication kind, const TopologyOptions& topology, int64_t n, uint64_t seed, int64_t gossip_steps);

  /// Combine the models of round `round` (0-based). `who` are the participants (server FL), `train_sets`
  /// gives each client's sample count n_i, `x_old` [N,P] the pre-training state (GossipCombineFirst only).
  void communicate(Federation& fed, const std::vector<int64_t>& who,
                   const std::vector<std::vector<int64_t>>& train_sets, int64_t round,
                   const torch::Tensor& x_old = {}) const;

  /// Mixing matrix W_t [N,N] float64 of round t.
  torch::Tensor mixing(int64_t round) const;
  /// One line: kind, degree, spectral gap (first round for time-varying graphs).
  std::string describe() const;

 private:
  Communication kind_ = Communication::Server;
  TopologyOptions topology_;
  int64_t n_ = 0;
  uint64_t seed_ = 0;
  int64_t gossip_steps_ = 1;
  torch::Tensor static_w_;  // cached W for static topologies
};

}  // namespace plexus::fl
