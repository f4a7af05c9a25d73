// Client-level differential privacy as a wrapper around a server communicator (as Flower's
// DifferentialPrivacyClientSideFixedClipping wraps any strategy): the wrapped communicator keeps its sampling
// of participants (Poisson sampling replaces it when privacy.sampling = "poisson", the accountant's model), and
// its average is replaced by the privatized mean of the clipped, optionally sparsified and noised updates
// (DpAggregator, dp_aggregator.h, for the equations). Every round is recorded in the RDP accountant, whose
// ledger is checkpointed.
// Columns: the wrapped communicator's, then epsilon, delta, rdp_order, update_norm, clipped_fraction,
// and effective_noise_multiplier with privacy.aggregate_weighting = "samples" (σ·(1/m̄)/max_i w_i of the round).
// Summary: epsilon, delta, rdp_order, sampling (and the smallest effective_noise_multiplier with "samples").
#pragma once

#include <cmath>
#include <memory>

#include "plexus/fl/dp_aggregator.h"
#include "plexus/fl/parts.h"

namespace plexus::fl {

class DpWrapper : public Communicator {
 public:
  /// Wrap `inner` (a server communicator: every row holds the global model before training). Options from
  /// cfg.privacy; q = fl.client_fraction. Throws: Error(Config) on invalid privacy options.
  DpWrapper(Session& s, std::unique_ptr<Communicator> inner, Sparsifier sparsifier);

  std::vector<int64_t> participants(int64_t round) const override;
  torch::Tensor models() const override { return inner_->models(); }
  void before_training(const std::vector<int64_t>& who, int64_t round) override;
  void communicate(const std::vector<int64_t>& who, int64_t round) override;
  std::string describe() const override;

  void save(Checkpoint& ck) const override;
  void load(const Checkpoint& ck, const std::string& path) override;
  void columns(Row& row) const override;
  void summary(Row& sum, const Rows& rows) const override;
  std::string progress(bool evaluated) const override;
  /// Across ranks as its server communicator: every rank holds every participant's row, so every rank clips,
  /// sparsifies and noises identically (the noise streams are addressed). Other inner communicators: None.
  RankExchange rank_exchange() const override {
    return inner_->rank_exchange() == RankExchange::Server ? RankExchange::Server : RankExchange::None;
  }

 private:
  Session& s_;
  std::unique_ptr<Communicator> inner_;
  DpAggregator dp_;
  torch::Tensor x_global_;  // [P] the global model before this round's training
  int64_t participants_ = 0;
  DpRoundStats stats_;
  double effective_sigma_ = NAN;  // σ_eff of the last round ("samples" weighting)
};

}  // namespace plexus::fl
