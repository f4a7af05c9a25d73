#include "plexus/tune/guard.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/tune/paired_estimate.h"

namespace plexus::tune {

const OptionSchema<GuardOptions>& GuardOptions::schema() {
  using G = GuardOptions;
  static const auto s =
      OptionSchema<G>("guard")
          .key("enabled", &G::enabled, "run the guarded final step for IS tuners")
          .key("top_m", &G::top_m, "finalists per iteration", ">= 1")
          .key("data", &G::data, "traffic of the final re-scoring: pooled exploration traffic or fresh requests",
               one_of({"pooled", "fresh"}))
          .key("holdout", &G::holdout, "pooled: share of each IS iteration's traffic withheld for confirmation", "[0, 1)")
          .key("traffic", &G::traffic, "fresh: requests (0 = what the tuner left of the budget, >= tuner.traffic)", ">= 0")
          .key("confidence", &G::confidence, "one-sided level of the lower bounds that let a candidate ship", "[0.5, 1)");
  return s;
}

double normal_quantile(double p) {
  PLEXUS_CHECK(p > 0 && p < 1, "normal_quantile({})", p);
  // Bisection on Φ(z) = erfc(−z/√2)/2, monotone; 100 halvings of [−40, 40] reach double precision.
  double lo = -40, hi = 40;
  for (int i = 0; i < 100; ++i) {
    double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

namespace {
constexpr int64_t kGuardIteration = 1 << 20;  // traffic stream key of the guard's fresh traffic

// ESS floor of the spec (max(ess_min, ess_frac · N)) with N the requests of one iteration's share of a pool.
double ess_floor(const ObjectiveSpec& spec, int64_t rows, std::size_t parts) {
  return std::max(spec.ess_min, spec.ess_frac * static_cast<double>(rows) / static_cast<double>(std::max<std::size_t>(1, parts)));
}

struct Scored {
  PairedEstimate objective;
  std::vector<PairedEstimate> constraints;
  double ess = 0;
};

Scored score_pair(const Samples& s, const Gaussian& cand, const Weights& w0, const ObjectiveSpec& spec, IsMode mode,
                  double clip, double z) {
  Scored r;
  Weights wc = importance_weights(s, cand, clip);
  r.ess = wc.ess;
  r.objective = paired_ratio(s, wc.w, w0.w, {}, spec.objective, mode, z);
  for (const auto& c : spec.constraints) r.constraints.push_back(paired_ratio(s, wc.w, w0.w, {}, c.kpi, mode, z));
  return r;
}

// Whether constraint c holds for a paired estimate: the KPI ratio vs production clears 1 − max drop
// (floor / reference), at the lower bound or the estimate; an absolute floor without reference is
// judged on the candidate's KPI alone.
double constraint_margin(const Constraint& c, const PairedEstimate& e, bool lower_bound) {
  if (c.reference > 0) return (lower_bound ? e.ratio_lo : e.ratio) - c.floor / c.reference;
  return (lower_bound ? e.candidate.lo : e.candidate.value) - c.floor;
}

std::string theta_text(const Problem& p, const std::vector<double>& x) {
  std::string s;
  const auto names = p.names();
  for (std::size_t i = 0; i < x.size(); ++i) s += fmt::format("{}{}={:.4g}", i ? "," : "", names[i], x[i]);
  return s;
}
}  // namespace

namespace {

// Step 1. Finalists: the top m feasible candidates of every iteration (θ0 is the incumbent, not a finalist).
std::vector<std::vector<double>> finalists(const TuneResult& res, const GuardOptions& g, const std::vector<double>& x0) {
  std::vector<std::vector<double>> fin;
  for (const auto& a : res.archive)
    for (std::size_t k = 0; k < std::min<std::size_t>(static_cast<std::size_t>(g.top_m), a.ranked.size()); ++k)
      if (a.ranked[k] != x0 && std::find(fin.begin(), fin.end(), a.ranked[k]) == fin.end()) fin.push_back(a.ranked[k]);
  return fin;
}

// The tuner's own traffic of every iteration (`held` = false) or the held-out part (`held` = true), pooled
// with deterministic-mixture weights over all iterations' proposals.
Samples pooled(const TuneResult& res, bool held) {
  std::vector<const Samples*> parts;
  std::vector<const Mixture*> qs;
  for (const auto& a : res.archive) {
    parts.push_back(held ? &a.holdout : &a.used);
    qs.push_back(&a.q);
  }
  return pool_deterministic_mixture(parts, qs);
}

// n fresh requests, half at θ0 and half spread evenly over `targets`, so every target is covered by a
// component of the same width `ref`. Charged to the run's replays.
Samples fresh(Problem& p, const std::vector<double>& x0, const std::vector<std::vector<double>>& targets,
              const std::vector<double>& ref, int64_t n, int64_t key, TuneResult& res, GuardReport& rep) {
  std::vector<double> w = {0.5};
  std::vector<Gaussian> comps = {Gaussian(x0, ref)};
  for (const auto& c : targets) {
    w.push_back(0.5 / static_cast<double>(targets.size()));
    comps.emplace_back(c, ref);
  }
  res.replays += n;
  rep.replays += n;
  return p.traffic(Mixture(w, comps), n, key);
}

// Step 3. The finalist with the highest lower bound of its gain over θ0 among those with enough ESS whose
// constraints pass at their estimates on the selection traffic; −1 if none.
int select_finalist(const Samples& select, double ess_floor, const std::vector<std::vector<double>>& fin,
                    const std::vector<double>& x0, const std::vector<double>& kernel, const ObjectiveSpec& spec,
                    IsMode mode, double clip, double z) {
  const Weights w0 = importance_weights(select, Gaussian(x0, kernel), clip);
  int best = -1;
  double best_lo = -INFINITY;
  for (std::size_t j = 0; j < fin.size(); ++j) {
    Scored s = score_pair(select, Gaussian(fin[j], kernel), w0, spec, mode, clip, z);
    if (!s.objective.valid || s.ess < ess_floor) continue;
    bool ok = true;
    for (std::size_t c = 0; c < spec.constraints.size(); ++c) ok = ok && constraint_margin(spec.constraints[c], s.constraints[c], false) >= 0;
    if (ok && s.objective.gain.lo > best_lo) {
      best_lo = s.objective.gain.lo;
      best = static_cast<int>(j);
    }
  }
  return best;
}

// Step 4. Confirm `cand` against θ0 on the confirmation traffic: fill the report's KPIs and margins; returns
// whether it may ship (ESS, gain lower bound > 0, every constraint at its bound), else sets rep.reason.
bool confirm(const Problem& p, const Samples& conf, double ess_floor, const std::vector<double>& cand,
             const std::vector<double>& x0, const std::vector<double>& kernel, const ObjectiveSpec& spec, IsMode mode,
             double clip, double z, GuardReport& rep) {
  const Weights c0 = importance_weights(conf, Gaussian(x0, kernel), clip);
  Scored s = score_pair(conf, Gaussian(cand, kernel), c0, spec, mode, clip, z);
  rep.confirmation_ess = s.ess;
  auto compare = [&](const std::string& name, const PairedEstimate& e) {
    return KpiComparison{name, e.candidate.value, e.baseline.value, e.gain.value, e.gain.lo, e.gain.hi, e.ratio, e.ratio_lo, e.ratio_hi};
  };
  rep.kpis.push_back(compare(spec.name, s.objective));
  std::string failed;
  for (std::size_t c = 0; c < spec.constraints.size(); ++c) {
    rep.kpis.push_back(compare(spec.constraints[c].name, s.constraints[c]));
    rep.margins.push_back(constraint_margin(spec.constraints[c], s.constraints[c], spec.judge_lower_bound));
    if (rep.margins.back() < 0 && failed.empty())
      failed = fmt::format("constraint {} is not shown: its ratio vs production{} is {:.4f}, below the floor {:.4f}", spec.constraints[c].name,
                           spec.judge_lower_bound ? fmt::format(" ({:.0f}% lower bound)", 100 * rep.confidence) : "",
                           spec.judge_lower_bound ? s.constraints[c].ratio_lo : s.constraints[c].ratio,
                           spec.constraints[c].reference > 0 ? spec.constraints[c].floor / spec.constraints[c].reference : spec.constraints[c].floor);
  }
  const std::string who = theta_text(p, cand);
  if (!s.objective.valid || s.ess < ess_floor)
    rep.reason = fmt::format("best finalist ({}) has confirmation ESS {:.0f} < {:.0f}", who, s.ess, ess_floor);
  else if (!(s.objective.gain.lo > 0))
    rep.reason = fmt::format("best finalist ({}) is not shown to beat production: {} gain {:+.4g}, {:.0f}% lower bound {:+.4g} <= 0", who,
                             spec.name, s.objective.gain.value, 100 * rep.confidence, s.objective.gain.lo);
  else if (!failed.empty())
    rep.reason = fmt::format("best finalist ({}): {}", who, failed);
  return rep.reason.empty();
}

}  // namespace

void apply_guard(Problem& p, TuneResult& res, const TunerOptions& opt, const GuardOptions& g, uint64_t seed,
                 const IterationCallback& cb) {
  GuardReport rep;
  rep.ran = true;
  rep.confidence = g.confidence;
  const double z = normal_quantile(g.confidence);
  const ObjectiveSpec& spec = p.objective();
  const IsMode mode = opt.is_options(seed).mode;
  const std::vector<double> x0 = p.production();
  const auto fin = finalists(res, g, x0);
  rep.finalists = static_cast<int64_t>(fin.size());

  // 2. One kernel for θ0 and every finalist.
  const std::vector<double> ref = res.kernel_ref.empty() ? box_cov(p, opt.sigma) : res.kernel_ref;
  std::vector<double> kernel = ref;
  for (double& v : kernel) v *= opt.target_scale * opt.target_scale;

  bool shipped = false;
  if (fin.empty()) {
    rep.reason = "no candidate passed the ESS and constraint checks during tuning";
  } else {
    bool live = false;
    for (const auto& a : res.archive) live = live || a.used.size() > 0;
    const int64_t parts = static_cast<int64_t>(res.archive.size());
    // 3. Selection traffic: the tuner's own live traffic, pooled (free), or without it half of the fresh
    //    requests spread over θ0 and the finalists.
    const bool pooled_confirmation = g.data == "pooled" && live;
    rep.data = pooled_confirmation ? "pooled" : "fresh";
    const int64_t n = g.traffic > 0 ? g.traffic : std::max(opt.traffic, opt.total_budget() - res.replays);
    Samples select = live ? pooled(res, false) : fresh(p, x0, fin, ref, n / 2, kGuardIteration, res, rep);
    const double select_floor = ess_floor(spec, select.size(), live ? res.archive.size() : 1);
    rep.selection_requests = select.size();
    const int best = select_finalist(select, select_floor, fin, x0, kernel, spec, mode, opt.clip, z);
    if (best < 0) {
      rep.reason = "no finalist passed the ESS and constraint checks on the selection traffic";
    } else {
      rep.candidate = fin[best];
      // 4. Confirmation traffic: the held-out part of the tuner's traffic (pooled), or fresh requests half at
      //    θ0 and half at the chosen finalist, so that the one comparison that decides gets all of them.
      Samples conf;
      if (pooled_confirmation) {
        conf = pooled(res, true);
        if (conf.size() == 0) conf = select;
      } else {
        conf = fresh(p, x0, {fin[best]}, ref, live ? n : n - n / 2, kGuardIteration + 1, res, rep);
      }
      rep.confirmation_requests = conf.size();
      const double conf_floor = ess_floor(spec, conf.size(), pooled_confirmation ? static_cast<std::size_t>(parts) : 1);
      shipped = confirm(p, conf, conf_floor, fin[best], x0, kernel, spec, mode, opt.clip, z, rep);
    }
  }
  rep.shipped = shipped;

  IterationRecord rec;
  rec.iteration = res.history.empty() ? 1 : res.history.back().iteration + 1;
  rec.stage = "final";
  rec.replays = res.replays;
  rec.best = shipped ? rep.candidate : x0;
  if (!rep.kpis.empty()) {
    const KpiComparison& k = rep.kpis[0];
    rec.estimate = shipped ? k.candidate : k.production;
    rec.estimate_lo = shipped ? k.candidate - (k.gain - k.gain_lo) : rec.estimate;  // the gain's interval width
    rec.estimate_hi = shipped ? k.candidate + (k.gain_hi - k.gain) : rec.estimate;
  }
  rec.ess = rep.confirmation_ess;
  rec.feasible = shipped;
  const bool any = res.any_feasible;
  res.guard = std::move(rep);
  finish_record(p, rec, res, cb);
  res.any_feasible = any;
}

}  // namespace plexus::tune
