// Every tuner finds the known optimum of a smooth synthetic landscape; objective and infeasibility.
#include <gtest/gtest.h>

#include <memory>

#include "plexus/core/error.h"
#include "plexus/tune/auction_problem.h"
#include "plexus/tune/landscape.h"
#include "plexus/tune/tuner_registry.h"

using namespace plexus;
using namespace plexus::tune;

namespace {
LandscapeOptions smooth() {
  LandscapeOptions l;
  l.kind = "bumps";
  l.dim = 2;
  l.modes = 1;       // one broad bump: a smooth landscape with a single known optimum (F* ≈ 1)
  l.width = 0.25;
  l.noise = 0.05;
  l.production = 0.45;
  return l;
}

TunerOptions base(const std::string& method) {
  TunerOptions o;
  o.method = method;
  o.iterations = 15;
  // 800 requests: with the defensive share (10% at production) the guard's held-out confirmation near the
  // optimum still reaches its ESS floor of 30 for every variant.
  o.traffic = 800;
  o.sigma = 0.1;
  return o;
}

// Run a bench variant of a registered tuner (its section keys from the registry, plus `extra`), guarded
// by default options.
TuneResult run_variant(Problem& p, const TunerVariant& v, const TunerOptions& o, uint64_t seed, const std::string& extra = "",
                       const GuardOptions& g = {}) {
  auto tuner = make_tuner(v.info->name, v.overrides + "\n" + extra);
  return run_tuner(p, *v.info, *tuner, o, g, seed);
}

// Readable parameter names in test logs.
std::string label(const ::testing::TestParamInfo<TunerVariant>& info) { return info.param.label; }
}  // namespace

namespace plexus::tune {
void PrintTo(const TunerVariant& v, std::ostream* os) { *os << v.label; }
}  // namespace plexus::tune

// Every bench variant of every registered tuner (the list comes from the registry).
class TunerFindsOptimum : public ::testing::TestWithParam<TunerVariant> {};

TEST_P(TunerFindsOptimum, OnSmoothLandscape) {
  const TunerVariant& v = GetParam();
  // Black-box random and grid search only sample the box: they land within a grid cell of the peak.
  const double tol = v.info->name == "random" || v.info->name == "grid" ? 0.05 : 0.02;
  LandscapeProblem p(smooth(), 3);
  TunerOptions o = base(v.info->name);
  // Baselines: 100 requests per candidate; SGIS: the 5×5 coarse grid costs 2,500 of the 12,000 replays.
  std::string extra = v.info->name == "sgis" ? "sim_requests = 100" : (v.info->importance_sampling ? "" : "evals = 100");
  TuneResult r = run_variant(p, v, o, 3, extra);
  ASSERT_FALSE(r.history.empty());
  EXPECT_LE(r.replays, o.total_budget());
  double start_regret = p.optimum_value() - p.true_value(p.production());
  EXPECT_GT(start_regret, 0.3);
  EXPECT_LT(r.history.back().regret, tol) << v.label << " ended at θ = (" << r.best[0] << ", " << r.best[1]
                                          << "), optimum at (" << p.global_mode()[0] << ", " << p.global_mode()[1] << ")"
                                          << (r.guard.ran ? "; guard: " + (r.guard.shipped ? std::string("shipped") : r.guard.reason) : "");
  EXPECT_TRUE(r.history.back().found);
  if (v.info->importance_sampling) {  // the guard ran, shipped the gain and said so
    EXPECT_TRUE(r.guard.ran);
    EXPECT_TRUE(r.guard.shipped);
    EXPECT_EQ(r.history.back().stage, "final");
    ASSERT_FALSE(r.guard.kpis.empty());
    EXPECT_GT(r.guard.kpis[0].gain_lo, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTuners, TunerFindsOptimum, ::testing::ValuesIn(tuner_variants()), label);

TEST(TunerRegistry, NamesAreUniqueAndUnknownOnesSuggestTheNearest) {
  auto names = tuner_names();
  ASSERT_GE(names.size(), 6u);
  for (std::size_t i = 1; i < names.size(); ++i) EXPECT_LT(names[i - 1], names[i]);  // sorted, hence unique
  try {
    find_tuner("amsi");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("did you mean 'amis'"), std::string::npos) << e.what();
  }
  try {
    make_tuner("amis", "componentz = 2");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("components"), std::string::npos) << e.what();
  }
}

TEST(Tuner, SameSeedSameResult) {
  LandscapeProblem p1(smooth(), 9), p2(smooth(), 9);
  TunerOptions o = base("amis");
  auto v = find_variant("amis");
  auto a = run_variant(p1, v, o, 9), b = run_variant(p2, v, o, 9);
  ASSERT_EQ(a.history.size(), b.history.size());
  EXPECT_EQ(a.best, b.best);
  EXPECT_EQ(a.history.back().estimate, b.history.back().estimate);
}

TEST(Tuner, RastriginGlobalModeTest) {
  LandscapeOptions l;
  l.kind = "rastrigin";
  l.dim = 2;
  LandscapeProblem p(l, 1);
  EXPECT_NEAR(p.true_value(p.global_mode()), 1.0, 1e-12);
  EXPECT_TRUE(p.in_global_mode(p.global_mode()));
  EXPECT_FALSE(p.in_global_mode(p.production()));
  auto x = p.global_mode();
  x[0] += 0.25;  // one ripple away (z = 1): a local optimum, not the global mode
  EXPECT_FALSE(p.in_global_mode(x));
  EXPECT_LT(p.true_value(x), 1.0);
}

TEST(Objective, ConstraintsJudgedOnLowerBound) {
  // Three requests' KPIs; unit weights. clicks mean 0.2 with a wide CI: feasible on the estimate, not the bound.
  Samples s;
  s.dim = 1;
  s.kpi_names = {"requests", "revenue", "clicks"};
  s.theta = {0, 0, 0};
  s.log_q = {0, 0, 0};
  s.kpi = {1, 0.1, 0.0, 1, 0.2, 0.2, 1, 0.3, 0.4};
  ObjectiveSpec spec;
  spec.objective = {1, 0, 1000.0};
  spec.constraints.push_back({"clicks", {2, 0, 1.0}, 0.19});
  spec.ess_min = 1;
  spec.ess_frac = 0;
  IsOptions o;
  auto w = unit_weights(s);
  spec.judge_lower_bound = false;
  auto c1 = score_candidate(s, w, spec, o);
  EXPECT_TRUE(c1.feasible);
  EXPECT_NEAR(c1.score, 200.0, 1e-9);  // RPM = 1000 × 0.6 / 3
  spec.judge_lower_bound = true;
  auto c2 = score_candidate(s, w, spec, o);
  EXPECT_FALSE(c2.feasible);
  EXPECT_FALSE(std::isfinite(c2.score));
  spec.ess_min = 10;  // ESS = 3 < 10: rejected even without constraints
  spec.constraints.clear();
  EXPECT_FALSE(score_candidate(s, w, spec, o).ess_ok);
}

TEST(Tuner, AuctionGisImprovesOnProductionAndRespectsConstraints) {
  MarketOptions m;
  m.requests = 3000;
  auto log = std::make_shared<AuctionLog>(generate_market(m));
  AuctionProblemOptions a;
  a.oracle_grid = 21;
  ObjectiveOptions obj;
  AuctionProblem p(log, a, obj, 1);
  double prod = p.true_value(p.production());
  EXPECT_GE(p.optimum_value(), prod);
  TunerOptions o = base("gis");
  o.traffic = 2000;
  o.iterations = 8;
  auto r = run_variant(p, find_variant("gis"), o, 1);
  EXPECT_GE(r.history.back().true_value, prod);  // an infeasible pick is worth production, never less
  Kpis k = p.oracle_kpis(r.best);
  if (r.history.back().true_value > prod) {
    EXPECT_GE(k.clicks, 0.95 * p.production_kpis().clicks * (1 - 1e-9));
    EXPECT_GE(k.quality, 0.95 * p.production_kpis().quality * (1 - 1e-9));
  }
}

TEST(Tuner, ImpossibleConstraintsAreReportedInfeasible) {
  MarketOptions m;
  m.requests = 2000;
  auto log = std::make_shared<AuctionLog>(generate_market(m));
  AuctionProblemOptions a;
  a.oracle = false;
  ObjectiveOptions obj;
  obj.max_click_drop = 0;  // clicks may not drop at all, judged at the lower confidence bound,
  obj.max_quality_drop = 0;  // with sampled clicks: no candidate can prove it
  AuctionProblem p(log, a, obj, 1);
  TunerOptions o = base("gis");
  o.iterations = 3;
  o.traffic = 300;
  auto r = run_variant(p, find_variant("gis"), o, 1);
  EXPECT_FALSE(r.any_feasible);
  EXPECT_EQ(r.best, p.production());
  EXPECT_FALSE(r.guard.shipped);
  EXPECT_NE(r.guard.reason.find("no candidate"), std::string::npos) << r.guard.reason;
}
