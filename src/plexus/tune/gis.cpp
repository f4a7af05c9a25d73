// GIS: Gaussian importance sampling, the baseline of Gorur et al. as described in AMIS §1 [P] (a single
// Gaussian proposal). The loop is our reconstruction (docs/tune.md "GIS baseline" [D]):
//   q_t = N(μ_t, Σ_t),  μ_0 = production θ0,  Σ_0 = diag(sigma · width)²
//   μ_{t+1} = argmax of the IS estimate over `candidates` points in the trust region
//             {(c − μ_t)ᵀ Σ_t⁻¹ (c − μ_t) ≤ r²}, all scored with the kernel N(c, target_scale² Σ_t)
//   Σ_{t+1} = shrink² Σ_t (floored at min_sigma)
// Its recommendation goes through the guarded final step (guard.h).
#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/tune/tuner_registry.h"

namespace plexus::tune {

namespace {

/// TOML section [gis].
struct GisOptions {
  double shrink = 1.0;
  static const OptionSchema<GisOptions>& schema() {
    static const auto s = OptionSchema<GisOptions>("gis").key(
        "shrink", &GisOptions::shrink, "Σ ← shrink² Σ after each iteration (1 = fixed Σ0)", "(0, 1]");
    return s;
  }
};

class Gis : public Tuner {
 public:
  explicit Gis(GisOptions o) : o_(o) {}

  TuneResult run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const override {
    TuneResult res;
    std::vector<double> mu = p.production();
    double frac = opt.sigma;
    const IsOptions is = opt.is_options(ctx.seed);
    const int64_t budget = opt.total_budget();
    res.kernel_ref = box_cov(p, opt.sigma);
    int64_t replays = 0;
    IterationRecord inc;
    inc.best = mu;
    std::vector<CandidateScore> scores;
    res.stop_reason = "iterations";
    for (int64_t t = 0; t < opt.iterations; ++t) {
      if (replays + opt.traffic > budget) {
        res.stop_reason = "budget";
        break;
      }
      Gaussian g = box_gaussian(p, mu, frac);
      Samples s = live_iteration(p, Mixture(g), opt, t, ctx.holdout, res);
      replays += opt.traffic;
      auto cands = trust_region_candidates(p, g, opt.candidates, opt.trust_radius, ctx.seed, 0, t);
      auto order = rank_candidates(s, p.objective(), cands, g.cov(), opt.target_scale, is, scores);
      archive_ranked(res, cands, order);
      IterationRecord rec = inc;
      rec.iteration = t + 1;
      rec.replays = replays;
      if (!order.empty()) {
        const CandidateScore& sc = scores[order[0]];
        rec.best = mu = cands[order[0]];
        rec.estimate = sc.objective.value;
        rec.estimate_lo = sc.objective.lo;
        rec.estimate_hi = sc.objective.hi;
        rec.ess = sc.ess;
        rec.feasible = true;
        inc = rec;
      } else {
        rec.ess = scores[0].ess;  // nothing feasible: keep the pick, report the centre's ESS
      }
      frac = std::max(opt.min_sigma, frac * o_.shrink);
      finish_record(p, rec, res, ctx.cb);
    }
    if (res.history.empty()) throw Error::config("[tuner] budget = {} is below one iteration of traffic = {}", budget, opt.traffic);
    return res;
  }

 private:
  GisOptions o_;
};

const TunerRegistrar kGis({
    .name = "gis",
    .summary = "Gaussian IS: one Gaussian proposal re-centred on the best IS estimate in a trust region (Gorur et al.)",
    .importance_sampling = true,
    .uses_simulator = false,
    .variants = {{"gis", ""}},
    .make = [](ConfigTable& t) -> std::shared_ptr<const Tuner> { return std::make_shared<Gis>(GisOptions::schema().parse(t)); },
    .doc = [] { return section_doc("tune", GisOptions::schema()); },
});

}  // namespace
}  // namespace plexus::tune
