// The constrained tuning objective, judged on IS estimates and their confidence bounds.
//
//   maximize  RPM(θ)   (or revenue, clicks per request, or a synthetic landscape's f)
//   s.t.      clicks(θ)  ≥ (1 − x) · clicks(θ0)     (x = max_click_drop)
//             quality(θ) ≥ (1 − y) · quality(θ0)    (y = max_quality_drop)
// A candidate counts as feasible only if each constraint holds at its lower confidence bound (or at its
// point estimate with judge = "estimate"), and only if its weights keep ESS ≥ max(ess_min, ess_frac · N).
// This form is our design [D] (docs/tune.md): the papers' constraint handling could not be read.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "plexus/core/options.h"
#include "plexus/tune/importance_sampling.h"

namespace plexus::tune {

/// TOML section [objective].
struct ObjectiveOptions {
  std::string metric = "rpm";        // rpm | revenue | clicks (auction); synthetic landscapes use f
  bool constrained = true;           // apply the clicks / quality constraints
  double max_click_drop = 0.05;      // x: clicks may fall at most this fraction below production
  double max_quality_drop = 0.05;    // y: quality may fall at most this fraction below production
  std::string judge = "lower_bound"; // lower_bound | estimate: how constraints are judged
  std::string score = "estimate";    // estimate | lower_bound: what ranks feasible candidates
  double ess_min = 30;               // reject candidates with ESS below max(ess_min, ess_frac · N)
  double ess_frac = 0.05;
  static ObjectiveOptions parse(ConfigTable& t);
  /// The declared keys of [objective] (core/options.h).
  static const OptionSchema<ObjectiveOptions>& schema();
};

/// A KPI as a ratio of per-request sums: scale · Σ a / Σ b; den < 0 means per request (b ≡ 1).
struct KpiRatio {
  int num = 0, den = -1;
  double scale = 1.0;
};

struct Constraint {
  std::string name;
  KpiRatio kpi;
  double floor = 0;      // the constraint is kpi ≥ floor
  double reference = 0;  // the production value the floor was derived from (0 = none)
};

/// The objective resolved against a problem's KPI columns and production values.
struct ObjectiveSpec {
  std::string name = "f";
  KpiRatio objective;
  std::vector<Constraint> constraints;
  bool judge_lower_bound = true;
  bool score_lower_bound = false;
  double ess_min = 30, ess_frac = 0.05;
};

/// Everything a tuner needs to know about one candidate.
struct CandidateScore {
  Estimate objective;
  std::vector<Estimate> constraints;
  double ess = 0;
  bool ess_ok = false, feasible = false;
  /// Ranking key: objective estimate (or its lower bound) if ess_ok and feasible, else −∞.
  double score = -std::numeric_limits<double>::infinity();
};

/// Score a candidate from samples and its weights (unit weights for direct evaluations).
CandidateScore score_candidate(const Samples& s, const Weights& w, const ObjectiveSpec& spec, const IsOptions& opt);

}  // namespace plexus::tune
