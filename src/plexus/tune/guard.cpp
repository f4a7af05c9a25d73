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

struct Pools {
  Samples select, confirm;
  double ess_floor_select = 0, ess_floor_confirm = 0;
};

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

void apply_guard(Problem& p, TuneResult& res, const TunerOptions& opt, const GuardOptions& g, uint64_t seed,
                 const IterationCallback& cb) {
  GuardReport rep;
  rep.ran = true;
  rep.confidence = g.confidence;
  const double z = normal_quantile(g.confidence);
  const ObjectiveSpec& spec = p.objective();
  const IsMode mode = opt.is_options(seed).mode;
  const std::vector<double> x0 = p.production();

  // 1. Finalists: the top m feasible candidates of every iteration (θ0 is the incumbent, not a finalist).
  std::vector<std::vector<double>> fin;
  for (const auto& a : res.archive)
    for (std::size_t k = 0; k < std::min<std::size_t>(static_cast<std::size_t>(g.top_m), a.ranked.size()); ++k)
      if (a.ranked[k] != x0 && std::find(fin.begin(), fin.end(), a.ranked[k]) == fin.end()) fin.push_back(a.ranked[k]);
  rep.finalists = static_cast<int64_t>(fin.size());

  // 2. One kernel for θ0 and every finalist.
  const std::vector<double> ref = res.kernel_ref.empty() ? box_cov(p, opt.sigma) : res.kernel_ref;
  std::vector<double> kernel = ref;
  for (double& v : kernel) v *= opt.target_scale * opt.target_scale;

  // 3. Selection and confirmation traffic.
  Pools pools;
  bool live = false;
  for (const auto& a : res.archive) live = live || a.used.size() > 0;
  if (!fin.empty()) {
    if (g.data == "pooled" && live) {
      rep.data = "pooled";
      std::vector<const Samples*> used, held;
      std::vector<const Mixture*> qs;
      for (const auto& a : res.archive) {
        used.push_back(&a.used);
        held.push_back(&a.holdout);
        qs.push_back(&a.q);
      }
      pools.select = pool_deterministic_mixture(used, qs);
      Samples h = pool_deterministic_mixture(held, qs);
      pools.confirm = h.size() > 0 ? std::move(h) : pools.select;
      pools.ess_floor_select = ess_floor(spec, pools.select.size(), qs.size());
      pools.ess_floor_confirm = ess_floor(spec, pools.confirm.size(), qs.size());
    } else {
      rep.data = "fresh";
      const int64_t n = g.traffic > 0 ? g.traffic : std::max(opt.traffic, opt.total_budget() - res.replays);
      // Half the traffic at θ0, half spread over the finalists: every target is covered by a component.
      std::vector<double> w = {0.5};
      std::vector<Gaussian> comps = {Gaussian(x0, ref)};
      for (const auto& c : fin) {
        w.push_back(0.5 / static_cast<double>(fin.size()));
        comps.emplace_back(c, ref);
      }
      Samples all = p.traffic(Mixture(w, comps), n, kGuardIteration);
      res.replays += n;
      rep.replays = n;
      // Rows are i.i.d. from one proposal: alternate them between selection and confirmation.
      const int64_t half = n / 2;
      pools.select = all.slice(0, half);
      pools.confirm = all.slice(half, n);
      pools.ess_floor_select = ess_floor(spec, pools.select.size(), 1);
      pools.ess_floor_confirm = ess_floor(spec, pools.confirm.size(), 1);
    }
    rep.selection_requests = pools.select.size();
    rep.confirmation_requests = pools.confirm.size();
  }

  // 4. Select on the selection traffic, confirm on the confirmation traffic.
  bool shipped = false;
  if (fin.empty()) {
    rep.reason = "no candidate passed the ESS and constraint checks during tuning";
  } else {
    const Weights w0 = importance_weights(pools.select, Gaussian(x0, kernel), opt.clip);
    int best = -1;
    double best_lo = -INFINITY;
    for (std::size_t j = 0; j < fin.size(); ++j) {
      Scored s = score_pair(pools.select, Gaussian(fin[j], kernel), w0, spec, mode, opt.clip, z);
      if (!s.objective.valid || s.ess < pools.ess_floor_select) continue;
      bool ok = true;
      for (std::size_t c = 0; c < spec.constraints.size(); ++c) ok = ok && constraint_margin(spec.constraints[c], s.constraints[c], false) >= 0;
      if (ok && s.objective.gain.lo > best_lo) {
        best_lo = s.objective.gain.lo;
        best = static_cast<int>(j);
      }
    }
    if (best < 0) {
      rep.reason = "no finalist passed the ESS and constraint checks on the selection traffic";
    } else {
      rep.candidate = fin[best];
      const Weights c0 = importance_weights(pools.confirm, Gaussian(x0, kernel), opt.clip);
      Scored s = score_pair(pools.confirm, Gaussian(fin[best], kernel), c0, spec, mode, opt.clip, z);
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
                               spec.judge_lower_bound ? fmt::format(" ({:.0f}% lower bound)", 100 * g.confidence) : "",
                               spec.judge_lower_bound ? s.constraints[c].ratio_lo : s.constraints[c].ratio,
                               spec.constraints[c].reference > 0 ? spec.constraints[c].floor / spec.constraints[c].reference : spec.constraints[c].floor);
      }
      const std::string who = theta_text(p, fin[best]);
      if (!s.objective.valid || s.ess < pools.ess_floor_confirm)
        rep.reason = fmt::format("best finalist ({}) has confirmation ESS {:.0f} < {:.0f}", who, s.ess, pools.ess_floor_confirm);
      else if (!(s.objective.gain.lo > 0))
        rep.reason = fmt::format("best finalist ({}) is not shown to beat production: {} gain {:+.4g}, {:.0f}% lower bound {:+.4g} <= 0", who,
                                 spec.name, s.objective.gain.value, 100 * g.confidence, s.objective.gain.lo);
      else if (!failed.empty())
        rep.reason = fmt::format("best finalist ({}): {}", who, failed);
      else
        shipped = true;
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
