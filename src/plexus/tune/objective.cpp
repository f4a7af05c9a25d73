#include "plexus/tune/objective.h"

#include <algorithm>

namespace plexus::tune {

ObjectiveOptions ObjectiveOptions::parse(ConfigTable& t) {
  ObjectiveOptions o;
  t.get_choice("metric", o.metric, {"rpm", "revenue", "clicks", "f"});
  t.get("constrained", o.constrained);
  t.get("max_click_drop", o.max_click_drop);
  t.get("max_quality_drop", o.max_quality_drop);
  t.get_choice("judge", o.judge, {"lower_bound", "estimate"});
  t.get_choice("score", o.score, {"estimate", "lower_bound"});
  t.get("ess_min", o.ess_min);
  t.get("ess_frac", o.ess_frac);
  t.require(o.max_click_drop >= 0 && o.max_click_drop < 1, "max_click_drop", "must be in [0, 1)");
  t.require(o.max_quality_drop >= 0 && o.max_quality_drop < 1, "max_quality_drop", "must be in [0, 1)");
  t.require(o.ess_min >= 1, "ess_min", "must be >= 1");
  t.require(o.ess_frac >= 0 && o.ess_frac < 1, "ess_frac", "must be in [0, 1)");
  t.finish();
  return o;
}

CandidateScore score_candidate(const Samples& s, const Weights& w, const ObjectiveSpec& spec, const IsOptions& opt) {
  CandidateScore c;
  c.ess = w.ess;
  c.ess_ok = w.ess >= std::max(spec.ess_min, spec.ess_frac * static_cast<double>(s.size()));
  c.objective = is_ratio(s, w, spec.objective.num, spec.objective.den, spec.objective.scale, opt);
  c.feasible = true;
  for (const auto& con : spec.constraints) {
    Estimate e = is_ratio(s, w, con.kpi.num, con.kpi.den, con.kpi.scale, opt);
    c.constraints.push_back(e);
    if ((spec.judge_lower_bound ? e.lo : e.value) < con.floor) c.feasible = false;
  }
  if (c.ess_ok && c.feasible) c.score = spec.score_lower_bound ? c.objective.lo : c.objective.value;
  return c;
}

}  // namespace plexus::tune
