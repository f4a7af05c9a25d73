// Black-box discrete prompt learning (BDPL; Diao et al., TMLR 2023, arXiv 2201.08531; code:
// shizhediao/Black-Box-Prompt-Learning run_glue_discrete_LM.py), the text client of Fed-BBPT (arXiv 2310.03123).
//
// The prompt is L discrete tokens; position l picks one of V candidates (BDPL: PMI n-grams of the task corpus)
// from a categorical distribution p_l (row l of probs [L,V], kept on the simplex). One step:
//   sample I prompts s_1..s_I, s_k = (s_k1..s_kL), s_kl ~ Cat(p_l)          (I API calls, one loss each)
//   L̄  = (1/I) Σ_k L_k                                                     (baseline; variance reduction)
//   g   = (1/(I−1)) Σ_k (L_k − L̄) ∇_p log P(s_k)                            (policy gradient, REINFORCE)
//   log P(s) = Σ_l log(p_{l,s_l} / Σ_v p_{l,v})                           (torch.distributions.Categorical)
//   ∂ log P(s)/∂p_{l,v} = 1[v = s_l]/p_{l,v} − 1/Σ_v' p_{l,v'}
//   clip ||g||₂ to `clip`;  AdamW step on p;  p_l ← proj_simplex(p_l)
//
// Departure from BDPL's code: its hand-written derivative is +1/p_{l,v} at the sampled v and −1/p_{l,v} at the
// others (FedOne's "negative" option). Because Σ_k (L_k − L̄) = 0, the −1/Σp term above drops out of g, and
// BDPL's version equals exactly 2× the closed form here; after clipping and AdamW's scale invariance the two
// differ only where the clip or AdamW's ε bites. plexus uses the exact ∇ log P (what autograd would give).
// Letters: L prompt positions, V candidates per position, I sampled prompts per step.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "plexus/core/rng.h"

namespace plexus::bbpt {

/// BDPL hyperparameters. L, V, I and lr are the values of BDPL's run.sh (RoBERTa-large experiments:
/// --prompt_length 10 --prompt_search_space 200 --sample_size 20 --prompt_learning_rate 1e-4; its argparse
/// defaults are 6, 20, 20, 5e-5); clip 3 is hard-coded in its training loop (clip_grad_norm_(prompts_probs, 3)).
/// weight_decay 0.01 is torch's AdamW default, NOT BDPL's (run.sh and argparse both use 0.1).
struct BdplOptions {
  int64_t prompt_length = 10;  ///< L: discrete prompt tokens; >= 1
  int64_t candidates = 200;    ///< V: candidate tokens per position (the search space); >= 1
  int64_t samples = 20;        ///< I: prompts sampled per step = I API calls per step; >= 2 (baseline needs I−1)
  double lr = 1e-4;            ///< AdamW learning rate on the probabilities; > 0
  double clip = 3.0;           ///< max L2 norm of the policy gradient before the AdamW step; > 0
  double weight_decay = 0.01;  ///< AdamW decoupled weight decay; >= 0
};

/// The uniform start p_{l,v} = 1/V (BDPL's initialisation). Shapes: → [L,V] f32 on CPU.
/// Throws: Error(Config) if L < 1 or V < 1. Source: BDPL run_glue_discrete_LM.py (prompts_probs init).
torch::Tensor uniform_prompt_probs(int64_t L, int64_t V);

/// Draws I prompts: prompt i, position l, is the candidate s_il ~ Cat(p_l / Σ_v p_{l,v}), by the inverse CDF
/// of one rng.uniform() (sample-major order: prompt 1's L positions, then prompt 2's, ...). A candidate with
/// probability 0 is never drawn.
/// Shapes: probs [L,V] (any floating dtype and device) → I vectors of L indices in [0, V).
/// Throws: Error(Config) if I < 1; Error(Data) if probs is not [L,V], or a row has a negative or non-finite
/// entry or sums to 0. Source: BDPL (torch.distributions.Categorical(prompts_probs).sample(), once per k).
std::vector<std::vector<int64_t>> sample_prompts(const torch::Tensor& probs, int64_t I, Rng& rng);

/// Variance-reduced policy gradient g = (1/(I−1)) Σ_k (L_k − L̄) ∇_p log P(s_k), in closed form:
/// g_{l,v} = (1/(I−1)) [Σ_k (L_k − L̄) 1[s_kl = v] / p_{l,v}  −  Σ_k (L_k − L̄) / Σ_v' p_{l,v'}]
/// (the second term is 0 up to rounding). Identical losses give g = 0. Computed in f64.
/// Shapes: probs [L,V], prompts I × L, losses I → g [L,V] in probs' dtype and device.
/// Units: loss units per unit of probability.
/// Throws: Error(Config) if I < 2; Error(Data) if losses and prompts differ in count, a prompt's length is not
/// L, an index is outside [0, V), a loss is not finite, or a sampled candidate has probability 0.
/// Source: BDPL (arXiv 2201.08531), variance-reduced policy gradient estimator; run_glue_discrete_LM.py.
torch::Tensor bdpl_gradient(const torch::Tensor& probs, const std::vector<std::vector<int64_t>>& prompts,
                            const std::vector<double>& losses);

/// The BDPL client state: probabilities p [L,V] (an AdamW parameter) and the AdamW moments.
///
/// In Fed-BBPT the FL engine stores p flattened as one row [L·V] of its state X [N, L·V] and averages rows on
/// the server (an average of simplex points stays on the simplex). A client loads the global row with
/// set_probs() and calls step() per local batch.
///
/// AdamW state across rounds: FedOne's federated BDPL (GanyuWang/FedOne-BDPL, PromptTuningClient/BDPL.py)
/// creates each client's AdamW once and keeps it for the whole run; each round only overwrites the
/// probabilities with the global average (`prompts_probs.data = average_theta`). So it does NOT use a fresh
/// optimizer per round. Both are possible here: set_probs() keeps the moments (FedOne), reset_state() drops them
/// (a fresh AdamW, as if the client started on the received point; needed when one optimizer object serves
/// several clients in turn). Which one the FL loop uses is the caller's choice.
class BdplOptimizer {
 public:
  /// Starts from the uniform distribution (uniform_prompt_probs) on `device`.
  /// Throws: Error(Config) if prompt_length < 1, candidates < 1, lr ≤ 0, clip ≤ 0 or weight_decay < 0.
  explicit BdplOptimizer(const BdplOptions& o, torch::Device device = torch::kCPU);

  /// One BDPL update: g ← g · min(1, clip/(||g||₂ + 1e-6)) (torch's clip_grad_norm_); AdamW step
  /// (β = (0.9, 0.999), ε = 1e-8, decoupled weight decay); p ← project_simplex(p).
  /// Shapes: grad [L,V] (cast to p's dtype and device). Units: one call = one local step.
  /// Throws: Error(Data) if grad is not [L,V] or not finite.
  /// Source: BDPL run_glue_discrete_LM.py training loop (clip_grad_norm_ 3, AdamW, constrainScoreByWholeExact).
  void step(const torch::Tensor& grad);

  /// The probabilities p [L,V] f32 (a detached alias of the parameter: later steps show through; clone to keep).
  torch::Tensor probs() const { return probs_.detach(); }
  /// p flattened to one row [L·V] (row-major: position l's V entries are columns l·V..l·V+V−1). An alias.
  torch::Tensor flat() const { return probs_.detach().view({-1}); }
  /// Overwrites p with `row` ([L·V] flat, or [L,V]; cast to f32 and p's device), keeping the AdamW moments.
  /// The row is used as given (the server average of simplex rows is on the simplex already).
  /// Throws: Error(Data) if row has not L·V elements or is not finite.
  void set_probs(const torch::Tensor& row);
  /// Drops the AdamW moments and step count (a fresh AdamW on the current p).
  void reset_state();

  /// The ||g||₂ of the last step's gradient before clipping (0 before the first step).
  double last_grad_norm() const { return last_grad_norm_; }
  const BdplOptions& options() const { return options_; }

 private:
  BdplOptions options_;
  torch::Tensor probs_;  // [L,V] f32 leaf, requires_grad (AdamW reads .grad())
  std::unique_ptr<torch::optim::AdamW> adamw_;
  double last_grad_norm_ = 0.0;
};

}  // namespace plexus::bbpt
