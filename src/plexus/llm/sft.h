// Supervised fine-tuning for the R1 pipeline (DeepSeek-R1 §2.3.1 cold start, §2.3.3 rejection-sampling SFT,
// §2.4 distillation): next-token cross-entropy on completion tokens only (prompt tokens masked),
//   L = Σ_{i,t} CE(t) m_it / Σ m_it        m = 1 on completion positions,
// with AdamW. Data: the tasks' programmatic traces (cold start), or JSONL samples written by
// `plexus llm sample --filter verified` (rejection sampling). Distillation = sample verified completions
// from a teacher run, then SFT a (smaller) student base on them (no RL), as R1's distilled models were made.
// The MTP modules are not trained here and the expert biases stay frozen (policy in eval mode).
#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "plexus/llm/grpo.h"

namespace plexus::llm {

struct SftOptions {
  int64_t max_steps = 200;
  int64_t stop_at = 0;
  int64_t batch_size = 16;
  double learning_rate = 3e-4;
  std::string lr_scheduler_type = "cosine";
  int64_t warmup_steps = 10;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
  std::string data = "traces";   ///< "traces" (programmatic CoT) | "samples" (JSONL from `plexus llm sample`)
  std::string samples;           ///< JSONL path for data = "samples"
  int64_t trace_examples = 4000; ///< training problems used for data = "traces"
  int64_t save_steps = 100;
  int64_t max_completion_length = 128;  ///< eval budget (and truncation of long completions)
  std::string dtype = "auto";
};

/// [teacher] of distillation: verified samples from this run.
struct TeacherOptions {
  std::string run;
  int64_t num_prompts = 512;    ///< training problems sampled
  int64_t k = 4;                ///< completions per problem
  double temperature = 0.6, top_p = 0.95;
};

struct SftConfig {
  RunOptions run;
  std::string base;
  TaskOptions task;
  SftOptions sft;
  EvalSchedule eval;
  bool distill = false;
  TeacherOptions teacher;
  toml::table resolved;
  /// `distill` selects the distillation layout (a [teacher] section). Throws: Error(Config).
  static SftConfig parse(const toml::table& root, bool distill);
};

struct SftResult {
  int64_t last_step = 0;
  double loss = 0, pass1_start = 0, pass1_end = 0, cons_end = 0;
  int64_t examples = 0;
  std::filesystem::path run_dir;
};

/// Fine-tune (or distill). Throws: Error(Config|Data|Io); inputs are checked before the run directory exists.
SftResult sft_train(const SftConfig& cfg, bool resume);

}  // namespace plexus::llm
