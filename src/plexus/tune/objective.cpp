#include "plexus/tune/objective.h"

#include <algorithm>

namespace plexus::tune {

const OptionSchema<ObjectiveOptions>& ObjectiveOptions::schema() {
  using O = ObjectiveOptions;
  static const auto s =
      OptionSchema<O>("objective")
          .key("metric", &O::metric, "maximized KPI: `rpm`, `revenue`, `clicks` (auction) or `f` (landscapes)",
               one_of({"rpm", "revenue", "clicks", "f"}))
          .key("constrained", &O::constrained, "apply the clicks / quality constraints")
          .key("max_click_drop", &O::max_click_drop, "x: clicks may fall at most this fraction below production",
               "[0, 1)")
          .key("max_quality_drop", &O::max_quality_drop, "y: quality may fall at most this fraction below production",
               "[0, 1)")
          .key("judge", &O::judge, "how constraints are judged", one_of({"lower_bound", "estimate"}))
          .key("score", &O::score, "what ranks feasible candidates", one_of({"estimate", "lower_bound"}))
          .key("ess_min", &O::ess_min, "reject candidates with ESS below max(ess_min, ess_frac · N)", "[1, 1e12]")
          .key("ess_frac", &O::ess_frac, "see ess_min", "[0, 1)");
  return s;
}

ObjectiveOptions ObjectiveOptions::parse(ConfigTable& t) { return schema().parse(t); }

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
