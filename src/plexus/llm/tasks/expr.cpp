// Safe rational evaluation of Countdown expressions. See expr.h.
#include "plexus/llm/tasks/expr.h"

#include <cctype>
#include <numeric>

namespace plexus::llm {

namespace {

constexpr __int128 kLimit = 1000000000000000LL;  // 1e15: bound on |num| and den after reduction
constexpr int kMaxDepth = 32;
constexpr size_t kMaxLen = 256;

struct Fail {
  std::string why;
};

Rational make(__int128 n, __int128 d) {
  if (d == 0) throw Fail{"division by zero"};
  if (d < 0) n = -n, d = -d;
  __int128 a = n < 0 ? -n : n, b = d;
  while (b != 0) {
    __int128 t = a % b;
    a = b, b = t;
  }
  if (a > 1) n /= a, d /= a;
  if (n > kLimit || n < -kLimit || d > kLimit) throw Fail{"intermediate value too large"};
  return {static_cast<int64_t>(n), static_cast<int64_t>(d)};
}

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}
  ExprResult run() {
    ExprResult r;
    try {
      if (s_.size() > kMaxLen) throw Fail{"expression longer than 256 characters"};
      for (char c : s_)
        if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '*' || c == '/' ||
              c == '(' || c == ')' || c == ' ' || c == '\t' || c == '\n'))
          throw Fail{std::string("character '") + c + "' not allowed"};
      r.value = expr(0);
      skip();
      if (i_ != s_.size()) throw Fail{"unexpected text after the expression"};
      r.numbers = numbers_;
      r.ok = true;
    } catch (const Fail& f) {
      r.error = f.why;
    }
    return r;
  }

 private:
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  Rational expr(int depth) {
    Rational v = term(depth);
    for (skip(); i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-'); skip()) {
      char op = s_[i_++];
      Rational w = term(depth);
      __int128 n = static_cast<__int128>(v.num) * w.den + (op == '+' ? 1 : -1) * static_cast<__int128>(w.num) * v.den;
      v = make(n, static_cast<__int128>(v.den) * w.den);
    }
    return v;
  }
  Rational term(int depth) {
    Rational v = factor(depth);
    for (skip(); i_ < s_.size() && (s_[i_] == '*' || s_[i_] == '/'); skip()) {
      char op = s_[i_++];
      Rational w = factor(depth);
      if (op == '*') {
        v = make(static_cast<__int128>(v.num) * w.num, static_cast<__int128>(v.den) * w.den);
      } else {
        if (w.num == 0) throw Fail{"division by zero"};
        v = make(static_cast<__int128>(v.num) * w.den, static_cast<__int128>(v.den) * w.num);
      }
    }
    return v;
  }
  Rational factor(int depth) {
    skip();
    if (i_ >= s_.size()) throw Fail{"expression ends early"};
    if (s_[i_] == '(') {
      if (depth >= kMaxDepth) throw Fail{"parentheses nested too deeply"};
      ++i_;
      Rational v = expr(depth + 1);
      skip();
      if (i_ >= s_.size() || s_[i_] != ')') throw Fail{"missing ')'"};
      ++i_;
      return v;
    }
    if (!std::isdigit(static_cast<unsigned char>(s_[i_]))) throw Fail{"expected a number or '('"};
    size_t start = i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ - start > 9) throw Fail{"number with more than 9 digits"};
    int64_t n = std::stoll(s_.substr(start, i_ - start));
    numbers_.push_back(n);
    return {n, 1};
  }
  const std::string& s_;
  size_t i_ = 0;
  std::vector<int64_t> numbers_;
};

}  // namespace

ExprResult evaluate_expression(const std::string& text) { return Parser(text).run(); }

}  // namespace plexus::llm
