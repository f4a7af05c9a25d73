// Multivariate Gaussian and Gaussian-mixture densities in small dimension (d ≤ ~10): proposals q and
// target kernels p of importance sampling, with sampling through plexus::Rng.
#pragma once

#include <cstdint>
#include <vector>

#include "plexus/core/rng.h"

namespace plexus::tune {

/// N(mean, cov) with a dense covariance (row-major d×d), factorized once by Cholesky.
class Gaussian {
 public:
  Gaussian() = default;
  /// Throws: Error(Config) if cov is not d×d, not symmetric, or not positive definite ("singular Σ").
  Gaussian(std::vector<double> mean, std::vector<double> cov);
  /// Diagonal covariance from per-dimension standard deviations (all must be > 0).
  static Gaussian diagonal(std::vector<double> mean, const std::vector<double>& sd);

  int dim() const { return static_cast<int>(mean_.size()); }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& cov() const { return cov_; }
  /// log N(x; mean, cov). Shapes: x has dim() entries.
  double log_pdf(const double* x) const;
  /// Squared Mahalanobis distance (x − μ)ᵀ Σ⁻¹ (x − μ).
  double mahalanobis2(const double* x) const;
  /// x = μ + L z with z ~ N(0, I) drawn from rng.
  void sample(Rng& rng, double* x) const;
  /// μ + L z for a given z (used to place candidates inside a trust region).
  void transform(const double* z, double* x) const;

 private:
  std::vector<double> mean_, cov_, chol_;  // chol_: lower-triangular L with LLᵀ = cov
  double log_norm_ = 0;                    // −½ (d log 2π + log det Σ)
};

/// Σ_k π_k N(μ_k, Σ_k): the full-mixture density (Owen & Zhou's deterministic-mixture denominator).
class Mixture {
 public:
  Mixture() = default;
  /// Throws: Error(Config) if weights are negative, do not sum to a positive number, or sizes differ.
  Mixture(std::vector<double> weights, std::vector<Gaussian> comps);
  explicit Mixture(Gaussian g) : Mixture({1.0}, {std::move(g)}) {}
  int dim() const { return comps_.empty() ? 0 : comps_[0].dim(); }
  int size() const { return static_cast<int>(comps_.size()); }
  const std::vector<double>& weights() const { return w_; }
  const std::vector<Gaussian>& components() const { return comps_; }
  /// log Σ_k π_k N(x; μ_k, Σ_k) by log-sum-exp.
  double log_pdf(const double* x) const;
  /// Draw a component by π, then x from it; returns the component index.
  int sample(Rng& rng, double* x) const;

 private:
  std::vector<double> w_;
  std::vector<Gaussian> comps_;
};

}  // namespace plexus::tune
