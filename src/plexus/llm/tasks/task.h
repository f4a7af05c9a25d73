// Rule-checkable reasoning tasks for DeepSeek-R1-style RL (docs/grpo.md): seeded generators with a
// held-out test split that never overlaps the training prompts, an exact verifier of the last
// <answer>…</answer>, and a programmatic chain of thought per problem (cold-start SFT data, base-model text).
//
// Split rule: a problem belongs to the test split iff hash(canonical key) mod 10 == 0 (FNV-1a via
// stream_key), so the two splits are disjoint by construction whatever the seed or sizes. Problem i of a
// split is drawn from the stream (task.seed, "task.<name>", split, i) by rejection until it falls in the split.
//
// Tasks: countdown (TinyZero's Countdown-Tasks-3to4), addition and multiplication (exact integers),
// sorting (reasoning-gym's sort-a-list kind).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plexus/core/config.h"

namespace plexus {
class Rng;
}

namespace plexus::llm {

/// One generated problem.
struct Problem {
  std::string key;              ///< canonical identity (split hash, dedup), e.g. "cd:3,7,25->46"
  std::string question;         ///< the user's prompt text (goes into the template)
  std::string answer;           ///< one reference answer string, e.g. "1234" or "(25-3)*7"
  std::vector<int64_t> numbers; ///< operands (countdown, sorting) or [a, b] (arithmetic)
  int64_t target = 0;           ///< countdown target / arithmetic result
  std::string work;             ///< the generator's own solution steps (countdown), used by trace()
};

/// Verdict of the verifier on one completion.
struct Verdict {
  bool has_answer = false;  ///< an <answer>…</answer> was found
  bool correct = false;     ///< the last answer is exactly right
  bool well_formed = false; ///< "<think> … </think> <answer> … </answer>" and nothing after
  std::string answer;       ///< the last answer's text (trimmed), for majority vote
};

/// Task settings ([task] table). Difficulty keys apply to the task that uses them.
struct TaskOptions {
  std::string name = "countdown";  ///< "countdown" | "addition" | "multiplication" | "sorting"
  int64_t seed = 1234;             ///< problem stream; shared by base, SFT, GRPO and eval runs
  int64_t test_size = 128;         ///< held-out problems (eval)
  std::string template_name = "r1_zero";  ///< "r1_zero" (R1 Table 1) or "short" ("User: q\nAssistant:")
  bool prefill_think = true;       ///< end the prompt with " <think>" (TinyZero prefills it)
  // countdown
  int64_t min_numbers = 3;         ///< operands per problem (3-4 = TinyZero)
  int64_t max_numbers = 4;
  int64_t max_number = 100;        ///< operands in [1, max_number]
  int64_t max_target = 1000;       ///< targets in [1, max_target]
  // addition / multiplication
  int64_t digits = 3;              ///< operands of exactly 1..digits digits
  // sorting
  int64_t min_length = 3;
  int64_t max_length = 6;
  int64_t max_value = 99;

  /// Read a [task] table over `base` (defaults). Throws: Error(Config) naming the key (unknown task names
  /// list the known ones).
  static TaskOptions parse(ConfigTable& t, TaskOptions base);
  static TaskOptions parse(ConfigTable& t);
};

/// A task: generator, verifier, trace writer.
class Task {
 public:
  explicit Task(TaskOptions o) : o_(std::move(o)) {}
  virtual ~Task() = default;
  const TaskOptions& options() const { return o_; }

  /// Problem `index` of `split` (0 = train, 1 = test). Deterministic in (seed, split, index).
  Problem problem(int split, uint64_t index) const;
  /// The first test_size test problems. Throws: Error(Data) if test_size < 1 (an empty split).
  std::vector<Problem> test_set() const;

  /// Prompt text: the template around the question, optionally ending with " <think>".
  std::string prompt(const Problem& p) const;
  /// A correct step-by-step completion (what follows the prompt): "… </think> <answer> … </answer>".
  virtual std::string trace(const Problem& p) const = 0;
  /// Judge a completion (the text after the prompt).
  Verdict verify(const Problem& p, const std::string& completion) const;
  /// Whether answer text `a` is exactly right for `p`. Never evaluates text as code: parses it.
  virtual bool check_answer(const Problem& p, const std::string& a) const = 0;

 protected:
  /// Draw a candidate problem from `rng` (before the split filter).
  virtual Problem draw(Rng& rng) const = 0;
  TaskOptions o_;
};

/// Build the configured task. Throws: Error(Config) for an unknown name.
std::unique_ptr<Task> make_task(const TaskOptions& o);
std::vector<std::string> task_names();

/// Text of the last <answer>…</answer> in `s` (trimmed); false if there is none.
bool last_answer(const std::string& s, std::string& out);
/// Well-formed R1 output: "<think> X </think> <answer> Y </answer>" (whitespace-tolerant), each tag exactly
/// once in that order, nothing but whitespace after </answer>. `s` includes any prefilled "<think>".
bool well_formed(const std::string& s);

}  // namespace plexus::llm
