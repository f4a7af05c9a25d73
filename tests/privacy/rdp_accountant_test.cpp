// Tests of the RDP accountant against closed forms, published numbers of other accountants and invariants.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "plexus/core/error.h"
#include "plexus/privacy/rdp_accountant.h"

using namespace plexus;
using namespace plexus::privacy;

namespace {

// Orders of TF-Privacy's MNIST tutorial and of Opacus' RDPAccountant.DEFAULT_ALPHAS:
// [1 + x/10 for x in 1..99] + [12..63].
std::vector<double> tf_opacus_orders() {
  std::vector<double> o;
  for (int x = 1; x < 100; ++x) o.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) o.push_back(a);
  return o;
}

// A_α = E_{z~N(0,σ²)}[((1−q) + q·exp((2z−1)/(2σ²)))^α] by the trapezoid rule on [−40σ, 40σ+α/σ²]
// (the integrand's mass is near 0 and near α/σ² shifted; 400k points): an independent path to the
// Poisson-subsampled Gaussian RDP for any real α (Mironov, Talwar, Zhang 2019, eq. for A_α).
double rdp_by_quadrature(double q, double sigma, double alpha) {
  const double lo = -40.0 * sigma, hi = 40.0 * sigma + alpha / (sigma * sigma);
  const int n = 400000;
  const double h = (hi - lo) / n;
  double s = 0.0;
  for (int i = 0; i <= n; ++i) {
    const double z = lo + i * h;
    const double mu0 = std::exp(-z * z / (2 * sigma * sigma)) / (sigma * std::sqrt(2 * M_PI));
    const double ratio = (1 - q) + q * std::exp((2 * z - 1) / (2 * sigma * sigma));
    const double f = mu0 * std::pow(ratio, alpha);
    s += (i == 0 || i == n) ? 0.5 * f : f;
  }
  return std::log(s * h) / (alpha - 1);
}

}  // namespace

TEST(RdpAccountant, FullSamplingIsPlainGaussianClosedForm) {
  for (double sigma : {0.5, 0.95, 3.0})
    for (double alpha : {1.5, 2.0, 7.0, 32.0, 256.0}) {
      const double expect = alpha / (2 * sigma * sigma);  // Mironov 2017, Table II
      EXPECT_DOUBLE_EQ(rdp_poisson_gaussian(1.0, sigma, alpha), expect);
      EXPECT_DOUBLE_EQ(rdp_wor_gaussian(1.0, sigma, alpha), expect);
      EXPECT_DOUBLE_EQ(rdp_gaussian(sigma, alpha), expect);
    }
}

TEST(RdpAccountant, PoissonOrderTwoMatchesHandDerivedClosedForm) {
  // Integer α = 2: A_2 = (1−q)² + 2q(1−q) + q² e^{1/σ²} = 1 + q²(e^{1/σ²} − 1).
  for (double q : {0.001, 0.1, 0.5})
    for (double sigma : {0.7, 1.0, 4.0}) {
      const double expect = std::log1p(q * q * std::expm1(1.0 / (sigma * sigma)));
      EXPECT_NEAR(rdp_poisson_gaussian(q, sigma, 2.0), expect, 1e-14 + 1e-12 * expect);
    }
}

TEST(RdpAccountant, PoissonMatchesNumericalIntegrationAtFractionalAndIntegerOrders) {
  struct Case { double q, sigma, alpha; };
  for (auto c : {Case{0.01, 1.0, 2.5}, Case{0.1, 0.95, 2.21}, Case{0.05, 2.0, 8.3}, Case{0.2, 1.5, 1.3},
                 Case{0.1, 0.95, 5.0}}) {
    const double series = rdp_poisson_gaussian(c.q, c.sigma, c.alpha);
    const double quad = rdp_by_quadrature(c.q, c.sigma, c.alpha);
    // Trapezoid on a smooth, fast-decaying integrand: relative error well below 1e-7; allow 1e-6.
    EXPECT_NEAR(series, quad, 1e-6 * quad) << "q=" << c.q << " sigma=" << c.sigma << " alpha=" << c.alpha;
  }
}

TEST(RdpAccountant, FractionalSeriesIsContinuousWithIntegerBinomial) {
  // Two code paths (series for non-integer α, exact binomial sum for integer α) must agree at the seam.
  for (double a : {2.0, 3.0, 10.0, 40.0}) {
    const double at = rdp_poisson_gaussian(0.02, 1.1, a);
    EXPECT_NEAR(rdp_poisson_gaussian(0.02, 1.1, a + 1e-7), at, 1e-6 * at);
    EXPECT_NEAR(rdp_poisson_gaussian(0.02, 1.1, a - 1e-7), at, 1e-6 * at);
  }
}

TEST(RdpAccountant, TfPrivacyMnistTutorialPublishedEpsilons) {
  // tensorflow/privacy tutorials/README.md ("Expected Output") for mnist_dpsgd_tutorial.py: q = 256/60000,
  // noise_multiplier 1.12, 60000//256 = 234 steps per epoch, δ = 1e-5, its orders, classic conversion
  // (get_privacy_spent at that time): ε = 1.00 after 1 epoch, 1.04 after 2, 2.92 after 60.
  const auto orders = tf_opacus_orders();
  const double q = 256.0 / 60000.0;
  struct Case { int epochs; double eps; };
  for (auto c : {Case{1, 1.00}, Case{2, 1.04}, Case{60, 2.92}}) {
    auto r = compute_epsilon(Sampling::Poisson, q, 1.12, 234 * c.epochs, 1e-5, Conversion::Classic, orders);
    EXPECT_NEAR(r.epsilon, c.eps, 0.005) << c.epochs << " epochs";  // published to 2 decimals
  }
}

TEST(RdpAccountant, OpacusRdpAccountantTestValue) {
  // opacus/tests/accountants_test.py::test_rdp_accountant: σ = 1.5, q = 0.04, steps = int(90/0.04) = 2250,
  // δ = 1e-5, DEFAULT_ALPHAS, Balle et al. conversion → 7.32911117143 (assertAlmostEqual, 7 places).
  auto r = compute_epsilon(Sampling::Poisson, 0.04, 1.5, 2250, 1e-5, Conversion::Tight, tf_opacus_orders());
  EXPECT_NEAR(r.epsilon, 7.32911117143, 5e-8);
}

TEST(RdpAccountant, DpFedSamEpsComputerValuesFromSpec) {
  // Spec fl_algorithms.md §2: eps_computer.py formula (Poisson RDP, Balle et al. conversion), orders
  // 1.01, 1.06, …, 99.96, q = 0.1, σ = 0.95: ε(200, 5e-3) = 7.77 at α ≈ 2.21; ε(300, 5e-3) = 9.93;
  // ε(200, 1/500) = 8.51; ε(300, 1/500) = 10.80 (two decimals).
  const auto orders = parse_orders("1.01:99.96:0.05");
  ASSERT_EQ(orders.size(), 1980u);
  auto r = compute_epsilon(Sampling::Poisson, 0.1, 0.95, 200, 5e-3, Conversion::Tight, orders);
  EXPECT_NEAR(r.epsilon, 7.77, 0.005);
  EXPECT_NEAR(r.best_order, 2.21, 1e-9);
  EXPECT_NEAR(compute_epsilon(Sampling::Poisson, 0.1, 0.95, 300, 5e-3, Conversion::Tight, orders).epsilon, 9.93, 0.005);
  EXPECT_NEAR(compute_epsilon(Sampling::Poisson, 0.1, 0.95, 200, 1.0 / 500, Conversion::Tight, orders).epsilon, 8.51,
              0.005);
  EXPECT_NEAR(compute_epsilon(Sampling::Poisson, 0.1, 0.95, 300, 1.0 / 500, Conversion::Tight, orders).epsilon, 10.80,
              0.005);
}

TEST(RdpAccountant, TightConversionNeverWorseThanClassic) {
  // log((α−1)/α) − log(α)/(α−1) < 0 for α > 1, so the tight ε is below the classic one at every order.
  for (double sigma : {0.8, 1.5})
    for (auto s : {Sampling::Poisson, Sampling::FixedSize}) {
      auto t = compute_epsilon(s, 0.05, sigma, 500, 1e-5, Conversion::Tight);
      auto c = compute_epsilon(s, 0.05, sigma, 500, 1e-5, Conversion::Classic);
      EXPECT_LT(t.epsilon, c.epsilon);
    }
}

TEST(RdpAccountant, EpsilonMonotoneInStepsAndRateDecreasingInSigma) {
  for (auto s : {Sampling::Poisson, Sampling::FixedSize}) {
    double prev = 0;
    for (int64_t steps : {1, 10, 100, 1000}) {
      double e = compute_epsilon(s, 0.05, 1.2, steps, 1e-5).epsilon;
      EXPECT_GT(e, prev) << sampling_name(s) << " steps " << steps;
      prev = e;
    }
    prev = 0;
    for (double q : {0.001, 0.01, 0.1, 0.3, 1.0}) {
      double e = compute_epsilon(s, q, 1.2, 100, 1e-5).epsilon;
      // Fixed size: the bound reaches the unsampled-Gaussian cap before q = 1, so only >= there.
      if (s == Sampling::FixedSize && q == 1.0) {
        EXPECT_GE(e, prev);
      } else {
        EXPECT_GT(e, prev) << sampling_name(s) << " q " << q;
      }
      prev = e;
    }
    prev = INFINITY;
    for (double sigma : {0.6, 0.9, 1.5, 3.0, 10.0}) {
      double e = compute_epsilon(s, 0.05, sigma, 100, 1e-5).epsilon;
      EXPECT_LT(e, prev) << sampling_name(s) << " sigma " << sigma;
      prev = e;
    }
  }
}

TEST(RdpAccountant, WithoutReplacementOrderTwoAndCapByUnsampledGaussian) {
  // Theorem 9 at α = 2 has one term: log(1 + q² min{4(e^{ε(2)}−1), 2e^{ε(2)}}), ε(2) = 1/σ² (hand form).
  for (double q : {0.01, 0.1})
    for (double sigma : {0.5, 1.0, 3.0}) {
      const double e2 = 1.0 / (sigma * sigma);
      const double expect = std::log1p(q * q * std::min(4 * std::expm1(e2), 2 * std::exp(e2)));
      EXPECT_NEAR(rdp_wor_gaussian(q, sigma, 2.0), std::min(expect, 2.0 / (2 * sigma * sigma)), 1e-13);
    }
  // Subsampling never hurts: the bound stays at or below the unsampled Gaussian α/(2σ²) for every q.
  for (double q : {0.3, 0.7, 0.99})
    for (double alpha : {2.0, 2.5, 16.0, 128.0}) EXPECT_LE(rdp_wor_gaussian(q, 0.8, alpha), alpha / (2 * 0.8 * 0.8));
}

TEST(RdpAccountant, WithoutReplacementFractionalOrderInterpolatesCumulant) {
  // Corollary 10: (α−1)ε(α) between integers is the chord of the integer cumulants.
  const double q = 0.05, sigma = 1.3;
  const double k3 = 2 * rdp_wor_gaussian(q, sigma, 3.0), k4 = 3 * rdp_wor_gaussian(q, sigma, 4.0);
  EXPECT_NEAR(2.25 * rdp_wor_gaussian(q, sigma, 3.25), 0.75 * k3 + 0.25 * k4, 1e-12);
}

TEST(RdpAccountant, RdpIsNonDecreasingInOrder) {
  // Rényi divergence is non-decreasing in α (van Erven & Harremoës 2014, Thm 3). The Poisson values are
  // exact, so they must be monotone; the fixed-size curve is made monotone by a running minimum.
  const auto orders = default_orders();
  for (double q : {1e-3, 0.1, 0.5})
    for (double sigma : {0.3, 1.0, 20.0})
      for (auto s : {Sampling::Poisson, Sampling::FixedSize}) {
        const auto r = rdp_curve(s, q, sigma, orders);
        for (size_t i = 1; i < r.size(); ++i)
          EXPECT_GE(r[i], r[i - 1] * (1 - 1e-12)) << sampling_name(s) << " q " << q << " sigma " << sigma
                                                   << " alpha " << orders[i];
      }
}

TEST(RdpAccountant, FixedSizeAccountsReplaceOneSensitivityTwoC) {
  // All M clients every round (q = 1) under replace-one: the clipped sum moves by 2C, so the round is the
  // Gaussian with multiplier σ/2, RDP 4·α/(2σ²) = 2α/σ².
  Accountant acc;
  acc.compose(Sampling::FixedSize, 1.0, 2.0, 3);
  for (size_t i = 0; i < acc.orders().size(); ++i) EXPECT_NEAR(acc.rdp()[i], 3 * 2 * acc.orders()[i] / 4.0, 1e-9);
}

TEST(RdpAccountant, LedgerRoundTripsAndResumeContinuesSameEpsilon) {
  Accountant straight;
  straight.compose(Sampling::Poisson, 0.1, 0.95, 200);
  Accountant first;
  for (int t = 0; t < 100; ++t) first.step(Sampling::Poisson, 0.1, 0.95);
  const auto saved = first.to_json().dump();
  Accountant resumed = Accountant::from_json(nlohmann::json::parse(saved));
  EXPECT_EQ(resumed.total_steps(), 100);
  ASSERT_EQ(resumed.ledger().size(), 1u);  // 100 identical rounds merge into one entry
  for (int t = 0; t < 100; ++t) resumed.step(Sampling::Poisson, 0.1, 0.95);
  EXPECT_NEAR(resumed.epsilon(5e-3).epsilon, straight.epsilon(5e-3).epsilon, 1e-9);
  EXPECT_EQ(resumed.epsilon(5e-3).best_order, straight.epsilon(5e-3).best_order);
}

TEST(RdpAccountant, HeterogeneousLedgerAddsRdp) {
  Accountant acc;
  acc.compose(Sampling::Poisson, 0.1, 1.0, 50);
  acc.compose(Sampling::Poisson, 0.2, 2.0, 30);
  ASSERT_EQ(acc.ledger().size(), 2u);
  for (size_t i = 0; i < acc.orders().size(); i += 17) {
    const double a = acc.orders()[i];
    EXPECT_NEAR(acc.rdp()[i], 50 * rdp_poisson_gaussian(0.1, 1.0, a) + 30 * rdp_poisson_gaussian(0.2, 2.0, a),
                1e-9 * acc.rdp()[i]);
  }
}

TEST(RdpAccountant, RefusesToMixSamplers) {
  Accountant acc;
  acc.step(Sampling::Poisson, 0.1, 1.0);
  try {
    acc.step(Sampling::FixedSize, 0.1, 1.0);
    FAIL() << "mixing samplers must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("neighbouring"), std::string::npos);
  }
}

TEST(RdpAccountant, BadInputGivesConfigErrorsNamingTheParameter) {
  auto expect_config = [](auto fn, const char* word) {
    try {
      fn();
      FAIL() << "expected an error mentioning " << word;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  expect_config([] { compute_epsilon(Sampling::Poisson, 0.1, 1.0, 10, 0.0); }, "delta");
  expect_config([] { compute_epsilon(Sampling::Poisson, 0.1, 1.0, 10, 1.0); }, "delta");
  expect_config([] { compute_epsilon(Sampling::Poisson, 0.1, 0.0, 10, 1e-5); }, "noise_multiplier");
  expect_config([] { compute_epsilon(Sampling::Poisson, 0.1, -1.0, 10, 1e-5); }, "noise_multiplier");
  expect_config([] { compute_epsilon(Sampling::Poisson, 0.0, 1.0, 10, 1e-5); }, "q =");
  expect_config([] { compute_epsilon(Sampling::FixedSize, 1.5, 1.0, 10, 1e-5); }, "q =");
  expect_config([] { compute_epsilon(Sampling::Poisson, 0.1, 1.0, 0, 1e-5); }, "steps");
  expect_config([] { parse_sampling("uniform"); }, "poisson");
  expect_config([] { parse_orders("1.0,2"); }, "> 1");
  expect_config([] { calibrate_noise(0.0, 1e-5, 0.1, 10, Sampling::Poisson); }, "target epsilon");
}

TEST(RdpAccountant, CalibrationHitsTargetAndReportsInfeasible) {
  for (auto s : {Sampling::Poisson, Sampling::FixedSize}) {
    const double sigma = calibrate_noise(3.0, 1e-5, 0.1, 200, s);
    EXPECT_LE(compute_epsilon(s, 0.1, sigma, 200, 1e-5).epsilon, 3.0);
    EXPECT_GT(compute_epsilon(s, 0.1, sigma * (1 - 1e-4), 200, 1e-5).epsilon, 3.0);  // tight to 1e-4
  }
  // With orders up to 1024 the tight conversion cannot go below log(1−1/1024) − (log δ + log 1024)/1023 > 0.
  try {
    calibrate_noise(1e-4, 1e-5, 0.1, 10, Sampling::Poisson);
    FAIL() << "expected Infeasible";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Infeasible);
  }
}

TEST(RdpAccountant, EdgeOrderIsFlagged) {
  // With orders {2, 3} and a huge σ the bound keeps improving with α, so α = 3 (the largest) wins.
  auto r = compute_epsilon(Sampling::Poisson, 0.01, 50.0, 10, 1e-5, Conversion::Tight, {2.0, 3.0}, /*warn=*/false);
  EXPECT_TRUE(r.at_edge);
  EXPECT_EQ(r.best_order, 3.0);
  auto d = compute_epsilon(Sampling::Poisson, 0.1, 0.95, 200, 5e-3, Conversion::Tight, default_orders(), false);
  EXPECT_FALSE(d.at_edge);
}
