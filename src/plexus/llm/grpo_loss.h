// GRPO's math without the loop: group-relative advantages, the k3 KL estimator, the clipped per-token
// objective and the loss aggregations of the common trainers (docs/grpo.md).
//
// Advantages (DeepSeekMath §4.1.2, outcome supervision; R1 eq.3), per group g of completions of one prompt:
//   A_i = (r_i − mean_g r) / (std_g r + eps)        scale_rewards = "group" (TRL default, R1)
//   A_i = (r_i − mean_g r) / (std_batch r + eps)    scale_rewards = "batch" (TRL option)
//   A_i =  r_i − mean_g r                           scale_rewards = "none"  (Dr.GRPO, arXiv 2503.20783)
//   std convention: "sample" = Bessel-corrected (torch.std: TRL, verl), "population" = divide by n.
//   A group whose rewards are all equal gets exactly 0 (not (r − mean) in floating point); a group of size 1
//   gets 0 (verl would return r/1; a lone sample carries no relative signal).
//
// Per-token loss (DeepSeekMath eq.3-4, DAPO eq.8 for the asymmetric clip), ℓ = log-prob of the sampled token:
//   ρ_t = exp(ℓ_θ − ℓ_old),   L_t = −min(ρ_t A, clip(ρ_t, 1 − ε_low, 1 + ε_high) A) + β·k3_t
//   k3_t = exp(ℓ_ref − ℓ_θ) − (ℓ_ref − ℓ_θ) − 1 ≥ 0         (Schulman's k3; R1 eq.2)
// Aggregation over the completion mask m (B completions in the minibatch, L_max = max_completion_length):
//   grpo    : (1/B) Σ_i (Σ_t L_it m_it) / (Σ_t m_it)           DeepSeekMath eq.3, TRL loss_type="grpo"
//   bnpo    : Σ_it L_it m_it / Σ_it m_it                        TRL "bnpo" (token mean of the minibatch)
//   dr_grpo : Σ_it L_it m_it / (B · L_max)                      Dr.GRPO, TRL "dr_grpo"
//   dapo    : Σ_it L_it m_it / N_gen                            DAPO eq.8, TRL "dapo": N_gen = active tokens of the
//             whole generation batch (all minibatches of the step; one process), so the minibatch gradients
//             of one step add up to the token mean over that batch.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace plexus::llm {

struct AdvantageOptions {
  std::string scale_rewards = "group";     ///< "group" | "batch" | "none"
  std::string std_convention = "sample";   ///< "sample" (Bessel, TRL/verl) | "population"
  double epsilon = 1e-4;                   ///< added to the std (TRL 1e-4, verl 1e-6)
};

/// Group-relative advantages. Groups are formed by `group_ids` (any order, rows may interleave), never by
/// row position. Shapes: rewards [N], group_ids [N] → [N]. Units: reward units / std (dimensionless).
/// Source: TRL grpo_trainer.py (_generate_and_score_completions); verl core_algos.compute_grpo_outcome_advantage.
std::vector<double> group_advantages(const std::vector<double>& rewards, const std::vector<int64_t>& group_ids,
                                     const AdvantageOptions& o);

/// Schulman's k3 estimator of KL(π_θ‖π_ref) per token: exp(x) − x − 1 with x = ℓ_ref − ℓ_θ.
/// Shapes: [*] → [*] (≥ 0, 0 where equal).
torch::Tensor k3_kl(const torch::Tensor& logp, const torch::Tensor& ref_logp);

struct PolicyLossOptions {
  double epsilon_low = 0.2;        ///< TRL `epsilon`
  double epsilon_high = 0.2;       ///< TRL `epsilon_high` (DAPO 0.28)
  double beta = 0.0;               ///< KL weight (0 = no reference model)
  std::string loss_type = "dapo";  ///< "grpo" | "bnpo" | "dr_grpo" | "dapo"
  int64_t max_completion_length = 256;  ///< L_max of dr_grpo
};

struct PolicyLoss {
  torch::Tensor loss;        ///< scalar, carries the gradient
  double kl = 0;             ///< mean k3 over active tokens (0 when beta = 0)
  double clip_low = 0;       ///< share of active tokens with A < 0 and ρ < 1 − ε_low (clipped)
  double clip_high = 0;      ///< share with A > 0 and ρ > 1 + ε_high
};

/// The clipped GRPO loss of one minibatch. `ref_logp` may be undefined when beta = 0. `n_gen_tokens` is the
/// dapo normaliser (active tokens of the generation batch). Shapes: logp, old_logp, ref_logp, mask [B,T]
/// (mask f32 0/1), advantages [B] → scalar. Throws: Error(Config) for an unknown loss_type.
PolicyLoss policy_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                       const torch::Tensor& advantages, const torch::Tensor& mask, const PolicyLossOptions& o,
                       double n_gen_tokens);

/// Per-token log-probabilities of `targets` under `logits`. Shapes: logits [B,T,V], targets [B,T] → [B,T] f32.
torch::Tensor token_logprobs(const torch::Tensor& logits, const torch::Tensor& targets);

/// Loss types and reward scalings accepted by the parsers.
std::vector<std::string> loss_types();

}  // namespace plexus::llm
