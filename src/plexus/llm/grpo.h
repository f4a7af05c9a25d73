// GRPO (DeepSeekMath §4.1; DeepSeek-R1 §2.2.1) with rule-verified rewards: the R1-Zero recipe when [base]
// is a pretrained model, the second stage of R1 when it is a cold-start SFT run.
//
// One step: B = prompts_per_step training problems; G = num_generations completions each from π_old on the
// device (rollout.h); rewards (tasks/reward.h); group advantages by prompt id (grpo_loss.h); optional dynamic
// sampling (DAPO: drop groups whose rewards are all equal); per-token ℓ_old (when μ > 1 or several
// minibatches) and ℓ_ref (β > 0) without gradients; then μ = num_iterations passes over
// steps_per_generation minibatches, each one AdamW update of the clipped loss (grpo_loss.h). The reference
// is reset to the policy every ref_model_sync_steps steps (0 = never). Expert biases stay frozen in RL (no
// aux-loss-free updates; the policy runs in eval mode, which only affects MoE bookkeeping).
//
// Config sections: [run] [base] [task] [reward] [grpo] [eval]; keys in docs/grpo.md, named as TRL's
// GRPOConfig names them where it has the knob.
#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <string>

#include "plexus/llm/eval.h"
#include "plexus/llm/grpo_loss.h"
#include "plexus/llm/pretrain.h"
#include "plexus/llm/tasks/reward.h"
#include "plexus/llm/tasks/task.h"

namespace plexus::llm {

struct GrpoOptions {
  int64_t max_steps = 100;           ///< generation steps
  int64_t stop_at = 0;               ///< stop (after a checkpoint) at this step; 0 = run to max_steps
  double learning_rate = 1e-5;       ///< TRL default 1e-6; tiny models need more
  std::string lr_scheduler_type = "constant";  ///< "constant" | "cosine" (to 0.1·lr)
  int64_t warmup_steps = 0;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9, adam_beta2 = 0.99;
  double max_grad_norm = 1.0;
  int64_t prompts_per_step = 16;     ///< B questions per step (verl data.train_batch_size)
  int64_t num_generations = 8;       ///< G
  int64_t steps_per_generation = 1;  ///< minibatches (optimizer updates) per pass over a generation batch
  int64_t num_iterations = 1;        ///< μ passes over each generation batch
  int64_t max_completion_length = 128;
  double temperature = 1.0, top_p = 1.0;
  double beta = 0.0;                 ///< KL weight; 0 loads no reference model
  double epsilon = 0.2, epsilon_high = -1;  ///< clip range; epsilon_high < 0 = epsilon
  std::string loss_type = "dapo";
  std::string scale_rewards = "group";
  std::string std_convention = "sample";
  double advantage_epsilon = 1e-4;
  int64_t ref_model_sync_steps = 0;  ///< reset π_ref ← π_θ every this many steps (0 = never)
  bool dynamic_sampling = false;     ///< drop groups with all-equal rewards (DAPO)
  int64_t save_steps = 50;
  int64_t check_every = 8;           ///< decode steps between host checks for "all done"
  std::string dtype = "auto";
};

/// Held-out evaluation settings ([eval]), shared by grpo and sft.
struct EvalSchedule {
  int64_t every = 25;          ///< steps between evaluations (and at step 0 and the last step); 0 = ends only
  int64_t k = 4;
  double temperature = 0.6;
  double top_p = 0.95;
  int64_t max_problems = 0;    ///< 0 = the whole test split
  static EvalSchedule parse(ConfigTable& t);
};

struct GrpoConfig {
  RunOptions run;
  std::string base;            ///< [base] run: the policy's run directory
  TaskOptions task;
  RewardOptions reward;
  GrpoOptions grpo;
  EvalSchedule eval;
  toml::table resolved;
  /// Throws: Error(Config) on unknown sections/keys or out-of-range values (G < 1, …).
  static GrpoConfig parse(const toml::table& root);
};

struct GrpoResult {
  int64_t last_step = 0;
  double pass1_start = 0, pass1_end = 0, cons_end = 0, reward_last = 0, gen_fraction = 0, rollout_tokens_per_s = 0;
  std::filesystem::path run_dir;
};

/// Run (or with `resume`, continue) GRPO. Throws: Error(Config|Data|Io|Infeasible); nothing is written
/// before the base policy, task and lengths have been checked.
GrpoResult grpo_train(const GrpoConfig& cfg, bool resume);

/// Policy evaluation on the task's test split with `sched` (used by grpo, sft and `plexus llm eval`).
EvalResult evaluate_policy(Policy& p, const Task& task, const EvalSchedule& sched, int64_t max_new_tokens,
                           uint64_t seed);

/// Section lookup shared by the RL configs: throws Error(Config) if `name` is not a table.
const toml::table* config_section(const toml::table& root, const char* name);
/// Reject sections not in `known`, naming the nearest. Throws: Error(Config).
void check_sections(const toml::table& root, const std::vector<std::string>& known);

}  // namespace plexus::llm
