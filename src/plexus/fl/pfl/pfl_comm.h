// Communicators of personalized FL on the stacked state X [N,P]: only the communicated columns (the shared
// body, or every column for whole-model baselines) are ever read from another client's row; every other
// column of every row stays bit-for-bit (heads never leave a client; tests/fl/pfl_test.cpp proves it).
//   NoCommunication: nothing (Local)
//   ServerColumns:   x_c ← Σ_{i∈S} (n_i/n_S) x_{i,c} over the sampled S, written to every row (FedPer, FedRep,
//                    FedBABU, FedAvg-FT, Ditto)
//   GossipColumns:   X_c ← W_t X_c, W_t = mixing_matrix(G_t) (undirected, doubly stochastic) or the uniform
//                    pull w_ij = 1/(k_i+1) over the clients i chose (directed G_t, or always with
//                    `always_pull`: DFedPGP's released code, "uniform_pull")
//   PushSum:         U_c ← P_t U_c, μ ← P_t μ, P_t column-stochastic on G_t (SGP, Assran et al. 2019); the
//                    clients' models are the de-biased z_i = u_i/μ_i on the communicated columns
// G_t = make_graph(topology, N, seed, t). A directed client "choosing" k clients pulls from them, so the pull
// matrix uses transpose(G_t): the same random choices drive push-sum (i pushes to its k) and pull.
// Columns (every personalized communicator): mu_min, mu_max, strongly_connected, participants.
// Summary: communication (describe()). The weights μ [N] (ones without push-sum) are checkpointed as "mu".
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/fl/gossip.h"
#include "plexus/fl/parts.h"
#include "plexus/fl/topology.h"

namespace plexus::fl {

/// The common state of the personalized communicators: communicated columns, weights μ, round statistics.
class ColumnCommunicator : public Communicator {
 public:
  ColumnCommunicator(Session& s, std::vector<ColumnRange> columns);
  torch::Tensor models() const override { return s_.fed.X; }
  void save(Checkpoint& ck) const override { ck.tensors["mu"] = mu_; }
  void load(const Checkpoint& ck, const std::string& path) override;
  void columns(Row& row) const override;
  void summary(Row& sum, const Rows& rows) const override { sum["communication"] = describe(); }

  const std::vector<ColumnRange>& communicated() const { return columns_; }
  const torch::Tensor& mu() const { return mu_; }

 protected:
  Session& s_;
  std::vector<ColumnRange> columns_;
  torch::Tensor mu_;  // [N] float64 push-sum weights (ones unless push-sum)
  bool strongly_connected_ = true;
  int64_t participants_ = 0;
};

class NoCommunication : public ColumnCommunicator {
 public:
  using ColumnCommunicator::ColumnCommunicator;
  void communicate(const std::vector<int64_t>& who, int64_t round) override {
    participants_ = static_cast<int64_t>(who.size());
  }
  std::string describe() const override { return "none (local training only)"; }
  RankExchange rank_exchange() const override { return RankExchange::Local; }
};

class ServerColumns : public ColumnCommunicator {
 public:
  using ColumnCommunicator::ColumnCommunicator;
  std::vector<int64_t> participants(int64_t round) const override;
  void communicate(const std::vector<int64_t>& who, int64_t round) override;
  std::string describe() const override;
  RankExchange rank_exchange() const override { return RankExchange::ServerColumns; }
};

/// Gossip of the communicated columns. Throws (constructor): Error(Config) for k >= N or a disconnected
/// static topology (round 0's graph is built up front).
class GossipColumns : public ColumnCommunicator {
 public:
  GossipColumns(Session& s, std::vector<ColumnRange> columns, bool always_pull = false);
  void communicate(const std::vector<int64_t>& who, int64_t round) override;
  std::string describe() const override;
  RankExchange rank_exchange() const override { return RankExchange::GossipColumns; }
  /// The [N,N] float64 matrix of round t: W_t, or the uniform pull A_t.
  torch::Tensor matrix(const Graph& g) const;

 private:
  bool always_pull_;
};

/// Push-sum with de-biasing. models() are z = U/μ (a copy, trained in place by the local rule); the local change
/// goes to the numerators, u_i ← u_i + (z_i' − z_i), before the push. Throws (constructor): as GossipColumns.
class PushSum : public ColumnCommunicator {
 public:
  PushSum(Session& s, std::vector<ColumnRange> columns);
  torch::Tensor models() const override { return z_; }
  void before_training(const std::vector<int64_t>& who, int64_t round) override { z0_ = z_.clone(); }
  void communicate(const std::vector<int64_t>& who, int64_t round) override { absorb(who), push(round); }
  void load(const Checkpoint& ck, const std::string& path) override;
  std::string describe() const override;
  RankExchange rank_exchange() const override { return RankExchange::PushSum; }

  // communicate() in its two halves, for a multi-rank run (ranked.h), which moves the numerators U and weights
  // μ along P_t's edges between them, and re-derives z after gathering U and μ on rank 0.
  /// u_i ← u_i + (z_i' − z_i) for i in `who` (reads and writes row i only).
  void absorb(const std::vector<int64_t>& who);
  /// U_c ← P_t U_c, μ ← P_t μ, z ← U/μ (row i needs U_j, μ_j for p_ij ≠ 0 only).
  void push(int64_t round);
  /// z ← U/μ from the current U and μ.
  void refresh() { z_ = push_sum_debias(s_.fed.X, mu_, columns_); }
  /// P_t: the column-stochastic push matrix of round t [N,N] f64 (p_ij ≠ 0: j pushes to i).
  torch::Tensor matrix(int64_t round) const;

 private:
  torch::Tensor z_, z0_;  // [N,P] de-biased models (trained in place), and their pre-training copy
};

}  // namespace plexus::fl
