// Black-box baselines on equal replay budgets (docs/tune.md): random search, grid search and the
// cross-entropy method (CEM; Rubinstein 1999). Each candidate is served live on `evals` requests at
// exactly its θ and scored with unit weights by the same constrained objective as the IS tuners.
#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/tune/tuner_registry.h"

namespace plexus::tune {

namespace {
/// The black-box part shared by [random], [grid] and [cem].
struct BlackBoxOptions {
  int64_t evals = 200;
  int64_t population = 16;
  /// Its keys, included by each section below.
  static const OptionSchema<BlackBoxOptions>& keys() {
    static const auto s = OptionSchema<BlackBoxOptions>("black-box")
                              .key("evals", &BlackBoxOptions::evals, "requests per black-box evaluation of one candidate", ">= 1")
                              .key("population", &BlackBoxOptions::population, "candidates per iteration (one metrics row each)", ">= 2");
    return s;
  }
  int64_t planned_iterations(const TunerOptions& opt) const { return std::max<int64_t>(1, opt.total_budget() / (evals * population)); }
};

struct Evaluated {
  std::vector<double> x;
  CandidateScore score;
};

Evaluated evaluate_one(Problem& p, const std::vector<double>& x, const BlackBoxOptions& o, const IsOptions& is, int64_t t, int64_t id) {
  Samples s = p.evaluate(x, o.evals, t, id);
  return {x, score_candidate(s, unit_weights(s), p.objective(), is)};
}

void set_from(IterationRecord& rec, const Evaluated& e, double n) {
  rec.best = e.x;
  rec.estimate = e.score.objective.value;
  rec.estimate_lo = e.score.objective.lo;
  rec.estimate_hi = e.score.objective.hi;
  rec.ess = n;
  rec.feasible = std::isfinite(e.score.score);
}

// Evaluate `points` in batches of `population`, keeping the best feasible one as the incumbent.
TuneResult run_points(Problem& p, const std::vector<std::vector<double>>& points, const TunerOptions& opt, const BlackBoxOptions& o,
                      uint64_t seed, const IterationCallback& cb) {
  TuneResult res;
  const IsOptions is = opt.is_options(seed);
  const int64_t budget = opt.total_budget();
  int64_t replays = 0, id = 0;
  IterationRecord inc;
  inc.best = p.production();
  double best = -INFINITY;
  res.stop_reason = "points";
  for (int64_t t = 0; id < static_cast<int64_t>(points.size()); ++t) {
    if (replays + o.evals > budget) {
      res.stop_reason = "budget";
      break;
    }
    for (int64_t k = 0; k < o.population && id < static_cast<int64_t>(points.size()) && replays + o.evals <= budget; ++k, ++id) {
      Evaluated e = evaluate_one(p, points[id], o, is, t, id);
      replays += o.evals;
      if (e.score.score > best) {
        best = e.score.score;
        set_from(inc, e, static_cast<double>(o.evals));
      }
    }
    IterationRecord rec = inc;
    rec.iteration = t + 1;
    rec.replays = replays;
    finish_record(p, rec, res, cb);
  }
  if (res.history.empty()) throw Error::config("[tuner] budget = {} is below one evaluation of evals = {} requests", budget, o.evals);
  return res;
}
/// Random search: uniform points in the box.
class RandomSearch : public Tuner {
 public:
  explicit RandomSearch(BlackBoxOptions o) : o_(o) {}
  TuneResult run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const override;
  int64_t planned_iterations(const TunerOptions& opt) const override { return o_.planned_iterations(opt); }

 private:
  BlackBoxOptions o_;
};

TuneResult RandomSearch::run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const {
  const uint64_t seed = ctx.seed;
  const int d = p.dim();
  const auto lo = p.lower(), w = box_widths(p);
  const int64_t n = opt.total_budget() / o_.evals;
  std::vector<std::vector<double>> pts;
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(seed, "random_search", static_cast<uint64_t>(i));
    std::vector<double> x(d);
    for (int j = 0; j < d; ++j) x[j] = lo[j] + w[j] * rng.uniform();
    pts.push_back(x);
  }
  return run_points(p, pts, opt, o_, seed, ctx.cb);
}

/// Grid search: the finest full grid the budget pays for, visited in a random order so any prefix covers
/// the box.
class GridSearch : public Tuner {
 public:
  explicit GridSearch(BlackBoxOptions o) : o_(o) {}
  TuneResult run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const override;
  int64_t planned_iterations(const TunerOptions& opt) const override { return o_.planned_iterations(opt); }

 private:
  BlackBoxOptions o_;
};

TuneResult GridSearch::run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const {
  const uint64_t seed = ctx.seed;
  const int d = p.dim();
  const auto lo = p.lower(), w = box_widths(p);
  const int64_t n = std::max<int64_t>(1, opt.total_budget() / o_.evals);
  int64_t g = std::max<int64_t>(2, static_cast<int64_t>(std::floor(std::pow(static_cast<double>(n), 1.0 / d) + 1e-9)));
  int64_t total = 1;
  for (int i = 0; i < d; ++i) total *= g;
  std::vector<std::vector<double>> pts;
  for (int64_t t = 0; t < total; ++t) {
    std::vector<double> x(d);
    int64_t r = t;
    for (int i = 0; i < d; ++i) {
      x[i] = lo[i] + w[i] * static_cast<double>(r % g) / (g - 1);
      r /= g;
    }
    pts.push_back(x);
  }
  Rng rng(seed, "grid_search/order");
  rng.shuffle(pts);
  return run_points(p, pts, opt, o_, seed, ctx.cb);
}

/// TOML sections [random] and [grid]: the black-box keys alone.
template <const char* Section>
struct SearchOptions : BlackBoxOptions {
  static const OptionSchema<SearchOptions>& schema() {
    static const auto s = OptionSchema<SearchOptions>(Section).include_base(BlackBoxOptions::keys());
    return s;
  }
};
constexpr char kRandomName[] = "random";
constexpr char kGridName[] = "grid";

/// TOML section [cem].
struct CemOptions {
  BlackBoxOptions box;
  double elite_frac = 0.25;
  double sigma = 0.3;
  static const OptionSchema<CemOptions>& schema() {
    static const auto s = OptionSchema<CemOptions>("cem")
                              .include(&CemOptions::box, BlackBoxOptions::keys())
                              .key("elite_frac", &CemOptions::elite_frac, "elite fraction refit each round", "(0, 1)")
                              .key("sigma", &CemOptions::sigma, "initial sd (fraction of box width)", "(0, 1]");
    return s;
  }
};

/// CEM: x ~ N(m, diag s²) clamped to the box; refit m, s on the elite fraction (floored at min_sigma).
/// The recommendation is the mean m, whose estimate is the elite's mean score.
class Cem : public Tuner {
 public:
  explicit Cem(CemOptions c) : c_(c) {}
  TuneResult run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const override;
  int64_t planned_iterations(const TunerOptions& opt) const override { return c_.box.planned_iterations(opt); }

 private:
  CemOptions c_;
};

TuneResult Cem::run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const {
  TuneResult res;
  const uint64_t seed = ctx.seed;
  const BlackBoxOptions& o = c_.box;
  const int d = p.dim();
  const auto w = box_widths(p);
  const IsOptions is = opt.is_options(seed);
  const int64_t budget = opt.total_budget();
  std::vector<double> m = p.production(), sd(d);
  for (int i = 0; i < d; ++i) sd[i] = c_.sigma * w[i];
  int64_t replays = 0, id = 0;
  res.stop_reason = "budget";
  for (int64_t t = 0; replays + o.population * o.evals <= budget; ++t) {
    std::vector<Evaluated> pop;
    for (int64_t k = 0; k < o.population; ++k, ++id) {
      Rng rng(seed, "cem/sample", static_cast<uint64_t>(k), static_cast<uint64_t>(t));
      std::vector<double> x(d);
      for (int i = 0; i < d; ++i) x[i] = m[i] + sd[i] * rng.normal();
      clamp_to_box(p, x);
      pop.push_back(evaluate_one(p, x, o, is, t, id));
      replays += o.evals;
    }
    std::stable_sort(pop.begin(), pop.end(), [](auto& a, auto& b) { return a.score.score > b.score.score; });
    const std::size_t ne = std::max<std::size_t>(2, static_cast<std::size_t>(std::ceil(c_.elite_frac * pop.size())));
    std::size_t feasible = 0;
    while (feasible < ne && std::isfinite(pop[feasible].score.score)) ++feasible;
    IterationRecord rec;
    rec.iteration = t + 1;
    rec.replays = replays;
    rec.ess = static_cast<double>(o.evals);
    if (feasible >= 1) {
      double est = 0;
      for (int i = 0; i < d; ++i) {
        double mu = 0, var = 0;
        for (std::size_t e = 0; e < feasible; ++e) mu += pop[e].x[i] / feasible;
        for (std::size_t e = 0; e < feasible; ++e) var += (pop[e].x[i] - mu) * (pop[e].x[i] - mu) / feasible;
        m[i] = mu;
        sd[i] = std::max(std::sqrt(var), opt.min_sigma * w[i]);
      }
      for (std::size_t e = 0; e < feasible; ++e) est += pop[e].score.objective.value / feasible;
      rec.estimate = est;
      rec.feasible = true;
    }
    rec.best = m;
    finish_record(p, rec, res, ctx.cb);
  }
  if (res.history.empty()) throw Error::config("[tuner] budget = {} is below one CEM population ({} × {} requests)", budget, o.population, o.evals);
  return res;
}

const TunerRegistrar kRandom({
    .name = "random",
    .summary = "Random search: uniform points in the box, each served live on `evals` requests",
    .importance_sampling = false,
    .uses_simulator = false,
    .variants = {{"random", ""}},
    .make = [](ConfigTable& t) -> std::shared_ptr<const Tuner> { return std::make_shared<RandomSearch>(SearchOptions<kRandomName>::schema().parse(t)); },
    .doc = [] { return section_doc("tune", SearchOptions<kRandomName>::schema()); },
});

const TunerRegistrar kGrid({
    .name = "grid",
    .summary = "Grid search: the finest grid the budget pays for, in random order, each point served live on `evals` requests",
    .importance_sampling = false,
    .uses_simulator = false,
    .variants = {{"grid", ""}},
    .make = [](ConfigTable& t) -> std::shared_ptr<const Tuner> { return std::make_shared<GridSearch>(SearchOptions<kGridName>::schema().parse(t)); },
    .doc = [] { return section_doc("tune", SearchOptions<kGridName>::schema()); },
});

const TunerRegistrar kCem({
    .name = "cem",
    .summary = "Cross-entropy method: a diagonal Gaussian from production refit on its elite (Rubinstein 1999)",
    .importance_sampling = false,
    .uses_simulator = false,
    .variants = {{"cem", ""}},
    .make = [](ConfigTable& t) -> std::shared_ptr<const Tuner> { return std::make_shared<Cem>(CemOptions::schema().parse(t)); },
    .doc = [] { return section_doc("tune", CemOptions::schema()); },
});

}  // namespace

}  // namespace plexus::tune
