// Rule-based rewards. See reward.h.
#include "plexus/llm/tasks/reward.h"

namespace plexus::llm {

RewardOptions RewardOptions::parse(ConfigTable& t) {
  RewardOptions o;
  t.get("accuracy", o.accuracy);
  t.get("partial_credit", o.partial_credit);
  t.get("format", o.format);
  t.get("overlong_buffer", o.overlong_buffer);
  t.get("overlong_penalty", o.overlong_penalty);
  t.require(o.overlong_buffer >= 0, "overlong_buffer", "must be >= 0 (0 = off)");
  t.require(o.overlong_penalty >= 0, "overlong_penalty", "must be >= 0");
  return o;
}

double reward_value(const RewardOptions& o, const Verdict& v, int64_t length, int64_t max_length) {
  double r = 0;
  if (v.correct) r += o.accuracy;
  else if (v.has_answer) r += o.partial_credit;
  if (v.well_formed) r += o.format;
  if (o.overlong_buffer > 0) {
    const int64_t free_len = max_length - o.overlong_buffer;
    if (length > free_len)
      r -= o.overlong_penalty * static_cast<double>(std::min(length, max_length) - free_len) /
           static_cast<double>(o.overlong_buffer);
  }
  return r;
}

}  // namespace plexus::llm
