// SGIS: simulator-guided importance sampling (Paneri et al., CONSEQUENCES @ RecSys'24, arXiv 2410.03697).
// Verified: the name, the IS estimator and the N·c·K cost model [P/S]. The loop is our reconstruction
// (docs/tune.md [D]):
//   1. coarse stage: a grid of grid_points^d points (≤ 4096, else random points), each replayed by the
//      open-box simulator on sim_requests requests and ranked by the constrained objective, constraints
//      relative to the simulator's own view of production (so a uniform click-model bias cancels);
//   2. IS refinement from the best coarse point a0 with Σ0 = diag(spacing / 2)²: requests replayed with
//      θ_i ~ N(a0, Σ) — by the simulator, each logged request once with its own θ_i (refine =
//      "simulator", the paper's offline mode and the default), or on live traffic (refine = "live");
//      move to the best trust-region candidate only if it beats a0 by more than its CI half-width, then
//      Σ ← shrink · Σ; stop otherwise;
//   3. a simulator check of the pick against production (verify_simulated in summary.json).
// Its recommendation then goes through the guarded final step on live traffic (guard.h): with simulator
// refinement there is no live exploration traffic to pool, so the guard draws fresh live traffic.
#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/tune/tuner_registry.h"

namespace plexus::tune {

namespace {

/// TOML section [sgis].
struct SgisOptions {
  int64_t grid_points = 5;
  int64_t sim_requests = 500;
  double shrink = 0.7;
  std::string refine = "simulator";
  static const OptionSchema<SgisOptions>& schema() {
    using S = SgisOptions;
    static const auto s =
        OptionSchema<S>("sgis")
            .key("grid_points", &S::grid_points, "coarse grid points per dimension (capped at 4096 points; random points if more)", "[2, 100]")
            .key("sim_requests", &S::sim_requests, "simulator requests per coarse point (the subsample n_s)", ">= 1")
            .key("shrink", &S::shrink, "Σ ← shrink · Σ after each accepted move (γ in docs/tune.md)", "(0, 1]")
            .key("refine", &S::refine, "where the IS refinement's randomized requests come from", one_of({"simulator", "live"}));
    return s;
  }
};

class Sgis : public Tuner {
 public:
  explicit Sgis(SgisOptions o) : o_(std::move(o)) {}
  bool archives_live_traffic() const override { return o_.refine == "live"; }

  TuneResult run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const override {
    TuneResult res;
    const int d = p.dim();
    const auto lo = p.lower(), wid = box_widths(p);
    const IsOptions is = opt.is_options(ctx.seed);
    const int64_t budget = opt.total_budget();
    int64_t replays = 0;
    // (1) Coarse stage: the full grid if it has at most kMaxGrid points, else that many random points.
    constexpr int64_t kMaxGrid = 4096;
    int64_t G = 1;
    for (int i = 0; i < d && G <= kMaxGrid; ++i) G *= o_.grid_points;
    std::vector<std::vector<double>> grid;
    Rng grng(ctx.seed, "sgis/grid");
    for (int64_t t = 0; t < std::min(G, kMaxGrid); ++t) {
      std::vector<double> x(d);
      int64_t r = t;
      for (int i = 0; i < d; ++i) {
        double u = G <= kMaxGrid ? static_cast<double>(r % o_.grid_points) / (o_.grid_points - 1) : grng.uniform();
        r /= o_.grid_points;
        x[i] = lo[i] + wid[i] * u;
      }
      grid.push_back(x);
    }
    // The simulator is biased (pCTR clicks): judge its constraints relative to its own view of production,
    // floor' = floor × sim(θ0) / production, so a uniform click-model bias cancels.
    ObjectiveSpec sim_spec = p.objective();
    if (!sim_spec.constraints.empty() && replays + o_.sim_requests <= budget) {
      Samples s0 = p.simulate(p.production(), o_.sim_requests);
      replays += o_.sim_requests;
      for (auto& c : sim_spec.constraints)
        if (c.reference > 0) c.floor *= is_ratio(s0, unit_weights(s0), c.kpi.num, c.kpi.den, c.kpi.scale, is).value / c.reference;
    }
    std::vector<CandidateScore> coarse;
    std::vector<int> order;
    for (std::size_t k = 0; k < grid.size(); ++k) {
      if (replays + o_.sim_requests > budget) break;
      Samples s = p.simulate(grid[k], o_.sim_requests);
      replays += o_.sim_requests;
      coarse.push_back(score_candidate(s, unit_weights(s), sim_spec, is));
      if (std::isfinite(coarse.back().score)) order.push_back(static_cast<int>(k));
    }
    if (coarse.empty())
      throw Error::config("[tuner] budget = {} cannot pay for one simulator replay of sgis.sim_requests = {}", budget, o_.sim_requests);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return coarse[a].score > coarse[b].score; });
    res.archive.emplace_back();  // the coarse stage has no exploration traffic; its best points are finalists
    archive_ranked(res, grid, order);
    IterationRecord rec;
    rec.iteration = 1;
    rec.replays = replays;
    rec.best = p.production();
    if (!order.empty()) set_pick(rec, grid[order[0]], coarse[order[0]]);
    IterationRecord inc = rec;
    finish_record(p, rec, res, ctx.cb);
    // (2) IS refinement around the best coarse point. Neighbouring grid cells lie within ±1σ.
    std::vector<double> a0 = inc.best;
    const double frac0 = std::max(opt.min_sigma, 0.5 / (o_.grid_points - 1));
    double frac = frac0;
    res.kernel_ref = box_cov(p, frac0);
    const bool live = o_.refine == "live";
    const ObjectiveSpec& spec = live ? p.objective() : sim_spec;
    std::vector<CandidateScore> scores;
    res.stop_reason = "iterations";
    for (int64_t t = 1; t < opt.iterations; ++t) {
      if (replays + opt.traffic > budget) {
        res.stop_reason = "budget";
        break;
      }
      Gaussian g = box_gaussian(p, a0, frac);
      Samples s;
      if (live) {
        s = live_iteration(p, Mixture(g), opt, t, ctx.holdout, res);
      } else {
        s = p.simulate_traffic(Mixture(g), opt.traffic, t);
        res.archive.emplace_back();  // simulator replays are not live traffic: nothing to pool
      }
      replays += opt.traffic;
      auto cands = trust_region_candidates(p, g, opt.candidates, opt.trust_radius, ctx.seed, 0, t);
      auto ranked = rank_candidates(s, spec, cands, g.cov(), opt.target_scale, is, scores);
      archive_ranked(res, cands, ranked);
      IterationRecord r = inc;
      r.iteration = t + 1;
      r.replays = replays;
      const CandidateScore& centre = scores[0];  // candidate 0 is a0 itself
      bool moved = false;
      if (!ranked.empty()) {
        const int b = ranked[0];
        double half = 0.5 * (scores[b].objective.hi - scores[b].objective.lo);
        if (!std::isfinite(centre.score) || scores[b].score > centre.score + half) {
          set_pick(r, cands[b], scores[b]);
          a0 = cands[b];
          frac = std::max(opt.min_sigma, frac * std::sqrt(o_.shrink));
          moved = true;
        } else {
          set_pick(r, a0, centre);  // refresh the centre's estimate on this iteration's traffic
        }
        inc = r;
      } else {
        r.ess = centre.ess;
      }
      finish_record(p, r, res, ctx.cb);
      if (!moved) {
        res.stop_reason = "converged";
        break;
      }
    }
    // (3) Simulator check of the pick against production (charged like any replay).
    if (replays + 2 * o_.sim_requests <= budget) {
      Samples a = p.simulate(res.best, o_.sim_requests), b = p.simulate(p.production(), o_.sim_requests);
      replays += 2 * o_.sim_requests;
      res.verify_simulated = score_candidate(a, unit_weights(a), p.objective(), is).objective.value;
      res.verify_production = score_candidate(b, unit_weights(b), p.objective(), is).objective.value;
      res.replays = replays;
    }
    return res;
  }

 private:
  static void set_pick(IterationRecord& rec, const std::vector<double>& x, const CandidateScore& sc) {
    rec.best = x;
    rec.estimate = sc.objective.value;
    rec.estimate_lo = sc.objective.lo;
    rec.estimate_hi = sc.objective.hi;
    rec.ess = sc.ess;
    rec.feasible = std::isfinite(sc.score);
  }
  SgisOptions o_;
};

const TunerRegistrar kSgis({
    .name = "sgis",
    .summary = "Simulator-guided IS: coarse simulator grid, then IS refinement on simulator replays (Paneri et al.)",
    .importance_sampling = true,
    .uses_simulator = true,
    .variants = {{"sgis", ""}, {"sgis_live", "refine = \"live\""}},
    .make = [](ConfigTable& t) -> std::shared_ptr<const Tuner> { return std::make_shared<Sgis>(SgisOptions::schema().parse(t)); },
    .doc = [] { return section_doc("tune", SgisOptions::schema()); },
});

}  // namespace
}  // namespace plexus::tune
