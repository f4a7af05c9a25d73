// Communication of personalized FL on the stacked state X [N,P]: only the communicated columns (the shared
// body, or every column for whole-model baselines) are ever read from another client's row; every other
// column of every row stays bit-for-bit (heads never leave a client; tests/fl/pfl_test.cpp proves it).
//   Gossip:  X_c ← W_t X_c, W_t = mixing_matrix(G_t) (undirected, doubly stochastic) or the uniform pull
//            w_ij = 1/(k_i+1) over the clients i chose (directed G_t; the DFedAlt/DFedPGP reference codes)
//   PushSum: "push_sum":     U_c ← P_t U_c, μ ← P_t μ, P_t column-stochastic on G_t (SGP, Assran et al. 2019)
//            "uniform_pull": X_c ← A_t X_c with A_t the uniform pull (DFedPGP released code; μ stays 1)
//   Server:  x_c ← Σ_{i∈S} (n_i/n_S) x_{i,c}, written to every row (FedPer, FedRep, FedBABU, FedAvg-FT)
// G_t = make_graph(topology, N, seed, t). A directed client "choosing" k clients pulls from them, so the pull
// matrix uses transpose(G_t): the same random choices drive push-sum (i pushes to its k) and pull.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/fl/pfl/pfl_config.h"
#include "plexus/fl/pfl/pfl_spec.h"
#include "plexus/fl/topology.h"
#include "plexus/nn/param_layout.h"

namespace plexus::fl {

/// What one communication step saw.
struct PflCommStats {
  bool strongly_connected = true;  ///< G_t (strongly) connected (always true for Server/None)
};

class PflCommunicator {
 public:
  PflCommunicator() = default;
  /// Throws: Error(Config) for a static topology that is not (strongly) connected (from make_graph), or the
  /// push_sum mode "push_sum" with a non-push-sum spec (never: the mode is ignored for other specs).
  PflCommunicator(const PflSpec& spec, const PersonalizationOptions& p, const TopologyOptions& topology, int64_t n,
                  uint64_t seed);

  /// The [N,N] float64 matrix of round t: W_t (Gossip), P_t (push_sum) or A_t (uniform_pull); undefined for
  /// Server/None.
  torch::Tensor matrix(int64_t round) const;
  /// True when the state carries push-sum weights μ that change (PushSum with mode "push_sum").
  bool uses_weights() const { return spec_.comm == PflComm::PushSum && mode_ == "push_sum"; }

  /// Communicate round t on `columns` of X [N,P] (numerators U for push-sum) and μ [N] float64.
  /// `who`: the sampled clients (Server), `sizes`: every client's sample count n_i.
  /// Shapes: X [N,P], mu [N]. Throws: Error(Config) on shape mismatches (gossip).
  PflCommStats communicate(torch::Tensor& X, torch::Tensor& mu, const std::vector<nn::ColumnRange>& columns,
                           const std::vector<int64_t>& who, const std::vector<int64_t>& sizes, int64_t round) const;

  /// One line for the log: communication, mode, topology.
  std::string describe() const;

 private:
  PflSpec spec_;
  std::string mode_;
  TopologyOptions topology_;
  int64_t n_ = 0;
  uint64_t seed_ = 0;
};

}  // namespace plexus::fl
