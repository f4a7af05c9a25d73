// Pieces shared by the R1 pipeline commands (grpo, sft, distill): the [run] section, policy checks, weight
// copies, and the GRPO minibatch update.
#pragma once

#include <torch/torch.h>
#include <toml++/toml.h>

#include <map>
#include <string>
#include <vector>

#include "plexus/llm/grpo.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/policy.h"

namespace plexus::llm {

/// Parse [run] (name, root, seed, device, threads) into `run` and record it in `resolved`.
void parse_run_section(const toml::table& root, RunOptions& run, toml::table& resolved);

/// The policy can run this task: its tokenizer has a single `</answer>` piece, and the longest test prompt
/// plus `max_new` fits the context. Throws: Error(Config) naming `length_key`.
void check_policy_for_task(const Policy& p, const Task& task, const std::vector<Problem>& probe, int64_t max_new,
                           const std::string& length_key);

/// dst ← src, parameters and buffers (same architecture).
void clone_weights(Transformer& src, Transformer& dst);

/// Keys starting with `from` renamed to start with `to`; other keys dropped.
std::map<std::string, torch::Tensor> prefixed(const std::map<std::string, torch::Tensor>& s, const std::string& from,
                                              const std::string& to);

/// One generation batch ready for the update (rows already filtered). Shapes: inputs/targets/mask [N,S−1],
/// advantages [N].
struct UpdateBatch {
  torch::Tensor inputs, targets, mask, advantages;
};

struct UpdateStats {
  double loss = 0, kl = 0, clip_low = 0, clip_high = 0, entropy = 0, grad_norm = 0, tokens = 0;
};

/// μ = num_iterations passes over steps_per_generation minibatches (row order shuffled per pass by the
/// stream (seed, "grpo.minibatch", pass, step)), one AdamW update each. ℓ_old is computed once before the
/// first update when there is more than one update per batch (else ℓ_old = ℓ_θ detached, so ρ = 1 with the
/// policy gradient ∇ log π · A); ℓ_ref from `ref` when β > 0. Stats are averages over the updates.
UpdateStats grpo_update(Transformer& policy, Transformer& ref, AdamW& opt, const UpdateBatch& b,
                        const PolicyLossOptions& lo, const GrpoOptions& o, double lr, uint64_t seed, int64_t step);

/// Per-token log-probs of targets under `m` (no gradient when called under NoGradGuard).
/// Shapes: inputs, targets [N,T] → [N,T] f32.
torch::Tensor sequence_logprobs(Transformer& m, const torch::Tensor& inputs, const torch::Tensor& targets);

}  // namespace plexus::llm
