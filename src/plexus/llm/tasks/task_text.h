// Task-format text for pretraining an R1 base model and for cold-start SFT: prompt + completion lines from
// the tasks' training splits (never the held-out test split).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "plexus/llm/corpus.h"
#include "plexus/llm/tasks/task.h"

namespace plexus::llm {

/// A completion for training problem `p`: the step-by-step trace, or (short = true) a direct answer
/// " </think> <answer> X </answer>" with an empty thought.
std::string task_completion(const Task& task, const Problem& p, bool short_answer);

/// Append `n` lines per task as documents of 50 lines: train problems i = 0..n−1, a share `trace_fraction`
/// of them (chosen by the stream (seed, "llm.tasktext", task, i)) with the trace, the rest answering directly.
void append_task_documents(std::vector<Document>& docs, const std::vector<TaskOptions>& tasks, int64_t n,
                           double trace_fraction, uint64_t seed);

/// (prompt, completion) pairs with traces for training problems [first, first + n) (cold-start SFT).
std::vector<std::pair<std::string, std::string>> trace_examples(const Task& task, uint64_t first, int64_t n);

}  // namespace plexus::llm
