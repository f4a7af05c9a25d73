#include "plexus/fl/dp_aggregator.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/fl/run_support.h"
#include "plexus/privacy/privatizer.h"

namespace plexus::fl {

const OptionSchema<PrivacyOptions>& PrivacyOptions::schema() {
  using P = PrivacyOptions;
  static const auto s =
      OptionSchema<P>("privacy")
          .key("clip_norm", &P::clip_norm, "C: L2 bound of each client update", "(0, 1e6]")
          .key("noise_multiplier", &P::noise_multiplier,
               "σ: noise std on the sum / C (each client adds σC/√m); > 0 as in `plexus privacy epsilon` (σ = 0 "
               "gives no privacy: use the non-private algorithm)",
               "(0, 1000]")
          .key("delta", &P::delta, "δ at which ε is reported", "(0, 1)")
          .key("sampling", &P::sampling,
               "`poisson`: each client joins w.p. q = fl.client_fraction (tight RDP); `fixed`: m = round(qN) "
               "without replacement (replace-one bound)",
               one_of({"fixed", "poisson"}))
          .key("clipping", &P::clipping, "`global` (whole model, the paper) or `per_tensor` (reference code)",
               one_of({"global", "per_tensor"}))
          .key("aggregate_weighting", &P::aggregate_weighting,
               "weights of the clipped updates: `uniform` 1/m (the paper; what ε assumes) or `samples` n_i/Σn_j "
               "(reference code; ε then optimistic, the run reports effective_noise_multiplier)",
               one_of({"uniform", "samples"}))
          .key("density", &P::density, "p = k/P kept by top-k / rand-k", "(0, 1]")
          .key("conversion", &P::conversion, "RDP → (ε, δ): `tight` (Balle et al. 2020) or `classic` (Mironov 2017)",
               one_of({"tight", "classic"}));
  return s;
}

PrivacyOptions PrivacyOptions::parse(ConfigTable& t) { return schema().parse(t); }

DpAggregator::DpAggregator(const PrivacyOptions& o, Sparsifier sparsifier, const nn::ParamLayout& layout,
                           int64_t clients, double q, uint64_t seed, std::vector<int64_t> sizes)
    : o_(o), sparsifier_(sparsifier), clients_(clients), q_(q), seed_(seed), sizes_(std::move(sizes)),
      sampling_(privacy::parse_sampling(o.sampling, "privacy.sampling")) {
  PLEXUS_CHECK(o_.aggregate_weighting == "uniform" || static_cast<int64_t>(sizes_.size()) == clients_,
               "DpAggregator: \"samples\" weighting needs the {} client sizes, got {}", clients_, sizes_.size());
  // The aggregate's noise has std σC/m̄ per coordinate, so norm ≈ σC√P/m̄, against at most C of signal.
  const double m_bar = std::max(1.0, q_ * static_cast<double>(clients_));
  const double noise_norm = o_.noise_multiplier * o_.clip_norm * std::sqrt(static_cast<double>(layout.size())) / m_bar;
  if (noise_norm > 10 * o_.clip_norm) {
    log_warn("privacy: the noise added to the averaged update has norm ≈ {:.3g}, {:.0f}× the clip norm C = {:.3g} "
             "(σ = {}, P = {}, ~{:.0f} clients per round); expect little learning — use more clients per round, "
             "a smaller model or a smaller noise_multiplier", noise_norm, noise_norm / o_.clip_norm, o_.clip_norm,
             o_.noise_multiplier, layout.size(), m_bar);
  }
  if (o_.clipping == "per_tensor") {
    for (auto [b, e] : layout.tensor_ranges()) segments_.push_back({b, e - b});
    log_warn("privacy: per-tensor clipping bounds an update only by C·√L = {:.3g} (L = {} tensors); the reported "
             "ε assumes sensitivity C and is therefore optimistic — use privacy.clipping = \"global\" for a "
             "guarantee", o_.clip_norm * std::sqrt(static_cast<double>(segments_.size())), segments_.size());
  }
}

std::vector<double> DpAggregator::weights(const std::vector<int64_t>& who) const {
  PLEXUS_CHECK(!who.empty(), "DpAggregator::weights: no participants");
  if (o_.aggregate_weighting == "samples") return averaging_weights(sizes_, who);  // n_i / Σ_{j∈S} n_j
  const double m_bar =
      sampling_ == privacy::Sampling::FixedSize ? static_cast<double>(who.size()) : q_ * static_cast<double>(clients_);
  return std::vector<double>(who.size(), 1.0 / m_bar);
}

double DpAggregator::effective_noise_multiplier(const std::vector<int64_t>& who) const {
  if (who.empty()) return NAN;
  if (o_.aggregate_weighting == "uniform") return o_.noise_multiplier;
  const double m_bar =
      sampling_ == privacy::Sampling::FixedSize ? static_cast<double>(who.size()) : q_ * static_cast<double>(clients_);
  const auto w = weights(who);
  return o_.noise_multiplier * (1.0 / m_bar) / *std::max_element(w.begin(), w.end());  // σ·(1/m̄)/max_i w_i
}

privacy::EpsilonResult DpAggregator::epsilon() const {
  if (o_.noise_multiplier == 0) return {INFINITY, 0.0, false};
  return accountant_.epsilon(o_.delta, privacy::parse_conversion(o_.conversion, "privacy.conversion"), false);
}

DpRoundStats DpAggregator::aggregate(Federation& fed, const torch::Tensor& x_global, const std::vector<int64_t>& who,
                                     int64_t round) {
  torch::NoGradGuard no_grad;
  const int64_t m = static_cast<int64_t>(who.size());
  // The accountant records what the run actually did: the sampler and its rate (m/N for fixed size).
  if (o_.noise_multiplier > 0) {
    double q = sampling_ == privacy::Sampling::FixedSize ? static_cast<double>(m) / clients_ : q_;
    accountant_.step(sampling_, q, o_.noise_multiplier);
  }
  DpRoundStats stats;
  if (m == 0) {  // Poisson may sample nobody: the release is pure noise on an empty sum; the model stays.
    fed.X.copy_(x_global.unsqueeze(0).expand_as(fed.X));
    return stats;
  }
  auto idx = torch::tensor(who, torch::kInt64).to(fed.X.device());
  auto D = fed.X.index_select(0, idx) - x_global.unsqueeze(0);  // [m,P]
  std::optional<torch::Tensor> mask;
  if (sparsifier_ == Sparsifier::TopK) mask = privacy::topk_rows(D, o_.density);
  if (sparsifier_ == Sparsifier::RandK) mask = privacy::randk_rows(D, o_.density, seed_, round, who);
  auto norms = privacy::clip_rows(D, o_.clip_norm, segments_);
  stats.mean_update_norm = norms.mean().item<double>();
  stats.clipped_fraction = norms.gt(o_.clip_norm).to(torch::kFloat64).mean().item<double>();
  // Fixed size: each of the m clients adds σC/√m. Poisson: the sum must carry σC whatever |S| turned out
  // to be, so each client adds σC/√m for the realised m (the server announces m before upload).
  double denom = sampling_ == privacy::Sampling::FixedSize ? static_cast<double>(m) : q_ * clients_;
  if (o_.aggregate_weighting == "samples") {
    // x ← x + Σ w_i Δ_i + (1/m̄) Σ ξ_i: the same noise draws and aggregate noise std σC/m̄ as "uniform".
    auto w = torch::tensor(weights(who), torch::kFloat64).to(D.device(), D.scalar_type());  // [m]
    auto step = torch::matmul(w.unsqueeze(0), D).squeeze(0);                                // [P]
    if (o_.noise_multiplier > 0) {
      auto Z = torch::zeros_like(D);  // [m,P] the client noises ξ_i alone
      privacy::add_gaussian_noise(Z, privacy::client_noise_std(o_.noise_multiplier, o_.clip_norm, m), seed_, round,
                                  who, mask);
      step += Z.sum(0) / denom;
    }
    fed.X.copy_((x_global + step).unsqueeze(0).expand_as(fed.X));
    return stats;
  }
  if (o_.noise_multiplier > 0) {
    privacy::add_gaussian_noise(D, privacy::client_noise_std(o_.noise_multiplier, o_.clip_norm, m), seed_, round,
                                who, mask);
  }
  auto x = x_global + D.sum(0) / denom;
  fed.X.copy_(x.unsqueeze(0).expand_as(fed.X));
  return stats;
}

}  // namespace plexus::fl
