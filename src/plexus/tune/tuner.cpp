#include "plexus/tune/tuner.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::tune {

TunerOptions TunerOptions::parse(ConfigTable& t) {
  TunerOptions o;
  t.get_choice("method", o.method, {"gis", "sgis", "amis", "random", "grid", "cem"});
  t.get("iterations", o.iterations);
  t.get("traffic", o.traffic);
  t.get("budget", o.budget);
  t.get("sigma", o.sigma);
  t.get("min_sigma", o.min_sigma);
  t.get("candidates", o.candidates);
  t.get("trust_radius", o.trust_radius);
  t.get("target_scale", o.target_scale);
  t.get("shrink", o.shrink);
  t.get_choice("is_mode", o.is_mode, {"plain", "self_normalized"});
  t.get("clip", o.clip);
  t.get_choice("ci", o.ci, {"delta", "bootstrap"});
  t.get("bootstrap", o.bootstrap);
  t.get("grid_points", o.grid_points);
  t.get("sim_requests", o.sim_requests);
  t.get("top_m", o.top_m);
  t.get("sgis_shrink", o.sgis_shrink);
  t.get("components", o.components);
  t.get_choice("variant", o.variant, {"multi_modal", "multi_variance"});
  t.get_choice("update", o.update, {"gu", "pcu"});
  t.get("pi_min", o.pi_min);
  t.get("epsilon", o.epsilon);
  t.get("temperature", o.temperature);
  t.get("top_frac", o.top_frac);
  t.get("cluster_radius", o.cluster_radius);
  t.get("spread", o.spread);
  t.get("reseed_after", o.reseed_after);
  t.get("evals", o.evals);
  t.get("population", o.population);
  t.get("elite_frac", o.elite_frac);
  t.get("cem_sigma", o.cem_sigma);
  t.require(o.iterations >= 1, "iterations", "must be >= 1");
  t.require(o.traffic >= 10, "traffic", "must be >= 10 requests per iteration");
  t.require(o.budget >= 0, "budget", "must be >= 0 (0 = iterations × traffic)");
  t.require(o.sigma > 0 && o.sigma <= 1, "sigma", "must be in (0, 1] (a fraction of the box width; 0 makes Σ singular)");
  t.require(o.min_sigma > 0 && o.min_sigma <= o.sigma, "min_sigma", "must be in (0, sigma]");
  // Every candidate is scored over the whole iteration's traffic (and held in memory): 1e5 × traffic is
  // already hours, 1e9 exhausts memory before the first iteration.
  t.require(o.candidates >= 1 && o.candidates <= 100000, "candidates", "must be in [1, 100000]");
  t.require(o.trust_radius > 0, "trust_radius", "must be > 0");
  t.require(o.target_scale > 0 && o.target_scale < std::sqrt(2.0), "target_scale",
            "must be in (0, √2): a target wider than √2 σ gives IS weights infinite variance");
  t.require(o.shrink > 0 && o.shrink <= 1, "shrink", "must be in (0, 1]");
  t.require(o.clip >= 0, "clip", "must be >= 0 (0 = no clipping)");
  t.require(o.bootstrap >= 10, "bootstrap", "must be >= 10");
  t.require(o.grid_points >= 2 && o.grid_points <= 100, "grid_points", "must be in [2, 100]");
  t.require(o.sim_requests >= 1, "sim_requests", "must be >= 1");
  t.require(o.top_m >= 1, "top_m", "must be >= 1");
  t.require(o.sgis_shrink > 0 && o.sgis_shrink <= 1, "sgis_shrink", "must be in (0, 1]");
  t.require(o.components >= 1 && o.components <= 16, "components", "must be in [1, 16]");
  t.require(o.pi_min >= 0 && o.pi_min * o.components < 1, "pi_min", "must be >= 0 with pi_min × components < 1");
  t.require(o.epsilon >= 0 && o.epsilon <= 1, "epsilon", "must be in [0, 1]");
  t.require(o.temperature > 0, "temperature", "must be > 0");
  t.require(o.top_frac > 0 && o.top_frac <= 1, "top_frac", "must be in (0, 1]");
  t.require(o.cluster_radius > 0, "cluster_radius", "must be > 0");
  t.require(o.spread >= 1, "spread", "must be >= 1");
  t.require(o.reseed_after >= 1, "reseed_after", "must be >= 1");
  t.require(o.evals >= 1, "evals", "must be >= 1");
  t.require(o.population >= 2, "population", "must be >= 2");
  t.require(o.elite_frac > 0 && o.elite_frac < 1, "elite_frac", "must be in (0, 1)");
  t.require(o.cem_sigma > 0 && o.cem_sigma <= 1, "cem_sigma", "must be in (0, 1]");
  t.finish();
  return o;
}

IsOptions TunerOptions::is_options(uint64_t seed) const {
  IsOptions o;
  o.mode = is_mode == "plain" ? IsMode::Plain : IsMode::SelfNormalized;
  o.clip = clip;
  o.ci = ci == "bootstrap" ? CiMethod::Bootstrap : CiMethod::Delta;
  o.bootstrap = static_cast<int>(bootstrap);
  o.seed = seed;
  return o;
}

TuneResult run_tuner(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb) {
  if (opt.method == "gis") return run_gis(p, opt, seed, cb);
  if (opt.method == "sgis") return run_sgis(p, opt, seed, cb);
  if (opt.method == "amis") return run_amis(p, opt, seed, cb);
  if (opt.method == "random") return run_random_search(p, opt, seed, cb);
  if (opt.method == "grid") return run_grid_search(p, opt, seed, cb);
  if (opt.method == "cem") return run_cem(p, opt, seed, cb);
  throw Error::config("[tuner] method = '{}' is unknown (gis, sgis, amis, random, grid, cem)", opt.method);
}

std::vector<double> box_widths(const Problem& p) {
  auto lo = p.lower(), hi = p.upper();
  std::vector<double> w(lo.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = hi[i] - lo[i];
  return w;
}

void clamp_to_box(const Problem& p, std::vector<double>& x) {
  auto lo = p.lower(), hi = p.upper();
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::clamp(x[i], lo[i], hi[i]);
}

Gaussian box_gaussian(const Problem& p, const std::vector<double>& mean, double frac) {
  auto w = box_widths(p);
  for (double& v : w) v *= frac;
  return Gaussian::diagonal(mean, w);
}

std::vector<std::vector<double>> trust_region_candidates(const Problem& p, const Gaussian& g, int64_t n, double r,
                                                         uint64_t seed, uint64_t stream, int64_t iteration) {
  const int d = g.dim();
  std::vector<std::vector<double>> out;
  out.push_back(g.mean());
  clamp_to_box(p, out.back());
  Rng rng(seed, "tune/candidates", stream, static_cast<uint64_t>(iteration));
  std::vector<double> z(d), x(d);
  for (int64_t k = 1; k < n; ++k) {
    // Uniform in the unit ball: Gaussian direction, radius U^{1/d}; then mapped through L.
    double norm = 0;
    for (double& v : z) {
      v = rng.normal();
      norm += v * v;
    }
    double scale = r * std::pow(rng.uniform(), 1.0 / d) / std::max(std::sqrt(norm), 1e-300);
    for (double& v : z) v *= scale;
    g.transform(z.data(), x.data());
    clamp_to_box(p, x);
    out.push_back(x);
  }
  return out;
}

CandidateScore score_is(const Samples& s, const Problem& p, const std::vector<double>& x, const std::vector<double>& cov_ref,
                        double target_scale, const IsOptions& is) {
  std::vector<double> cov = cov_ref;
  for (double& v : cov) v *= target_scale * target_scale;
  Gaussian target(x, cov);
  Weights w = importance_weights(s, target, is.clip);
  return score_candidate(s, w, p.objective(), is);
}

void finish_record(Problem& p, IterationRecord& rec, TuneResult& res, const IterationCallback& cb) {
  rec.true_value = p.true_value(rec.best);
  rec.regret = p.optimum_value() - rec.true_value;
  rec.found = p.in_global_mode(rec.best);
  res.history.push_back(rec);
  res.best = rec.best;
  res.estimate = rec.estimate;
  res.replays = rec.replays;
  if (rec.feasible) res.any_feasible = true;
  if (cb) cb(rec);
}

}  // namespace plexus::tune
