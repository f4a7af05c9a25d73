// Pieces shared by the R1 pipeline commands (grpo, sft, distill): the [run] section, policy checks, weight
// copies, and the GRPO minibatch update.
#pragma once

#include <torch/torch.h>
#include <toml++/toml.h>

#include <map>
#include <string>
#include <vector>

#include "plexus/core/run_dir.h"
#include "plexus/core/run_lifecycle.h"
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

/// The base policy that GRPO and SFT fine-tune on `task`: loaded from run directory `base` onto `dev`,
/// checked against the test split `test` and the first 256 training prompts (check_policy_for_task), with
/// matmuls in bf16 when `dtype` is "bfloat16", or "auto" on CUDA (`bf16` says which).
/// Throws: Error(Config|Data) as load_policy and check_policy_for_task.
Policy load_tuning_policy(const std::string& base, const Task& task, const std::vector<Problem>& test, torch::Device dev,
                          int64_t max_completion_length, const std::string& length_key, const std::string& dtype,
                          bool& bf16);

/// (name, tensor) of every parameter of `m`, the form AdamW takes.
std::vector<std::pair<std::string, torch::Tensor>> named_parameters_of(Transformer& m);

/// The learning-rate schedule of GRPO and SFT (TRL's names): "cosine" decays to 0.1·lr over `max_steps`,
/// anything else is constant after the linear warm-up.
ScheduleOptions tuning_schedule(const std::string& type, double lr, int64_t warmup_steps, int64_t max_steps);

/// Load the newest checkpoint of `run` into `model` and `opt`; returns its step and fills `state` (every
/// tensor on `dev`, for callers that keep more, e.g. GRPO's reference model).
/// Throws: Error(Config) when the run has no checkpoint yet.
int64_t resume_policy(const RunDir& run, Transformer& model, AdamW& opt, torch::Device dev,
                      std::map<std::string, torch::Tensor>& state);

/// What a resume of grpo/sft/distill may change (`section` is "grpo" or "sft"): run.threads, run.tensorboard,
/// run.out_dir, run.name, <section>.stop_at, <section>.save_steps and eval.every; <section>.max_steps may be
/// raised; base.run, teacher.run and sft.samples are compared as canonical paths. Everything else is fixed.
ResumeRules tuning_resume_rules(const std::string& section);

/// Before `resolved` is written over the run's config.toml: the saved config must equal it except for
/// tuning_resume_rules(section), and `target` (the step this invocation runs to, set by `target_key`) must not be
/// below the newest checkpoint's step. Throws: Error(Config) naming the first changed key or `target_key`;
/// Error(Data) when config.toml is missing.
void check_tuning_resume(const RunDir& run, const toml::table& resolved, const std::string& section, int64_t target,
                         const std::string& target_key);

/// A resume whose checkpoint is already at `last` (the run is finished): logs that nothing is left to train and
/// how to continue (raise `max_key`), and returns the run's summary.json (an empty object if it has none), which
/// the caller keeps instead of writing a new one.
nlohmann::json finished_summary(const RunDir& run, int64_t done, const std::string& max_key);

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
