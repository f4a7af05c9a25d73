// Communicators of server and gossip FL, on the stacked state X [N,P] of the session:
//   ServerAverage:       S_t = m = max(1, round(C·N)) sampled clients (stream "client_sampling");
//                        x ← Σ_{i∈S} (n_i/n_S) x_i, then every row ← x                  (FedAvg aggregation)
//   Gossip:              every client takes part; X ← W_t^Q X after training ("adapt then combine";
//                        DFedAvg, DFedSAM, DFedSAM-MGS)
//   CombineFirstGossip:  X ← W_t X_old + (X − X_old), X_old the pre-training state ("combine then adapt";
//                        D-PSGD, Lian et al. 2017)
// W_t is the mixing matrix of round t's graph (static topologies: one W for the whole run). The evaluators
// and wrappers (dp_wrapper.h) are separate parts.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/fl/parts.h"
#include "plexus/fl/topology.h"

namespace plexus::fl {

/// Server averaging with sample-size weights over the sampled clients. Columns: participants.
class ServerAverage : public Communicator {
 public:
  explicit ServerAverage(Session& s) : s_(s) {}
  std::vector<int64_t> participants(int64_t round) const override;
  torch::Tensor models() const override { return s_.fed.X; }
  void communicate(const std::vector<int64_t>& who, int64_t round) override;
  std::string describe() const override;
  void columns(Row& row) const override { row["participants"] = participants_; }
  RankExchange rank_exchange() const override { return RankExchange::Server; }

 protected:
  Session& s_;
  int64_t participants_ = 0;
};

/// Gossip X ← W_t^Q X after local training, every client taking part. Columns: participants.
/// Throws (constructor): Error(Config) if a static topology is disconnected or k >= N.
class Gossip : public Communicator {
 public:
  explicit Gossip(Session& s);
  torch::Tensor models() const override { return s_.fed.X; }
  void communicate(const std::vector<int64_t>& who, int64_t round) override;
  std::string describe() const override;
  void columns(Row& row) const override { row["participants"] = s_.clients(); }
  RankExchange rank_exchange() const override { return RankExchange::Gossip; }
  /// Mixing matrix W_t [N,N] float64 of round t.
  torch::Tensor mixing(int64_t round) const;

 protected:
  Session& s_;
  torch::Tensor static_w_;  // cached W for static topologies
};

/// D-PSGD's combine-first gossip: the gradient step is taken at the pre-gossip model and added after mixing.
class CombineFirstGossip : public Gossip {
 public:
  using Gossip::Gossip;
  void before_training(const std::vector<int64_t>& who, int64_t round) override { x_old_ = s_.fed.X.clone(); }
  void communicate(const std::vector<int64_t>& who, int64_t round) override;
  RankExchange rank_exchange() const override { return RankExchange::CombineFirst; }

 private:
  torch::Tensor x_old_;  // [N,P] X before this round's training
};

}  // namespace plexus::fl
