// IS estimators against closed forms and against the simulator's exact expectation.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/tune/auction_problem.h"
#include "plexus/tune/importance_sampling.h"
#include "plexus/tune/replay.h"

using namespace plexus;
using namespace plexus::tune;

namespace {
// n draws from q with one KPI f(θ) = θ_0 (so E_p f is the target mean).
Samples gaussian_samples(const Mixture& q, int64_t n, uint64_t seed) {
  Samples s;
  s.dim = q.dim();
  s.kpi_names = {"f", "one"};
  s.theta.resize(n * s.dim);
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(seed, "test/is", static_cast<uint64_t>(i));
    double* x = s.theta.data() + i * s.dim;
    q.sample(rng, x);
    s.log_q.push_back(q.log_pdf(x));
    s.kpi.push_back(x[0]);
    s.kpi.push_back(1.0);
  }
  return s;
}
}  // namespace

TEST(ImportanceSampling, EssOfShiftedGaussianMatchesClosedForm) {
  // Proposal N(0, Σ), target N(δ, Σ): E_q[w²] = exp(δᵀΣ⁻¹δ), so ESS ≈ N exp(−δᵀΣ⁻¹δ) (docs/tune.md).
  const std::vector<double> sd = {0.2, 3.0};
  Mixture q(Gaussian::diagonal({0, 0}, sd));
  const int64_t n = 200000;
  auto s = gaussian_samples(q, n, 1);
  for (double shift : {0.5, 1.0}) {
    std::vector<double> delta = {shift * 0.6 * sd[0], shift * 0.8 * sd[1]};  // δᵀΣ⁻¹δ = shift²
    Weights w = importance_weights(s, Gaussian::diagonal(delta, sd), 0);
    double expected = n * std::exp(-shift * shift);
    EXPECT_NEAR(w.ess / expected, 1.0, 0.04) << "shift " << shift;
    EXPECT_NEAR(kish_ess(w.w), w.ess, 1e-6 * w.ess);
  }
}

TEST(ImportanceSampling, EssWithNarrowerTargetMatchesSpecFormula) {
  // 1-D: E_q[w²] = σ² / (s √(2σ² − s²)) · exp(δ² / (2σ² − s²)), and E_q[w] = 1.
  const double sigma = 1.0, s_t = 0.7, delta = 0.3;
  Mixture q(Gaussian::diagonal({0}, {sigma}));
  const int64_t n = 200000;
  auto s = gaussian_samples(q, n, 2);
  Weights w = importance_weights(s, Gaussian::diagonal({delta}, {s_t}), 0);
  double ew2 = sigma * sigma / (s_t * std::sqrt(2 * sigma * sigma - s_t * s_t)) * std::exp(delta * delta / (2 * sigma * sigma - s_t * s_t));
  EXPECT_NEAR(w.ess / (n / ew2), 1.0, 0.03);
  // Plain and self-normalized IS both recover the target mean δ.
  IsOptions plain, snis;
  plain.mode = IsMode::Plain;
  Estimate a = is_mean(s, w, 0, plain), b = is_mean(s, w, 0, snis);
  EXPECT_NEAR(a.value, delta, 4 * a.se);
  EXPECT_NEAR(b.value, delta, 4 * b.se);
  EXPECT_NEAR(is_mean(s, w, 1, plain).value, 1.0, 0.02);  // E_q[w] = 1
  EXPECT_DOUBLE_EQ(is_mean(s, w, 1, snis).value, 1.0);    // SNIS of a constant is exact
}

TEST(ImportanceSampling, MixtureDensityAndDeterministicMixtureWeights) {
  Gaussian a = Gaussian::diagonal({-1.0}, {0.5}), b = Gaussian::diagonal({2.0}, {1.0});
  Mixture q({0.25, 0.75}, {a, b});
  double x = 0.3;
  double expected = 0.25 * std::exp(a.log_pdf(&x)) + 0.75 * std::exp(b.log_pdf(&x));
  EXPECT_NEAR(std::exp(q.log_pdf(&x)), expected, 1e-14);
  // The full-mixture denominator gives an unbiased estimate of a target that one component covers.
  auto s = gaussian_samples(q, 100000, 3);
  Weights w = importance_weights(s, Gaussian::diagonal({1.5}, {0.6}), 0);
  IsOptions o;
  Estimate e = is_mean(s, w, 0, o);
  EXPECT_NEAR(e.value, 1.5, 4 * e.se);
  EXPECT_LT(e.se, 0.02);
}

TEST(ImportanceSampling, ClippingBootstrapAndSingularCovariance) {
  Mixture q(Gaussian::diagonal({0}, {1.0}));
  auto s = gaussian_samples(q, 20000, 4);
  Weights w = importance_weights(s, Gaussian::diagonal({1.5}, {1.0}), 5.0);
  EXPECT_GT(w.clipped, 0);
  for (double v : w.w) EXPECT_LE(v, 5.0);
  Weights full = importance_weights(s, Gaussian::diagonal({1.5}, {1.0}), 0);
  IsOptions delta, boot;
  boot.ci = CiMethod::Bootstrap;
  boot.bootstrap = 300;
  Estimate d = is_mean(s, full, 0, delta), b = is_mean(s, full, 0, boot);
  EXPECT_DOUBLE_EQ(d.value, b.value);
  EXPECT_NEAR(b.se / d.se, 1.0, 0.2);  // bootstrap and delta-method errors agree
  EXPECT_LT(b.lo, b.value);
  EXPECT_GT(b.hi, b.value);
  EXPECT_THROW(Gaussian({0, 0}, {1, 1, 1, 1}), Error);  // rank-1 Σ
  EXPECT_THROW(Gaussian({0, 0}, {1, 0, 0, 0}), Error);
  EXPECT_THROW(Gaussian::diagonal({0}, {0.0}), Error);
  EXPECT_THROW(Gaussian({0, 0}, {1, 0.5, 0.2, 1}), Error);  // not symmetric
}

TEST(ImportanceSampling, UnbiasedAgainstSimulatorExpectation) {
  // A 40-request log; exploration θ_i = α_i ~ N(1, 0.2²) with expected clicks (no click noise). The target
  // N(0.8, 0.1²) is 1σ away. Exact E_p[revenue per request] by a fine quadrature over α of full replays.
  MarketOptions m;
  m.requests = 40;
  m.seed = 11;
  auto log = std::make_shared<AuctionLog>(generate_market(m));
  AuctionProblemOptions a;
  a.params = {"alpha"};
  a.production = "alpha=1,reserve=0.1";
  a.sampled_clicks = false;
  a.oracle = false;
  ObjectiveOptions obj;
  obj.constrained = false;
  AuctionProblem p(log, a, obj, 5);
  const double mu_t = 0.8, s_t = 0.1;
  double exact = 0, mass = 0;
  const int G = 4001;
  for (int g = 0; g < G; ++g) {
    double x = mu_t - 7 * s_t + 14 * s_t * g / (G - 1);
    double wq = std::exp(-0.5 * (x - mu_t) * (x - mu_t) / (s_t * s_t)) * (g == 0 || g == G - 1 ? 0.5 : 1.0);
    exact += wq * p.oracle_kpis({x}).revenue / m.requests;
    mass += wq;
  }
  exact /= mass;
  Samples s = p.traffic(Mixture(Gaussian::diagonal({1.0}, {0.2})), 300000, 0);
  Weights w = importance_weights(s, Gaussian::diagonal({mu_t}, {s_t}), 0);
  IsOptions plain;
  plain.mode = IsMode::Plain;
  Estimate e = is_mean(s, w, s.kpi_index("revenue"), plain);
  EXPECT_NEAR(e.value, exact, 4 * e.se) << "exact " << exact << " se " << e.se;
  EXPECT_LT(e.se / exact, 0.01);
  IsOptions snis;
  Estimate e2 = is_mean(s, w, s.kpi_index("revenue"), snis);
  EXPECT_NEAR(e2.value, exact, 4 * e2.se);
  // RPM as a ratio with shared weights equals 1000 × SNIS mean revenue (requests column ≡ 1).
  Estimate r = is_ratio(s, w, s.kpi_index("revenue"), s.kpi_index("requests"), 1000.0, snis);
  EXPECT_NEAR(r.value, 1000 * e2.value, 1e-9 * r.value);
}
