#include "plexus/tune/paired_estimate.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"

namespace plexus::tune {

PairedEstimate paired_ratio(const Samples& s, const std::vector<double>& w_c, const std::vector<double>& w_0,
                            const std::vector<int64_t>& rows, const KpiRatio& kpi, IsMode mode, double z) {
  PLEXUS_CHECK(static_cast<int64_t>(w_c.size()) == s.size() && static_cast<int64_t>(w_0.size()) == s.size(),
               "paired_ratio: {} / {} weights for {} rows", w_c.size(), w_0.size(), s.size());
  const int64_t n = rows.empty() ? s.size() : static_cast<int64_t>(rows.size());
  auto row = [&](int64_t t) { return rows.empty() ? t : rows[t]; };
  // The weighted denominator term of row i: w b (ratio KPI), w (SNIS mean) or 1 (plain mean).
  auto wb = [&](double w, int64_t i) { return kpi.den >= 0 ? w * s.kpi_at(i, kpi.den) : (mode == IsMode::Plain ? 1.0 : w); };
  double ac = 0, bc = 0, a0 = 0, b0 = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t i = row(t);
    const double a = s.kpi_at(i, kpi.num);
    ac += w_c[i] * a;
    bc += wb(w_c[i], i);
    a0 += w_0[i] * a;
    b0 += wb(w_0[i], i);
  }
  PairedEstimate e;
  if (!(bc > 0 && b0 > 0)) {
    e.candidate.se = e.baseline.se = e.gain.se = e.ratio_se_log = INFINITY;
    return e;
  }
  e.valid = true;
  const double rc = ac / bc, r0 = a0 / b0;
  double vc = 0, v0 = 0, vd = 0, vl = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t i = row(t);
    const double a = s.kpi_at(i, kpi.num);
    const double ec = (w_c[i] * a - rc * wb(w_c[i], i)) / bc, e0 = (w_0[i] * a - r0 * wb(w_0[i], i)) / b0;
    vc += ec * ec;
    v0 += e0 * e0;
    vd += (ec - e0) * (ec - e0);
    if (rc != 0 && r0 != 0) vl += (ec / rc - e0 / r0) * (ec / rc - e0 / r0);
  }
  auto fill = [&](Estimate& x, double value, double var) {
    x.value = kpi.scale * value;
    x.se = std::abs(kpi.scale) * std::sqrt(var);
    x.lo = x.value - z * x.se;
    x.hi = x.value + z * x.se;
  };
  fill(e.candidate, rc, vc);
  fill(e.baseline, r0, v0);
  fill(e.gain, rc - r0, vd);
  if (rc > 0 && r0 > 0) {
    e.ratio = rc / r0;
    e.ratio_se_log = std::sqrt(vl);
    e.ratio_lo = e.ratio * std::exp(-z * e.ratio_se_log);
    e.ratio_hi = e.ratio * std::exp(z * e.ratio_se_log);
  } else {
    // A KPI of zero or mixed sign has no log ratio; report the plain ratio without an interval.
    e.ratio = r0 != 0 ? rc / r0 : INFINITY;
    e.ratio_lo = -INFINITY;
    e.ratio_hi = INFINITY;
    e.ratio_se_log = INFINITY;
  }
  return e;
}

Samples pool_deterministic_mixture(const std::vector<const Samples*>& parts, const std::vector<const Mixture*>& qs) {
  PLEXUS_CHECK(parts.size() == qs.size(), "{} parts vs {} proposals", parts.size(), qs.size());
  Samples out;
  int64_t total = 0;
  for (const auto* s : parts) total += s->size();
  for (std::size_t t = 0; t < parts.size(); ++t) {
    if (parts[t]->size() == 0) continue;
    out.append(*parts[t]);
  }
  if (total == 0) return out;
  // log ψ(x) = log Σ_t (n_t/n) q_t(x), by log-sum-exp over iterations.
  std::vector<double> l(parts.size());
  for (int64_t i = 0; i < out.size(); ++i) {
    const double* x = out.theta_row(i);
    double mx = -INFINITY;
    for (std::size_t t = 0; t < parts.size(); ++t) {
      l[t] = parts[t]->size() > 0 ? std::log(static_cast<double>(parts[t]->size()) / total) + qs[t]->log_pdf(x) : -INFINITY;
      mx = std::max(mx, l[t]);
    }
    double sum = 0;
    for (double v : l) sum += std::exp(v - mx);
    out.log_q[i] = mx + std::log(sum);
  }
  return out;
}

}  // namespace plexus::tune
