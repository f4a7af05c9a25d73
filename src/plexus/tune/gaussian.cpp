#include "plexus/tune/gaussian.h"

#include <cmath>
#include <numbers>

#include "plexus/core/error.h"

namespace plexus::tune {

Gaussian::Gaussian(std::vector<double> mean, std::vector<double> cov) : mean_(std::move(mean)), cov_(std::move(cov)) {
  const int d = dim();
  if (d < 1) throw Error::config("a Gaussian needs dimension >= 1");
  if (cov_.size() != static_cast<std::size_t>(d) * d)
    throw Error::config("covariance has {} entries, expected {}x{}", cov_.size(), d, d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < i; ++j)
      if (std::abs(cov_[i * d + j] - cov_[j * d + i]) > 1e-9 * (1 + std::abs(cov_[i * d + j])))
        throw Error::config("covariance Σ is not symmetric at ({}, {})", i, j);
  for (double v : mean_)
    if (!std::isfinite(v)) throw Error::config("Gaussian mean has a non-finite entry");
  // Cholesky–Banachiewicz; a non-positive pivot means Σ is singular or indefinite.
  chol_.assign(static_cast<std::size_t>(d) * d, 0.0);
  double logdet = 0;
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = cov_[i * d + j];
      for (int k = 0; k < j; ++k) s -= chol_[i * d + k] * chol_[j * d + k];
      if (i == j) {
        double scale = std::max(1.0, std::abs(cov_[i * d + i]));
        if (!(s > 1e-14 * scale) || !std::isfinite(s))
          throw Error::config("covariance Σ is singular or not positive definite (pivot {} = {:.3g}); give every "
                              "tuned dimension a positive variance and avoid perfectly correlated dimensions", i, s);
        chol_[i * d + i] = std::sqrt(s);
        logdet += 2 * std::log(chol_[i * d + i]);
      } else {
        chol_[i * d + j] = s / chol_[j * d + j];
      }
    }
  }
  log_norm_ = -0.5 * (d * std::log(2 * std::numbers::pi) + logdet);
}

Gaussian Gaussian::diagonal(std::vector<double> mean, const std::vector<double>& sd) {
  const std::size_t d = mean.size();
  if (sd.size() != d) throw Error::config("{} standard deviations given for {} dimensions", sd.size(), d);
  std::vector<double> cov(d * d, 0.0);
  for (std::size_t i = 0; i < d; ++i) {
    if (!(sd[i] > 0)) throw Error::config("standard deviation {} of dimension {} must be > 0 (singular Σ)", sd[i], i);
    cov[i * d + i] = sd[i] * sd[i];
  }
  return Gaussian(std::move(mean), std::move(cov));
}

double Gaussian::mahalanobis2(const double* x) const {
  const int d = dim();
  double y[64];
  PLEXUS_CHECK(d <= 64, "dimension {} > 64", d);
  double q = 0;
  for (int i = 0; i < d; ++i) {  // forward substitution L y = x − μ
    double s = x[i] - mean_[i];
    for (int k = 0; k < i; ++k) s -= chol_[i * d + k] * y[k];
    y[i] = s / chol_[i * d + i];
    q += y[i] * y[i];
  }
  return q;
}

double Gaussian::log_pdf(const double* x) const { return log_norm_ - 0.5 * mahalanobis2(x); }

void Gaussian::transform(const double* z, double* x) const {
  const int d = dim();
  for (int i = 0; i < d; ++i) {
    double s = mean_[i];
    for (int k = 0; k <= i; ++k) s += chol_[i * d + k] * z[k];
    x[i] = s;
  }
}

void Gaussian::sample(Rng& rng, double* x) const {
  double z[64];
  for (int i = 0; i < dim(); ++i) z[i] = rng.normal();
  transform(z, x);
}

Mixture::Mixture(std::vector<double> weights, std::vector<Gaussian> comps) : w_(std::move(weights)), comps_(std::move(comps)) {
  if (w_.size() != comps_.size() || comps_.empty()) throw Error::config("a mixture needs one weight per component");
  double s = 0;
  for (double w : w_) {
    if (!(w >= 0)) throw Error::config("mixture weight {} is negative", w);
    s += w;
  }
  if (!(s > 0)) throw Error::config("mixture weights sum to {}", s);
  for (double& w : w_) w /= s;
  for (const auto& c : comps_)
    if (c.dim() != comps_[0].dim()) throw Error::config("mixture components have different dimensions");
}

double Mixture::log_pdf(const double* x) const {
  double l[64];
  double mx = -INFINITY;
  const int K = size();
  PLEXUS_CHECK(K <= 64, "{} components", K);
  for (int k = 0; k < K; ++k) {
    l[k] = w_[k] > 0 ? std::log(w_[k]) + comps_[k].log_pdf(x) : -INFINITY;
    mx = std::max(mx, l[k]);
  }
  double s = 0;
  for (int k = 0; k < K; ++k) s += std::exp(l[k] - mx);
  return mx + std::log(s);
}

int Mixture::sample(Rng& rng, double* x) const {
  double u = rng.uniform(), acc = 0;
  int k = 0;
  for (; k < size() - 1; ++k) {
    acc += w_[k];
    if (u < acc) break;
  }
  comps_[k].sample(rng, x);
  return k;
}

}  // namespace plexus::tune
