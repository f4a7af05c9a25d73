// Paired estimates of a candidate's KPI against production on the same weighted traffic.
//
// Both are ratio KPIs R = scale · Σ w a / Σ w b estimated from the same requests, the candidate with its
// weights w_c = p_c/q and production with w_0 = p_0/q (the same kernel S for both, so both estimate the
// KPI smoothed the same way). Each request i has the delta-method influence term
//   e_i = (w_i a_i − R̂ · w_i b_i) / Σ_j w_j b_j        (b_i ≡ 1 for a per-request KPI; plain IS: w_i b_i → 1)
// so Var(R̂) ≈ Σ_i e_i², and because the same requests enter both estimates,
//   gain  D̂ = R̂_c − R̂_0,           Var(D̂) ≈ Σ_i (e_c,i − e_0,i)²
//   ratio ρ̂ = R̂_c / R̂_0,           Var(log ρ̂) ≈ Σ_i (e_c,i / R̂_c − e_0,i / R̂_0)²,  CI ρ̂ · exp(±z se)
// The covariance between the two estimates is what pairing buys: near production the two weight
// vectors agree and most of the noise cancels in D̂. [D], standard delta method (e.g. Owen, Monte Carlo
// theory, ch. 9 on ratio estimates).
#pragma once

#include <cstdint>
#include <vector>

#include "plexus/tune/importance_sampling.h"
#include "plexus/tune/objective.h"

namespace plexus::tune {

struct PairedEstimate {
  Estimate candidate, baseline;   // each KPI alone (value, se, CI at ±z se)
  Estimate gain;                  // candidate − baseline, paired
  double ratio = 1, ratio_lo = 1, ratio_hi = 1, ratio_se_log = 0;
  bool valid = false;             // both weighted denominators were > 0
};

/// The paired estimate of `kpi` for weights w_c (candidate) and w_0 (baseline) on rows `rows` of s
/// (all rows if empty), with a two-sided interval at ±z standard errors (one-sided level Φ(z) for lo).
/// Shapes: w_c, w_0 [s.size()]. Units: those of the KPI (scale applied); ratio unitless.
PairedEstimate paired_ratio(const Samples& s, const std::vector<double>& w_c, const std::vector<double>& w_0,
                            const std::vector<int64_t>& rows, const KpiRatio& kpi, IsMode mode, double z);

/// Pool several iterations' samples for one estimate with deterministic-mixture weights (Owen & Zhou
/// 2000; Cornuet et al. 2012 for AMIS): iteration t drew n_t requests from q_t, so the pooled requests
/// are a draw from ψ = Σ_t (n_t / n) q_t and each row's log_q becomes log ψ(θ_i), evaluated with every
/// iteration's proposal. Importance weights p/ψ on the result are then the pooled DM weights.
/// Shapes: parts[t] and qs[t] pair up; empty parts are skipped.
Samples pool_deterministic_mixture(const std::vector<const Samples*>& parts, const std::vector<const Mixture*>& qs);

}  // namespace plexus::tune
