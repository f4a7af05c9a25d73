// SPSA-GC (BlackVIP §3.3). See spsa.h for the equations.
#include "plexus/bbpt/spsa.h"

#include <fmt/ranges.h>

#include <cmath>

#include "plexus/core/error.h"

namespace plexus::bbpt {

double spsa_gain(const SpsaOptions& o, int64_t k) {
  PLEXUS_CHECK(k >= 1, "SPSA step k = {} must be >= 1 (1-based)", k);
  return o.a / std::pow(static_cast<double>(k) + o.o, o.alpha);
}

double spsa_radius(const SpsaOptions& o, int64_t k) {
  PLEXUS_CHECK(k >= 1, "SPSA step k = {} must be >= 1 (1-based)", k);
  return o.c / std::pow(static_cast<double>(k), o.gamma);
}

torch::Tensor spsa_perturbation(int64_t P, Rng& rng) {
  PLEXUS_CHECK(P >= 0, "perturbation size P = {} must be >= 0", P);
  torch::Tensor delta = torch::empty({P}, torch::kFloat32);
  float* d = delta.data_ptr<float>();
  for (int64_t i = 0; i < P; ++i) {
    const double sign = rng.below(2) == 0 ? -1.0 : 1.0;  // fair coin
    const double mag = 0.5 + 0.5 * rng.uniform();       // U[0.5, 1)
    d[i] = static_cast<float>(sign * mag);
  }
  return delta;
}

SpsaEstimate spsa_gradient(const std::function<double(const torch::Tensor&)>& loss, const torch::Tensor& theta,
                           double ck, int64_t q, Rng& rng) {
  if (q < 1) throw Error::config("[bbpt] spsa_perturbations = {} must be >= 1 (set bbpt.spsa_perturbations)", q);
  if (!(ck > 0) || !std::isfinite(ck))
    throw Error::config("SPSA perturbation radius c_k = {} must be > 0 (set bbpt.spsa_c > 0)", ck);
  PLEXUS_CHECK(theta.dim() == 1, "theta must be 1-D [P], got {} dims", theta.dim());
  torch::NoGradGuard no_grad;
  const int64_t P = theta.size(0);
  const torch::Tensor th = theta.detach();
  torch::Tensor grad = torch::zeros_like(th);  // [P]
  double loss_sum = 0.0;
  for (int64_t j = 0; j < q; ++j) {
    const torch::Tensor delta = spsa_perturbation(P, rng).to(th.options());  // Δ_j [P]
    const double lp = loss(th + ck * delta);                                // L(θ + c_k Δ_j)
    if (!std::isfinite(lp)) throw Error::data("SPSA loss at θ + c_kΔ_{} is {} (not finite)", j + 1, lp);
    const double lm = loss(th - ck * delta);                                // L(θ − c_k Δ_j)
    if (!std::isfinite(lm)) throw Error::data("SPSA loss at θ − c_kΔ_{} is {} (not finite)", j + 1, lm);
    loss_sum += lp + lm;
    // [L+ − L−]/(2c_k) · Δ_j^{-1}, accumulated; the 1/q average is applied once at the end.
    grad.add_(delta.reciprocal() * ((lp - lm) / (2.0 * ck)));
  }
  grad.div_(static_cast<double>(q));
  return {grad, loss_sum / static_cast<double>(2 * q), 2 * q};
}

void spsa_gc_step(torch::Tensor& theta, torch::Tensor& m, const torch::Tensor& grad, double ak, double beta) {
  PLEXUS_CHECK(theta.sizes() == m.sizes() && theta.sizes() == grad.sizes(),
               "spsa_gc_step: theta [{}], m [{}], grad [{}] must have the same shape",
               fmt::join(theta.sizes(), ","), fmt::join(m.sizes(), ","), fmt::join(grad.sizes(), ","));
  torch::NoGradGuard no_grad;
  const torch::Tensor g = grad.to(theta.options());
  m.mul_(beta).add_(g.to(m.options()));                  // m ← β m + ĝ
  theta.sub_((g + beta * m.to(theta.options())) * ak);   // θ ← θ − a_k (ĝ + β m)
}

}  // namespace plexus::bbpt
