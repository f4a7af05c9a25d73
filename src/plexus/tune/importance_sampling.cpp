#include "plexus/tune/importance_sampling.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::tune {

int Samples::kpi_index(const std::string& name) const {
  for (int k = 0; k < kpis(); ++k)
    if (kpi_names[k] == name) return k;
  throw Error::data("exploration samples have no KPI '{}'", name);
}

void Samples::append(const Samples& o) {
  if (size() == 0 && dim == 0) {
    *this = o;
    return;
  }
  PLEXUS_CHECK(o.dim == dim && o.kpi_names == kpi_names, "appending incompatible samples");
  theta.insert(theta.end(), o.theta.begin(), o.theta.end());
  log_q.insert(log_q.end(), o.log_q.begin(), o.log_q.end());
  kpi.insert(kpi.end(), o.kpi.begin(), o.kpi.end());
}

Samples Samples::slice(int64_t b, int64_t e) const {
  PLEXUS_CHECK(0 <= b && b <= e && e <= size(), "slice [{}, {}) of {} rows", b, e, size());
  Samples o;
  o.dim = dim;
  o.kpi_names = kpi_names;
  o.theta.assign(theta.begin() + b * dim, theta.begin() + e * dim);
  o.log_q.assign(log_q.begin() + b, log_q.begin() + e);
  o.kpi.assign(kpi.begin() + b * kpis(), kpi.begin() + e * kpis());
  return o;
}

namespace {
void summarize(Weights& w) {
  w.sum = w.sum_sq = 0;
  for (double v : w.w) {
    w.sum += v;
    w.sum_sq += v * v;
  }
  w.ess = w.sum_sq > 0 ? w.sum * w.sum / w.sum_sq : 0.0;
}

// The ratio estimate on a given multiset of rows (indices), used both directly and per bootstrap resample.
template <class Rows> double ratio_value(const Samples& s, const Weights& w, int num, int den, IsMode mode, const Rows& rows, int64_t n) {
  double a = 0, b = 0;
  for (int64_t t = 0; t < n; ++t) {
    int64_t i = rows(t);
    a += w.w[i] * s.kpi_at(i, num);
    b += den >= 0 ? w.w[i] * s.kpi_at(i, den) : (mode == IsMode::Plain ? 1.0 : w.w[i]);
  }
  return b > 0 ? a / b : 0.0;
}
}  // namespace

Weights importance_weights(const Samples& s, const std::function<double(const double*)>& log_p, double clip) {
  Weights w;
  w.w.resize(s.size());
  for (int64_t i = 0; i < s.size(); ++i) {
    double v = std::exp(log_p(s.theta_row(i)) - s.log_q[i]);
    if (!std::isfinite(v)) v = clip > 0 ? clip : 0.0;  // overflow only when p ≫ q: treat as capped
    if (clip > 0 && v > clip) {
      v = clip;
      ++w.clipped;
    }
    w.w[i] = v;
  }
  summarize(w);
  return w;
}

Weights importance_weights(const Samples& s, const Gaussian& target, double clip) {
  PLEXUS_CHECK(target.dim() == s.dim, "target dim {} vs samples dim {}", target.dim(), s.dim);
  return importance_weights(s, [&](const double* x) { return target.log_pdf(x); }, clip);
}

Weights unit_weights(const Samples& s) {
  Weights w;
  w.w.assign(s.size(), 1.0);
  summarize(w);
  return w;
}

double kish_ess(const std::vector<double>& w) {
  double a = 0, b = 0;
  for (double v : w) {
    a += v;
    b += v * v;
  }
  return b > 0 ? a * a / b : 0.0;
}

Estimate is_ratio(const Samples& s, const Weights& w, int num, int den, double scale, const IsOptions& opt) {
  Estimate e;
  const int64_t n = s.size();
  if (n == 0) return e;
  auto all = [](int64_t t) { return t; };
  const double r = ratio_value(s, w, num, den, opt.mode, all, n);
  e.value = scale * r;
  if (opt.ci == CiMethod::Delta) {
    // Linearization: R̂ − R ≈ Σ w_i (a_i − R b_i) / Σ w_i b_i, so Var ≈ Σ w_i² (a_i − R b_i)² / (Σ w_i b_i)².
    // Plain IS with b ≡ 1 is a mean of the n terms w_i a_i: the usual sample variance / n.
    if (den < 0 && opt.mode == IsMode::Plain) {
      double m = 0, v = 0;
      for (int64_t i = 0; i < n; ++i) m += w.w[i] * s.kpi_at(i, num);
      m /= n;
      for (int64_t i = 0; i < n; ++i) {
        double d = w.w[i] * s.kpi_at(i, num) - m;
        v += d * d;
      }
      e.se = n > 1 ? std::sqrt(v / (n - 1) / n) : INFINITY;
    } else {
      double b = 0, v = 0;
      for (int64_t i = 0; i < n; ++i) {
        double bi = den >= 0 ? s.kpi_at(i, den) : 1.0;
        b += w.w[i] * bi;
        double d = w.w[i] * (s.kpi_at(i, num) - r * bi);
        v += d * d;
      }
      e.se = b > 0 ? std::sqrt(v) / b : INFINITY;
    }
    e.se *= std::abs(scale);
    e.lo = e.value - opt.z * e.se;
    e.hi = e.value + opt.z * e.se;
  } else {
    // Percentile bootstrap over requests (resample rows with replacement).
    std::vector<double> reps(std::max(2, opt.bootstrap));
    std::vector<int64_t> idx(n);
    for (std::size_t b = 0; b < reps.size(); ++b) {
      Rng rng(opt.seed, "is/bootstrap", b);
      for (int64_t t = 0; t < n; ++t) idx[t] = static_cast<int64_t>(rng.below(n));
      reps[b] = scale * ratio_value(s, w, num, den, opt.mode, [&](int64_t t) { return idx[t]; }, n);
    }
    double m = 0, v = 0;
    for (double x : reps) m += x;
    m /= reps.size();
    for (double x : reps) v += (x - m) * (x - m);
    e.se = std::sqrt(v / (reps.size() - 1));
    std::sort(reps.begin(), reps.end());
    double a = std::erfc(opt.z / std::sqrt(2.0)) / 2;  // one-tail mass of the interval
    auto q = [&](double p) { return reps[std::clamp<std::size_t>(static_cast<std::size_t>(p * (reps.size() - 1) + 0.5), 0, reps.size() - 1)]; };
    e.lo = q(a);
    e.hi = q(1 - a);
  }
  return e;
}

Estimate is_mean(const Samples& s, const Weights& w, int k, const IsOptions& opt) { return is_ratio(s, w, k, -1, 1.0, opt); }

}  // namespace plexus::tune
