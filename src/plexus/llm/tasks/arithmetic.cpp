// Multi-digit addition and multiplication: generator, traces, exact verifier. See tasks_impl.h.
#include <cctype>

#include "plexus/llm/tasks/tasks_impl.h"

namespace plexus::llm {

bool parse_integer(const std::string& s, int64_t& out) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  if (a == b || b - a > 18) return false;
  int64_t v = 0;
  for (size_t i = a; i < b; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

Problem ArithmeticTask::draw(Rng& rng) const {
  auto number = [&] {
    int64_t d = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o_.digits)));
    int64_t lo = 1, hi = 10;
    for (int64_t i = 1; i < d; ++i) lo *= 10, hi *= 10;
    if (d == 1) lo = 0;
    return lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo)));
  };
  Problem p;
  int64_t a = number(), b = number();
  p.numbers = {a, b};
  p.target = op_ == '+' ? a + b : a * b;
  p.key = fmt::format("{}:{},{}", op_ == '+' ? "add" : "mul", a, b);
  p.question = fmt::format("What is {} {} {}? Show your work in <think> </think> tags and return the final number in "
                           "<answer> </answer> tags", a, op_, b);
  p.answer = std::to_string(p.target);
  return p;
}

std::string ArithmeticTask::trace(const Problem& p) const {
  const int64_t a = p.numbers[0], b = p.numbers[1];
  std::string s;
  if (op_ == '+') {
    // Column addition from the units digit, with carries (the scratchpad of Lee et al. 2023).
    int64_t x = a, y = b, carry = 0;
    while (x > 0 || y > 0 || carry > 0) {
      int64_t dx = x % 10, dy = y % 10, t = dx + dy + carry;
      s += fmt::format(" {}+{}+{}={}, write {} carry {}.", dx, dy, carry, t, t % 10, t / 10);
      carry = t / 10, x /= 10, y /= 10;
    }
  } else {
    // Partial products of a with each digit of b (times its place), then their sum.
    int64_t y = b, place = 1, sum = 0;
    std::string terms;
    do {
      int64_t part = a * (y % 10) * place;
      s += fmt::format(" {}*{}={}.", a, (y % 10) * place, part);
      terms += (terms.empty() ? "" : "+") + std::to_string(part);
      sum += part, y /= 10, place *= 10;
    } while (y > 0);
    s += fmt::format(" {}={}.", terms, sum);
  }
  return fmt::format("{} </think> <answer> {} </answer>", s, p.answer);
}

bool ArithmeticTask::check_answer(const Problem& p, const std::string& a) const {
  int64_t v = 0;
  return parse_integer(a, v) && v == p.target;
}

}  // namespace plexus::llm
