// SPSA with gradient correction (SPSA-GC): the zeroth-order optimizer of BlackVIP (Oh et al., CVPR 2023,
// arXiv 2303.14773, §3.3, and its trainers/blackvip.py), used by Fed-BBPT (arXiv 2310.03123) for the
// visual prompt generator's parameters θ.
//
//   step k = 1, 2, ...          a_k = a / (k + o)^α        c_k = c / k^γ
//   Δ_j ∈ R^P, each coordinate ±U[0.5, 1] (random sign, independent magnitude: BlackVIP's "segmented uniform")
//   ĝ   = (1/q) Σ_{j=1..q} [L(θ + c_k Δ_j) − L(θ − c_k Δ_j)] / (2 c_k) · Δ_j^{-1}      (element-wise inverse)
//   m   ← β m + ĝ                                     (m = 0 before the first step)
//   θ   ← θ − a_k (ĝ + β m)                           (the "gradient correction": a Nesterov-style look-ahead)
//
// One estimate costs 2q loss evaluations = 2q calls to the black-box API (one call per loss, each on a batch).
// Letters: P parameters of θ, q perturbations per estimate, k the 1-based step count.
//
// Departures from BlackVIP's code: its reported loss is that of the last perturbation pair; spsa_gradient returns
// the mean over all 2q evaluations. Perturbations come from a plexus::Rng stream (not torch.rand), so a run is
// reproducible for a fixed (seed, purpose, client, round).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>

#include "plexus/core/rng.h"

namespace plexus::bbpt {

/// SPSA-GC hyperparameters. Defaults are BlackVIP's code defaults (the [bbpt] spsa_* keys mirror them).
struct SpsaOptions {
  double a = 0.01;            ///< a of the gain (step size) a_k = a / (k + o)^α; > 0
  double c = 0.01;            ///< c of the perturbation radius c_k = c / k^γ; > 0 (units of θ)
  double alpha = 0.4;         ///< α: decay exponent of a_k (Spall's asymptotic choice is 0.602)
  double gamma = 0.1;         ///< γ: decay exponent of c_k (Spall's asymptotic choice is 0.101)
  double o = 1.0;             ///< o: stability constant in a_k, keeps the first steps small (Spall's A)
  int64_t perturbations = 5;  ///< q perturbations averaged per gradient estimate = 2q loss evaluations = 2q API
                              ///< calls per step
  double momentum = 0.9;      ///< β of the gradient correction: m ← β m + ĝ, step along ĝ + β m; in [0, 1)
};

/// Gain (step size) at step k: a_k = a / (k + o)^α.
/// Units: per step; k is the 1-based step count. Throws: Error(Internal) if k < 1 (a caller bug).
/// Source: Spall 1998 (IEEE TAES 34(3)), gain sequences; BlackVIP trainers/blackvip.py `ak`.
double spsa_gain(const SpsaOptions& o, int64_t k);

/// Perturbation radius at step k: c_k = c / k^γ.
/// Units: units of θ; k is the 1-based step count. Throws: Error(Internal) if k < 1.
/// Source: Spall 1998; BlackVIP trainers/blackvip.py `ck`.
double spsa_radius(const SpsaOptions& o, int64_t k);

/// One perturbation direction Δ: each coordinate is s·u with sign s = ±1 (rng.below(2)) and magnitude
/// u = 0.5 + 0.5·rng.uniform() ∈ [0.5, 1), drawn coordinate by coordinate (sign, then magnitude) so the result
/// is a fixed function of the stream. E[Δ_i] = 0, E[1/Δ_i] = 0 and |1/Δ_i| ≤ 2, as SPSA requires.
/// Shapes: → [P] f32 on CPU. Throws: Error(Internal) if P < 0.
/// Source: BlackVIP trainers/blackvip.py spsa_grad_estimate_bi, "Segmented Uniform [-1, -0.5] ∪ [0.5, 1]".
torch::Tensor spsa_perturbation(int64_t P, Rng& rng);

/// Result of one SPSA gradient estimate.
struct SpsaEstimate {
  torch::Tensor grad;      ///< ĝ [P], θ's dtype and device
  double mean_loss = 0.0;  ///< mean of the 2q losses L(θ ± c_k Δ_j): a (slightly perturbed) loss at θ
  int64_t evaluations = 0; ///< loss evaluations spent = 2q (each one API call)
};

/// Two-sided SPSA estimate averaged over q perturbations:
/// ĝ = (1/q) Σ_j [L(θ + c_k Δ_j) − L(θ − c_k Δ_j)] / (2 c_k) · Δ_j^{-1}.
/// Δ_1..Δ_q are drawn in that order with spsa_perturbation(P, rng) (so a copy of the stream reproduces them);
/// each Δ_j is moved to θ's device and dtype. `loss` is called 2q times, in the order θ + c_kΔ_1, θ − c_kΔ_1,
/// θ + c_kΔ_2, ... with tensors on θ's device; it must not keep references to them.
/// For a quadratic L the difference quotient equals Δ_jᵀ∇L(θ) exactly, and E[ĝ] = ∇L(θ) (Δ symmetric).
/// Shapes: theta [P] (any floating dtype, any device) → grad [P]. Units: loss units per unit of θ.
/// Throws: Error(Config) if q < 1 or ck ≤ 0; Error(Data) if a loss is not finite (naming j and the side);
/// Error(Internal) if theta is not 1-D.
/// Source: BlackVIP §3.3 and trainers/blackvip.py spsa_grad_estimate_bi; Spall 1992 (IEEE TAC 37(3)).
SpsaEstimate spsa_gradient(const std::function<double(const torch::Tensor&)>& loss, const torch::Tensor& theta,
                           double ck, int64_t q, Rng& rng);

/// SPSA-GC update, in place: m ← β m + ĝ;  θ ← θ − a_k (ĝ + β m) (m already updated).
/// `m` may be a row (view) of the FL engine's momentum state; the caller zeroes it when a round starts.
/// Runs under NoGradGuard, so θ may be a leaf that requires grad.
/// Shapes: theta, m, grad [P], same device (grad is cast to θ's dtype). Units: a_k per step.
/// Throws: Error(Internal) if the shapes differ.
/// Source: BlackVIP §3.3 (gradient correction) and trainers/blackvip.py (m1 ← b1·m1 + ĝ; θ − a_k(ĝ + b1·m1)).
void spsa_gc_step(torch::Tensor& theta, torch::Tensor& m, const torch::Tensor& grad, double ak, double beta);

}  // namespace plexus::bbpt
