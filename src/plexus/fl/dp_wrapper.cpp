#include "plexus/fl/dp_wrapper.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/log.h"
#include "plexus/core/rng.h"

namespace plexus::fl {

DpWrapper::DpWrapper(Session& s, std::unique_ptr<Communicator> inner, Sparsifier sparsifier)
    : s_(s), inner_(std::move(inner)),
      dp_(s.cfg.privacy, sparsifier, s.layout, s.cfg.fl.clients, s.cfg.fl.client_fraction, s.seed, s.sizes) {
  if (s.cfg.privacy.aggregate_weighting == "samples") {
    // One line at the start: σ_eff for round 0's participants (every client if Poisson drew nobody).
    auto who = participants(0);
    if (who.empty()) {
      for (int64_t i = 0; i < s.clients(); ++i) who.push_back(i);
    }
    log_warn("privacy: aggregate_weighting = \"samples\" weights updates by n_i/Σn_j (reference code) while the "
             "noise std stays σC/m̄; the reported ε assumes uniform 1/m̄ weights and is optimistic: the effective "
             "noise multiplier σ·(1/m̄)/max_i w_i is {:.4g} for round 0's {} participants (σ = {}); see "
             "effective_noise_multiplier in metrics and summary",
             dp_.effective_noise_multiplier(who), who.size(), s.cfg.privacy.noise_multiplier);
  }
}

std::vector<int64_t> DpWrapper::participants(int64_t round) const {
  if (dp_.sampling() != privacy::Sampling::Poisson) return inner_->participants(round);
  // Poisson sampling: each client joins independently with probability q (the accountant's model).
  std::vector<int64_t> who;
  Rng rng(s_.cfg.run.seed, "client_sampling", 0, round);
  for (int64_t i = 0; i < s_.clients(); ++i) {
    if (rng.uniform() < s_.cfg.fl.client_fraction) who.push_back(i);
  }
  return who;
}

void DpWrapper::before_training(const std::vector<int64_t>& who, int64_t round) {
  inner_->before_training(who, round);
  x_global_ = models()[0].clone();  // server FL: every row holds the global model before training
}

void DpWrapper::communicate(const std::vector<int64_t>& who, int64_t round) {
  participants_ = static_cast<int64_t>(who.size());
  effective_sigma_ = dp_.effective_noise_multiplier(who);
  stats_ = dp_.aggregate(s_.fed, x_global_, who, round);
}

std::string DpWrapper::describe() const {
  const auto& p = s_.cfg.privacy;
  return fmt::format("client-level DP (clip {}, noise multiplier {}, {} sampling{}) around {}", p.clip_norm,
                     p.noise_multiplier, p.sampling,
                     p.aggregate_weighting == "samples" ? ", sample-size weights" : "", inner_->describe());
}

void DpWrapper::save(Checkpoint& ck) const {
  inner_->save(ck);
  ck.meta["privacy_ledger"] = dp_.accountant().to_json();
}

void DpWrapper::load(const Checkpoint& ck, const std::string& path) {
  inner_->load(ck, path);
  if (!ck.meta.contains("privacy_ledger")) throw Error::data("checkpoint '{}' lacks the privacy ledger", path);
  dp_.accountant() = privacy::Accountant::from_json(ck.meta.at("privacy_ledger"));
}

void DpWrapper::columns(Row& row) const {
  inner_->columns(row);
  row["participants"] = participants_;  // the wrapped average did not run: report this round's count
  auto eps = dp_.epsilon();
  row["epsilon"] = eps.epsilon;
  row["delta"] = s_.cfg.privacy.delta;
  row["rdp_order"] = eps.best_order;
  row["update_norm"] = stats_.mean_update_norm;
  row["clipped_fraction"] = stats_.clipped_fraction;
  // σ relative to this round's sensitivity max_i w_i·C (only when the weights are not uniform; NaN: nobody)
  if (s_.cfg.privacy.aggregate_weighting == "samples") row["effective_noise_multiplier"] = effective_sigma_;
}

void DpWrapper::summary(Row& sum, const Rows& rows) const {
  inner_->summary(sum, rows);
  auto eps = dp_.epsilon();
  sum["epsilon"] = eps.epsilon;
  sum["delta"] = s_.cfg.privacy.delta;
  sum["rdp_order"] = eps.best_order;
  sum["sampling"] = s_.cfg.privacy.sampling;
  if (s_.cfg.privacy.aggregate_weighting == "samples") {
    // The weakest round bounds the run: the smallest per-round σ_eff (resumed rows included).
    double lo = INFINITY;
    for (const auto& r : rows) {
      auto it = r.find("effective_noise_multiplier");
      if (it != r.end() && it->is_number()) lo = std::min(lo, it->get<double>());
    }
    sum["effective_noise_multiplier"] = std::isfinite(lo) ? lo : NAN;
  }
  if (eps.at_edge) log_warn("privacy: the best RDP order {} lies on the edge of the order set", eps.best_order);
}

std::string DpWrapper::progress(bool evaluated) const {
  return inner_->progress(evaluated) + fmt::format("  eps {:.3f}", dp_.epsilon().epsilon);
}

}  // namespace plexus::fl
