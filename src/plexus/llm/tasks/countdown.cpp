// Countdown: generator, trace and verifier. See tasks_impl.h; verifier rules in expr.h.
#include <algorithm>

#include "plexus/llm/tasks/expr.h"
#include "plexus/llm/tasks/tasks_impl.h"

namespace plexus::llm {

namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

// Strip one pair of parentheses that encloses the whole expression.
std::string strip_outer(const std::string& s) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return s;
  int depth = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    depth += s[i] == '(' ? 1 : s[i] == ')' ? -1 : 0;
    if (depth == 0) return s;  // the first '(' closes before the end
  }
  return s.substr(1, s.size() - 2);
}

}  // namespace

Problem CountdownTask::draw(Rng& rng) const {
  for (;;) {
    auto n = o_.min_numbers + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o_.max_numbers - o_.min_numbers + 1)));
    std::vector<int64_t> nums;
    for (int64_t i = 0; i < n; ++i) nums.push_back(1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o_.max_number))));
    // Combine random pairs until one value is left; remember each step for the trace.
    std::vector<int64_t> vals = nums;
    std::vector<std::string> exprs;
    for (auto v : nums) exprs.push_back(std::to_string(v));
    std::string steps;
    while (vals.size() > 1) {
      size_t i = rng.below(vals.size()), j = rng.below(vals.size() - 1);
      if (j >= i) ++j;
      int64_t a = vals[i], b = vals[j], r = 0;
      char op = "+-*/"[rng.below(4)];
      if (op == '-' && a <= b) std::swap(a, b), std::swap(i, j);
      if (op == '-' && a == b) op = '+';
      if (op == '/' && (b <= 1 || a % b != 0)) op = '+';
      if (op == '*' && a * b > o_.max_target * 10) op = '+';
      switch (op) {
        case '+': r = a + b; break;
        case '-': r = a - b; break;
        case '*': r = a * b; break;
        default: r = a / b;
      }
      steps += fmt::format(" {}{}{}={}.", a, op, b, r);
      std::string e = "(" + exprs[i] + op + exprs[j] + ")";
      size_t hi = std::max(i, j), lo = std::min(i, j);
      vals.erase(vals.begin() + static_cast<long>(hi)), exprs.erase(exprs.begin() + static_cast<long>(hi));
      vals[lo] = r, exprs[lo] = e;
    }
    if (vals[0] < 1 || vals[0] > o_.max_target) continue;
    Problem p;
    p.numbers = nums;
    p.target = vals[0];
    auto sorted = nums;
    std::sort(sorted.begin(), sorted.end());
    p.key = fmt::format("cd:{}->{}", join(sorted), p.target);
    p.question = fmt::format(
        "Using the numbers [{}], create an equation that equals {}. You can use basic arithmetic operations "
        "(+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And "
        "return the final equation in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>",
        join(nums), p.target);
    p.answer = strip_outer(exprs[0]);
    p.work = steps;
    return p;
  }
}

std::string CountdownTask::trace(const Problem& p) const {
  return fmt::format("{} So the equation is {}. </think> <answer> {} </answer>", p.work, p.answer, p.answer);
}

bool CountdownTask::check_answer(const Problem& p, const std::string& a) const {
  // TinyZero also accepts "expr = target"; take the left side of a single '='.
  std::string e = a;
  if (auto eq = e.find('='); eq != std::string::npos) {
    if (e.find('=', eq + 1) != std::string::npos) return false;
    int64_t rhs = 0;
    if (!parse_integer(e.substr(eq + 1), rhs) || rhs != p.target) return false;
    e = e.substr(0, eq);
  }
  auto r = evaluate_expression(e);
  if (!r.ok) return false;
  auto used = r.numbers, given = p.numbers;
  std::sort(used.begin(), used.end());
  std::sort(given.begin(), given.end());
  if (used != given) return false;  // each number exactly once, no others
  return r.value == Rational{p.target, 1};
}

}  // namespace plexus::llm
