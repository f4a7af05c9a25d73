// Exact arithmetic over the integers for Countdown answers: a recursive-descent parser of
//   expr := term (('+'|'-') term)*     term := factor (('*'|'/') factor)*     factor := integer | '(' expr ')'
// evaluated in reduced rationals with overflow checks. User text is parsed, never evaluated as code.
// Rejected: any other character (including unary minus, '.', '**', '^', letters), integers of more than 9
// digits, division by zero, |numerator| or denominator above 1e15, nesting deeper than 32, text over 256 chars.
// Source of the rule set: TinyZero verl/utils/reward_score/countdown.py (digits, + - * / ( ) and spaces only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace plexus::llm {

/// p/q in lowest terms, q > 0.
struct Rational {
  int64_t num = 0, den = 1;
  bool operator==(const Rational& o) const { return num == o.num && den == o.den; }
};

struct ExprResult {
  bool ok = false;
  Rational value;
  std::vector<int64_t> numbers;  ///< integer literals in order of appearance
  std::string error;             ///< why parsing or evaluation failed (empty if ok)
};

/// Parse and evaluate `text`. Never throws; `ok` is false with `error` set on any rejection.
ExprResult evaluate_expression(const std::string& text);

}  // namespace plexus::llm
