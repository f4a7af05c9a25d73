// Importance-sampling (IS) estimators of a candidate's KPIs from logged exploration traffic.
//
// Traffic: request i ran with its own parameters θ_i ~ q (a Gaussian or a Gaussian mixture around
// production θ0) and logged θ_i, log q(θ_i) and its KPI components f_i. A candidate is a target density p
// (a Gaussian kernel N(c, S) centred at the candidate c). With w_i = p(θ_i) / q(θ_i):
//   plain IS  (AMIS Eq. 1 [P]):  F̂ = (1/N) Σ w_i f_i                      unbiased for E_p f
//   self-normalized (SNIS):      F̂ = Σ w_i f_i / Σ w_i                   consistent, bounded by max f
//   ratio KPI, shared weights:   R̂ = Σ w_i a_i / Σ w_i b_i               (RPM, CTR, IY) [D]
//   clipped weights:             w_i ← min(w_i, w_max)                    (Bottou et al. 2013 §4)
//   Kish effective sample size:  ESS = (Σ w_i)² / Σ w_i²
// With a mixture proposal q = Σ_k π_k q_k the logged log q(θ_i) is the full-mixture density (deterministic-
// mixture weights, Owen & Zhou 2000). Confidence intervals: delta method (linearized ratio) or a
// percentile bootstrap over requests. All choices beyond Eq. (1) are [D] (docs/tune.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "plexus/tune/gaussian.h"

namespace plexus::tune {

/// Logged exploration traffic (or plain evaluations, with log_q unused).
/// Shapes: theta [n × dim] row-major, log_q [n], kpi [n × kpi_names.size()] row-major.
struct Samples {
  int dim = 0;
  std::vector<std::string> kpi_names;
  std::vector<double> theta, log_q, kpi;

  int64_t size() const { return static_cast<int64_t>(log_q.size()); }
  int kpis() const { return static_cast<int>(kpi_names.size()); }
  const double* theta_row(int64_t i) const { return theta.data() + i * dim; }
  double kpi_at(int64_t i, int k) const { return kpi[i * kpis() + k]; }
  /// Index of a KPI column. Throws: Error(Data) if absent.
  int kpi_index(const std::string& name) const;
  /// Append all rows of `o` (same dim and KPI names).
  void append(const Samples& o);
  /// Rows [b, e) as new samples.
  Samples slice(int64_t b, int64_t e) const;
};

enum class IsMode { Plain, SelfNormalized };
enum class CiMethod { Delta, Bootstrap };

struct IsOptions {
  IsMode mode = IsMode::SelfNormalized;
  double clip = 0;             // weight cap w_max; 0 = no clipping
  CiMethod ci = CiMethod::Delta;
  int bootstrap = 200;         // bootstrap resamples
  double z = 1.96;             // two-sided normal quantile of the CI (95%)
  uint64_t seed = 0;           // bootstrap stream seed
};

/// Importance weights of every sample plus their summaries.
struct Weights {
  std::vector<double> w;
  double sum = 0, sum_sq = 0, ess = 0;
  int64_t clipped = 0;  // how many weights hit the cap
};

/// w_i = exp(log p(θ_i) − log q(θ_i)), capped at `clip` if clip > 0. `log_p` evaluates the target.
Weights importance_weights(const Samples& s, const std::function<double(const double*)>& log_p, double clip);
/// Weights for a Gaussian target.
Weights importance_weights(const Samples& s, const Gaussian& target, double clip);
/// Unit weights (plain averages): for evaluations that ran exactly at the candidate.
Weights unit_weights(const Samples& s);

/// Kish effective sample size (Σw)² / Σw²; 0 for empty or all-zero weights.
double kish_ess(const std::vector<double>& w);

/// A point estimate with standard error and a two-sided confidence interval.
struct Estimate {
  double value = 0, se = 0, lo = 0, hi = 0;
};

/// IS estimate of scale × E_p[a] / E_p[b] with shared weights. den < 0 means b ≡ 1 (a per-request mean:
/// plain IS divides by N, SNIS by Σw). num/den are KPI column indices.
Estimate is_ratio(const Samples& s, const Weights& w, int num, int den, double scale, const IsOptions& opt);
/// IS estimate of the per-request mean of KPI column k (is_ratio with den = −1, scale 1).
Estimate is_mean(const Samples& s, const Weights& w, int k, const IsOptions& opt);

}  // namespace plexus::tune
