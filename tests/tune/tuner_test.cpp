// Every tuner finds the known optimum of a smooth synthetic landscape; objective and infeasibility.
#include <gtest/gtest.h>

#include <memory>

#include "plexus/core/error.h"
#include "plexus/tune/auction_problem.h"
#include "plexus/tune/landscape.h"
#include "plexus/tune/tuner.h"

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
  o.traffic = 600;
  o.evals = 100;
  o.sigma = 0.1;
  return o;
}

struct Case {
  std::string method, variant, update;
  double tol;
};
// Readable parameter names in test logs.
void PrintTo(const Case& c, std::ostream* os) { *os << c.method << (c.variant.empty() ? "" : "/" + c.variant + "/" + c.update); }
}  // namespace

class TunerFindsOptimum : public ::testing::TestWithParam<Case> {};

TEST_P(TunerFindsOptimum, OnSmoothLandscape) {
  const Case& c = GetParam();
  LandscapeProblem p(smooth(), 3);
  TunerOptions o = base(c.method);
  if (!c.variant.empty()) o.variant = c.variant;
  if (!c.update.empty()) o.update = c.update;
  o.sim_requests = 100;  // SGIS: the 5×5 coarse grid costs 2,500 of the 9,000 replays
  TuneResult r = run_tuner(p, o, 3);
  ASSERT_FALSE(r.history.empty());
  EXPECT_LE(r.replays, o.total_budget());
  double start_regret = p.optimum_value() - p.true_value(p.production());
  EXPECT_GT(start_regret, 0.3);
  EXPECT_LT(r.history.back().regret, c.tol) << c.method << " ended at θ = (" << r.best[0] << ", " << r.best[1]
                                            << "), optimum at (" << p.global_mode()[0] << ", " << p.global_mode()[1] << ")";
  EXPECT_TRUE(r.history.back().found);
}

INSTANTIATE_TEST_SUITE_P(AllTuners, TunerFindsOptimum,
                         ::testing::Values(Case{"gis", "", "", 0.02}, Case{"sgis", "", "", 0.02},
                                           Case{"amis", "multi_modal", "pcu", 0.02}, Case{"amis", "multi_modal", "gu", 0.02},
                                           Case{"amis", "multi_variance", "pcu", 0.02}, Case{"amis", "multi_variance", "gu", 0.02},
                                           Case{"random", "", "", 0.05}, Case{"grid", "", "", 0.05}, Case{"cem", "", "", 0.02}),
                         [](const auto& info) {
                           return info.param.method + (info.param.variant.empty() ? "" : "_" + info.param.variant + "_" + info.param.update);
                         });

TEST(Tuner, SameSeedSameResult) {
  LandscapeProblem p1(smooth(), 9), p2(smooth(), 9);
  TunerOptions o = base("amis");
  auto a = run_tuner(p1, o, 9), b = run_tuner(p2, o, 9);
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
  auto r = run_tuner(p, o, 1);
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
  auto r = run_tuner(p, o, 1);
  EXPECT_FALSE(r.any_feasible);
  EXPECT_EQ(r.best, p.production());
}
