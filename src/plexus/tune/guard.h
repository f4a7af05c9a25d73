// The guarded final step of every IS tuner (GIS, SGIS, AMIS): a recommendation a marketplace team can
// ship without doing harm. [D] — our design for issue "tuning that does no harm"; the papers' final
// step could not be read (docs/tune.md).
//
// The incumbent is production θ0. At the end of a run:
//   1. finalists = the top `top_m` feasible candidates of every iteration, plus θ0;
//   2. all are re-scored against θ0 on the same traffic with one smoothing kernel S = target_scale² Σ_ref
//      (paired_estimate.h): the gain and the KPI ratios vs production, with delta-method CIs;
//   3. traffic (data = "pooled", the default): the live traffic of all iterations pooled with
//      deterministic-mixture weights p/ψ, ψ = Σ_t (n_t/n) q_t (pooling for this final estimate only; the
//      tuner adapted on each iteration's fresh samples). The finalist is *selected* on the part of each
//      iteration the tuner adapted on and *confirmed* on the `holdout` share of each iteration that no
//      tuner decision ever saw, so the confirmation is not biased upwards by the selection (with
//      holdout = 0 the same pool does both, which over-ships: see docs/tune.md). data = "fresh": new live
//      traffic from a mixture that covers θ0 (half the mass) and every finalist, split in halves for
//      selection and confirmation, paid from the budget;
//   4. the finalist with the best lower bound of its gain on the selection traffic (ESS and constraints
//      passing there) ships only if, on the confirmation traffic, the one-sided `confidence` lower bound
//      of its gain over θ0 is > 0, each constraint's KPI ratio vs θ0 clears its floor (1 − max drop) at its
//      lower bound (or estimate, objective.judge = "estimate"), and its ESS passes; otherwise θ0 is
//      recommended and the report says why.
#pragma once

#include <cstdint>
#include <string>

#include "plexus/core/config.h"
#include "plexus/core/options.h"
#include "plexus/tune/tuner.h"

namespace plexus::tune {

/// TOML section [guard].
struct GuardOptions {
  bool enabled = true;
  int64_t top_m = 3;
  std::string data = "pooled";
  double holdout = 0.25;
  int64_t traffic = 0;
  double confidence = 0.95;
  static const OptionSchema<GuardOptions>& schema();
  static GuardOptions parse(ConfigTable& t) { return schema().parse(t); }
};

/// z with Φ(z) = p (the standard normal quantile), p in (0, 1).
double normal_quantile(double p);

/// Run the guarded final step on a finished IS tuner's result: fills res.guard, appends the final
/// record (stage "final") and sets res.best to the recommendation. Fresh traffic is charged to
/// res.replays. `opt` carries the full budget.
void apply_guard(Problem& p, TuneResult& res, const TunerOptions& opt, const GuardOptions& g, uint64_t seed,
                 const IterationCallback& cb);

}  // namespace plexus::tune
