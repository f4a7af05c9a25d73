// Rule-based rewards of DeepSeek-R1 (§2.2.2: accuracy + format, no neural reward model), with the partial
// credit of TinyZero and DAPO's soft overlong punishment:
//   r = accuracy·1[correct] + partial_credit·1[answer present ∧ wrong] + format·1[well formed] + overlong(L)
//   overlong(L) = 0                                   if L ≤ L_max − L_buf
//               = −overlong_penalty·(L − (L_max − L_buf))/L_buf   if L_max − L_buf < L ≤ L_max
// L = completion tokens, L_max = grpo.max_completion_length, L_buf = overlong_buffer (0 = off).
// Defaults: accuracy 1, partial_credit 0.1 (TinyZero countdown/multiply: 1 / 0.1 / 0), format 0 (open-r1 uses
// 1 with its format regex), overlong off (DAPO: L_buf 4096 of 20480, penalty 1.0).
#pragma once

#include <cstdint>

#include "plexus/core/config.h"
#include "plexus/llm/tasks/task.h"

namespace plexus::llm {

struct RewardOptions {
  double accuracy = 1.0;         ///< reward of an exactly right last answer
  double partial_credit = 0.1;   ///< reward of a present but wrong answer (TinyZero's format_score)
  double format = 0.0;           ///< added when the output is well formed (<think>…</think> <answer>…</answer>)
  int64_t overlong_buffer = 0;   ///< DAPO L_cache in tokens; 0 = no length penalty
  double overlong_penalty = 1.0; ///< DAPO penalty factor (reward −factor at L = L_max)

  /// Throws: Error(Config) naming the key.
  static RewardOptions parse(ConfigTable& t);
};

/// Scalar reward of one judged completion of `length` tokens with budget `max_length`.
/// Source: R1 §2.2.2; TinyZero verl/utils/reward_score/countdown.py; DAPO (arXiv 2503.14476) eq.13.
double reward_value(const RewardOptions& o, const Verdict& v, int64_t length, int64_t max_length);

}  // namespace plexus::llm
