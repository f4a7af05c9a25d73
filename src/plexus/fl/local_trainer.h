// Local training on one client's row of the stacked state: SGD with momentum and weight decay, SAM and
// ASAM, gradient-norm clipping, restricted to column ranges (for alternating body/head training).
//
// Letters: P parameters, B batch size, K local steps. A LocalTrainer owns one model instance and one flat
// gradient row G [P]; `train` binds the model to a client's row x [P] (ParamLayout::bind) so every update
// is a flat vector operation on x in place.
//
// Update rules (per minibatch ξ, learning rate η, momentum β, weight decay λ; active columns only):
//   SGD:   g = ∇F(x; ξ) + λx;  m ← βm + g;  x ← x − η m                       (PyTorch SGD, dampening 0)
//   SAM:   g = ∇F(x; ξ);  e = ρ g / ||g||₂;  g̃ = ∇F(x + e; ξ);  then the SGD rule with g̃
//          (Foret et al. 2021, arXiv 2010.01412, Alg. 1; whole-model L2 norm over the perturbed columns)
//   ASAM:  e = ρ T² g / ||T g||₂ with T = |x| element-wise (Kwon et al. 2021, arXiv 2102.11600 eq. 8;
//          as in the DP-FedSAM reference code's sam.py, which uses T = |w| without an offset)
//   clip:  if grad_clip > 0, g ← g · min(1, grad_clip / ||g||₂) before weight decay and momentum.
//   correction (optional, StepPlan::correct): g ← g + h(x) after clipping, before weight decay and momentum
//          (FedProx's proximal gradient μ(x − x^t), SCAFFOLD's control-variate correction c − c_i).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "plexus/core/options.h"
#include "plexus/core/rng.h"
#include "plexus/data/dataset.h"
#include "plexus/nn/models.h"
#include "plexus/nn/param_layout.h"

namespace plexus::fl {

using nn::ColumnRange;

/// Options of the [train] table: how each client trains locally in one round.
struct LocalOptions {
  int64_t batch_size = 32;   ///< minibatch size B (>= 1)
  int64_t local_epochs = 1;  ///< passes over the client's data per round (used when local_steps = 0)
  int64_t local_steps = 0;   ///< if > 0: exactly K minibatch steps per round (overrides local_epochs)
  double lr = 0.1;           ///< learning rate η at round 0 (> 0)
  double lr_decay = 0.998;   ///< per-round multiplicative decay: η_t = η · lr_decay^t, in (0, 1]
  double momentum = 0.0;     ///< heavy-ball momentum β in [0, 1); buffers reset at the start of each round
  double weight_decay = 0.0; ///< L2 weight decay λ >= 0 (added to the gradient)
  double grad_clip = 0.0;    ///< gradient-norm clipping threshold (0 = off)
  double rho = 0.05;         ///< SAM/ASAM radius ρ >= 0 (SAM-based algorithms only)
  bool adaptive = false;     ///< true: ASAM (element-wise |w| scaling) instead of SAM
  double prox_mu = 0.01;     ///< FedProx's proximal weight μ >= 0: local objective F_i(y) + (μ/2)||y − x^t||²

  /// Read [train]. Throws: Error(Config) on a wrong type, an out-of-range value or an unknown key.
  static LocalOptions parse(ConfigTable& t);
  /// The declared keys of [train] (core/options.h).
  static const OptionSchema<LocalOptions>& schema();
  /// Learning rate of round t (0-based).
  double lr_at(int64_t round) const;
};

/// What one call to `train` does: which rule, which columns move, which columns SAM perturbs.
struct StepPlan {
  bool sam = false;                  ///< SAM/ASAM (else plain SGD)
  std::vector<ColumnRange> update;   ///< columns the optimizer updates (others are frozen)
  std::vector<ColumnRange> perturb;  ///< columns SAM perturbs (defaults to `update` when empty)
  int64_t steps = 0;                 ///< K minibatch steps
  double lr = 0.1;                   ///< η for this round
  /// Optional gradient correction: called as correct(g, x) with the minibatch gradient g [P] (after clipping)
  /// and the current row x [P]; adds its term to g in place. Empty: none.
  std::function<void(torch::Tensor& g, const torch::Tensor& x)> correct;
};

/// Number of local steps for a client with `n` samples under `o` (local_steps, or epochs · ceil(n/B)).
int64_t local_step_count(const LocalOptions& o, int64_t n);

/// Accuracy and loss of a model on a set of examples.
struct EvalStats {
  int64_t correct = 0;
  int64_t count = 0;
  double loss_sum = 0.0;  ///< sum of per-example cross-entropy (nats)
  double accuracy() const { return count ? static_cast<double>(correct) / count : 0.0; }
  double loss() const { return count ? loss_sum / count : 0.0; }
};

class LocalTrainer {
 public:
  /// `model` must have `layout`'s parameters; it is bound to client rows on demand (not shared).
  LocalTrainer(std::shared_ptr<nn::Model> model, const nn::ParamLayout& layout, torch::Device device);

  /// Train row `x` [P] in place for plan.steps minibatches of `idx` (indices into `data`); `m` [P] is the
  /// momentum buffer (zeroed by the caller at round start, undefined when momentum = 0). Minibatches are a
  /// fresh shuffle per epoch drawn from `rng`. Returns the mean training loss (nats) over the steps.
  /// Throws: Error(Infeasible) if the loss becomes non-finite (diverged: lower train.lr).
  double train(torch::Tensor x, torch::Tensor m, const data::Dataset& data, const std::vector<int64_t>& idx,
               const LocalOptions& o, const StepPlan& plan, Rng& rng);

  /// Evaluate row `x` [P] on `idx` of `data` in batches of `batch`.
  EvalStats evaluate(const torch::Tensor& x, const data::Dataset& data, const std::vector<int64_t>& idx,
                     int64_t batch = 1000);

  /// Per-example results of row `x` [P] on the contiguous examples [start, start + count) of `data`:
  /// (correct [count] int64 0/1, cross-entropy [count] float64), both on the CPU (fl/batched_eval.h).
  std::pair<torch::Tensor, torch::Tensor> evaluate_examples(const torch::Tensor& x, const data::Dataset& data,
                                                            int64_t start, int64_t count);

  /// Loss and gradient at `x` on one batch (for tests). Shapes: x [P] → returns loss, fills grad() [P].
  double loss_and_grad(const torch::Tensor& x, const torch::Tensor& inputs, const torch::Tensor& labels);
  const torch::Tensor& grad() const { return grad_; }

 private:
  double forward_backward(const torch::Tensor& inputs, const torch::Tensor& labels);
  std::shared_ptr<nn::Model> model_;
  nn::ParamLayout layout_;
  torch::Device device_;
  torch::Tensor grad_;  // G [P]
};

/// Squared L2 norm of `v` restricted to `ranges` (all of v when empty).
double range_norm_sq(const torch::Tensor& v, const std::vector<ColumnRange>& ranges);

}  // namespace plexus::fl
