// The concrete tasks (internal to src/plexus/llm/tasks; build them with make_task).
#pragma once

#include "plexus/core/rng.h"
#include "plexus/llm/tasks/task.h"

namespace plexus::llm {

/// Countdown (TinyZero Countdown-Tasks-3to4): reach `target` with + − × ÷ and parentheses, using each given
/// number exactly once. Targets come from a random solvable combination (integer intermediates, exact
/// division), so every problem has a solution; the trace writes that combination step by step.
class CountdownTask : public Task {
 public:
  using Task::Task;
  std::string trace(const Problem& p) const override;
  bool check_answer(const Problem& p, const std::string& a) const override;

 protected:
  Problem draw(Rng& rng) const override;
};

/// Multi-digit addition ('+') or multiplication ('*') of two operands of 1..digits digits; the answer is the
/// exact integer. Traces: column addition with carries, or partial products then their sum.
class ArithmeticTask : public Task {
 public:
  ArithmeticTask(TaskOptions o, char op) : Task(std::move(o)), op_(op) {}
  std::string trace(const Problem& p) const override;
  bool check_answer(const Problem& p, const std::string& a) const override;

 protected:
  Problem draw(Rng& rng) const override;

 private:
  char op_;
};

/// Sort a list of integers ascending (reasoning-gym's number-sorting kind). Answer: the numbers separated by
/// ", " (any commas/spaces accepted), exactly the sorted multiset. Trace: repeatedly take the smallest.
class SortingTask : public Task {
 public:
  using Task::Task;
  std::string trace(const Problem& p) const override;
  bool check_answer(const Problem& p, const std::string& a) const override;

 protected:
  Problem draw(Rng& rng) const override;
};

/// Parse a non-negative decimal integer of at most 18 digits (surrounding spaces allowed). False otherwise.
bool parse_integer(const std::string& s, int64_t& out);

}  // namespace plexus::llm
