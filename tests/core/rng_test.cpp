#include <gtest/gtest.h>

#include <cmath>

#include "plexus/core/rng.h"

using namespace plexus;

TEST(Rng, SameKeySameStream) {
  Rng a(7, "batch", 3, 5), b(7, "batch", 3, 5);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a(), b());
}

TEST(Rng, DifferentAddressesDiffer) {
  EXPECT_NE(stream_key(7, "batch", 3, 5), stream_key(7, "batch", 3, 6));
  EXPECT_NE(stream_key(7, "batch", 3, 5), stream_key(7, "batch", 4, 5));
  EXPECT_NE(stream_key(7, "batch", 3, 5), stream_key(7, "noise", 3, 5));
  EXPECT_NE(stream_key(7, "batch", 3, 5), stream_key(8, "batch", 3, 5));
}

TEST(Rng, UniformAndNormalMomentsMatchClosedForm) {
  Rng r(1, "test");
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < n; ++i) {
    su += r.uniform();
    double z = r.normal();
    sn += z, sn2 += z * z;
  }
  // Standard errors: uniform mean sd = sqrt(1/12/n) ≈ 6.5e-4; normal mean 2.2e-3; variance 3.2e-3. 5 sigma.
  EXPECT_NEAR(su / n, 0.5, 3.5e-3);
  EXPECT_NEAR(sn / n, 0.0, 1.2e-2);
  EXPECT_NEAR(sn2 / n, 1.0, 1.6e-2);
}

TEST(Rng, GammaMeanEqualsShape) {
  Rng r(2, "test");
  for (double shape : {0.1, 0.5, 1.0, 3.0}) {
    const int n = 100000;
    double s = 0;
    for (int i = 0; i < n; ++i) s += r.gamma(shape);
    // Var = shape; 5 standard errors.
    EXPECT_NEAR(s / n, shape, 5 * std::sqrt(shape / n)) << shape;
  }
}

TEST(Rng, BelowIsInRangeAndCoversAll) {
  Rng r(3, "test");
  std::vector<int> seen(7, 0);
  for (int i = 0; i < 7000; ++i) seen[r.below(7)]++;
  for (int c : seen) EXPECT_GT(c, 800);  // expected 1000 each
}

TEST(Rng, SampleWithoutReplacementIsDistinctSorted) {
  Rng r(4, "test");
  auto s = r.sample_without_replacement(100, 10);
  ASSERT_EQ(s.size(), 10u);
  for (size_t i = 1; i < s.size(); ++i) EXPECT_LT(s[i - 1], s[i]);
}

// Issue 12 #10: Dir(α·1) tends to the uniform vector as α → ∞. With α ≈ 1e308 the gamma draws are finite
// but their sum overflows, which once fell into the α → 0 branch (a one-hot vector).
TEST(Rng, DirichletWithHugeAlphaIsNearlyUniform) {
  for (double alpha : {1e6, 1e300, 1e307, 1e308}) {
    Rng rng(5, "test/dirichlet", 0, 0);
    auto p = rng.dirichlet(alpha, 20);
    double sum = 0;
    for (double v : p) {
      EXPECT_NEAR(v, 0.05, 1e-3) << "alpha " << alpha;  // sd = sqrt(0.05·0.95/(20α+1)) < 1e-4
      sum += v;
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
}
