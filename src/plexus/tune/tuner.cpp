#include "plexus/tune/tuner.h"

#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/tune/tuner_registry.h"

namespace plexus::tune {

const OptionSchema<TunerOptions>& TunerOptions::schema() {
  using T = TunerOptions;
  static const auto s =
      OptionSchema<T>("tuner")
          .key("method", &T::method, "the tuner; its own section holds its keys", Allowed::choices(tuner_names, "a registered tuner (`plexus tune methods`)"))
          .key("iterations", &T::iterations, "iteration cap", ">= 1")
          .key("traffic", &T::traffic, "randomized requests per IS iteration (N)", ">= 10")
          .key("budget", &T::budget, "total replays; 0 = iterations × traffic", ">= 0")
          .key("sigma", &T::sigma, "initial proposal sd (fraction of box width; 0 makes Σ singular)", "(0, 1]")
          .key("min_sigma", &T::min_sigma, "floor on proposal sd (fraction of box width, <= sigma)", "(0, 1]")
          // Every candidate is scored over the whole iteration's traffic and held in memory: 1e5 × traffic is
          // already hours, 1e9 exhausts memory before the first iteration.
          .key("candidates", &T::candidates, "IS candidates per proposal component per iteration", "[1, 100000]")
          .key("trust_radius", &T::trust_radius, "candidates lie within this Mahalanobis radius of their centre", "> 0")
          // A target wider than √2 σ gives IS weights infinite variance.
          .key("target_scale", &T::target_scale, "smoothing kernel S = target_scale² Σ_ref", "(0, 1.4142135]")
          .key("is_mode", &T::is_mode, "IS estimator", one_of({"plain", "self_normalized"}))
          .key("clip", &T::clip, "weight cap (0 = none)", ">= 0")
          .key("ci", &T::ci, "confidence intervals by the delta method or the bootstrap", one_of({"delta", "bootstrap"}))
          .key("bootstrap", &T::bootstrap, "bootstrap resamples when ci = \"bootstrap\"", ">= 10")
          // Production keeps support in every iteration, so the guard can compare a finalist with θ0 on any
          // iteration's traffic (docs/tune.md, defensive mixture).
          .key("defensive", &T::defensive, "share of live traffic drawn from N(θ0, Σ0) (defensive mixture; 0 = off)", "[0, 1)");
  return s;
}

TunerOptions TunerOptions::parse(ConfigTable& t) {
  TunerOptions o = schema().parse(t);
  t.require(o.min_sigma <= o.sigma, "min_sigma", "must be <= sigma");
  t.require(o.target_scale < std::sqrt(2.0), "target_scale", "must be < √2: a target wider than √2 σ gives IS weights infinite variance");
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

std::vector<double> box_cov(const Problem& p, double frac) {
  auto w = box_widths(p);
  const std::size_t d = w.size();
  std::vector<double> c(d * d, 0.0);
  for (std::size_t i = 0; i < d; ++i) c[i * d + i] = (frac * w[i]) * (frac * w[i]);
  return c;
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

CandidateScore score_is(const Samples& s, const ObjectiveSpec& spec, const std::vector<double>& x, const std::vector<double>& cov_ref,
                        double target_scale, const IsOptions& is) {
  std::vector<double> cov = cov_ref;
  for (double& v : cov) v *= target_scale * target_scale;
  Gaussian target(x, cov);
  Weights w = importance_weights(s, target, is.clip);
  return score_candidate(s, w, spec, is);
}

std::vector<int> rank_candidates(const Samples& s, const ObjectiveSpec& spec, const std::vector<std::vector<double>>& cands,
                                 const std::vector<double>& cov_ref, double target_scale, const IsOptions& is,
                                 std::vector<CandidateScore>& scores) {
  scores.clear();
  std::vector<int> order;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    scores.push_back(score_is(s, spec, cands[i], cov_ref, target_scale, is));
    if (std::isfinite(scores.back().score)) order.push_back(static_cast<int>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a].score > scores[b].score; });
  return order;
}

Mixture defensive_mixture(const Mixture& q, double lambda, const Gaussian& d) {
  if (!(lambda >= 0 && lambda < 1)) throw Error::config("defensive share {} must lie in [0, 1)", lambda);
  if (lambda == 0) return q;
  if (d.dim() != q.dim())
    throw Error::config("defensive component has dimension {}, the proposal {}", d.dim(), q.dim());
  std::vector<double> w;
  for (double v : q.weights()) w.push_back((1 - lambda) * v);
  w.push_back(lambda);
  std::vector<Gaussian> comps = q.components();
  comps.push_back(d);
  return Mixture(std::move(w), std::move(comps));
}

Samples live_iteration(Problem& p, const Mixture& q, const TunerOptions& opt, int64_t iteration, double holdout,
                       TuneResult& res) {
  const int64_t n = opt.traffic;
  const Mixture served = defensive_mixture(q, opt.defensive, Gaussian(p.production(), box_cov(p, opt.sigma)));
  Samples all = p.traffic(served, n, iteration);
  const int64_t h = static_cast<int64_t>(std::floor(holdout * static_cast<double>(n)));
  IterationArchive a;
  a.q = served;
  // Requests are i.i.d. draws from q, so the last h rows are as random a slice as any.
  a.used = all.slice(0, n - h);
  a.holdout = all.slice(n - h, n);
  res.archive.push_back(std::move(a));
  return res.archive.back().used;
}

void archive_ranked(TuneResult& res, const std::vector<std::vector<double>>& cands, const std::vector<int>& order) {
  PLEXUS_CHECK(!res.archive.empty(), "archive_ranked before any archived iteration");
  auto& r = res.archive.back().ranked;
  r.clear();
  for (std::size_t k = 0; k < std::min<std::size_t>(order.size(), 16); ++k) r.push_back(cands[order[k]]);
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
