// Partitioners: counts, disjoint coverage, determinism, limiting behaviour in α, bad input, local test sets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "plexus/core/error.h"
#include "plexus/data/partition.h"

using namespace plexus;
using namespace plexus::data;

namespace {

// Balanced labels: n samples, label j mod C (then the partitioners shuffle).
std::vector<int64_t> balanced(int64_t n, int64_t C) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) y[j] = j % C;
  return y;
}

std::vector<std::vector<int64_t>> hist(const std::vector<int64_t>& y, int64_t C, const ClientIndices& p) {
  std::vector<std::vector<int64_t>> h(p.size(), std::vector<int64_t>(C, 0));
  for (size_t i = 0; i < p.size(); ++i)
    for (int64_t j : p[i]) ++h[i][y[j]];
  return h;
}

// Every index in [0, n) appears exactly once across clients.
void expect_exact_cover(const ClientIndices& p, int64_t n) {
  std::vector<int> seen(static_cast<size_t>(n), 0);
  for (auto& c : p)
    for (int64_t j : c) {
      ASSERT_GE(j, 0);
      ASSERT_LT(j, n);
      ++seen[j];
    }
  for (int64_t j = 0; j < n; ++j) ASSERT_EQ(seen[j], 1) << "sample " << j;
}

// Mean over clients of the total-variation distance between the client's label distribution and uniform.
double mean_tv_to_uniform(const std::vector<std::vector<int64_t>>& h) {
  double s = 0;
  for (auto& row : h) {
    const double n = static_cast<double>(std::accumulate(row.begin(), row.end(), int64_t{0}));
    double tv = 0;
    for (auto v : row) tv += std::abs(v / n - 1.0 / row.size());
    s += tv / 2;
  }
  return s / h.size();
}

// Mean over clients of the share of the client's most frequent class.
double mean_top_class_share(const std::vector<std::vector<int64_t>>& h) {
  double s = 0;
  for (auto& row : h) {
    const double n = static_cast<double>(std::accumulate(row.begin(), row.end(), int64_t{0}));
    s += *std::max_element(row.begin(), row.end()) / n;
  }
  return s / h.size();
}

template <class F> ErrorKind error_kind_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // "no error" is reported as Internal so the EXPECT fails visibly
}

}  // namespace

TEST(ProportionalCounts, LargestRemainderHandWorked) {
  // 10·(1/3) = 3.33 each: floors 3,3,3, one unit left goes to the lowest index on a tie.
  EXPECT_EQ(proportional_counts(10, {1, 1, 1}), (std::vector<int64_t>{4, 3, 3}));
  // 7·(.5,.25,.25) = 3.5, 1.75, 1.75: floors 3,1,1; two units to the two largest remainders (.75, .75).
  EXPECT_EQ(proportional_counts(7, {0.5, 0.25, 0.25}), (std::vector<int64_t>{3, 2, 2}));
  // A zero weight never receives a unit.
  EXPECT_EQ(proportional_counts(5, {0, 3, 0, 1}), (std::vector<int64_t>{0, 4, 0, 1}));
}

TEST(PartitionIid, SizesDifferByAtMostOneAndCoverEverySampleOnce) {
  Rng rng(1, "partition");
  const auto p = partition_iid(103, 10, rng);
  ASSERT_EQ(p.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(p[i].size(), i < 3 ? 11u : 10u);  // 103 = 3·11 + 7·10
  expect_exact_cover(p, 103);
}

TEST(PartitionIid, DeterministicInSeed) {
  Rng a(5, "partition"), b(5, "partition"), c(6, "partition");
  const auto pa = partition_iid(500, 7, a), pb = partition_iid(500, 7, b), pc = partition_iid(500, 7, c);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, pc);
}

TEST(PartitionDirichletPerClient, EqualSizesExactCoverAndDeterminism) {
  const auto y = balanced(1003, 10);
  Rng a(3, "partition"), b(3, "partition"), c(4, "partition");
  const auto p = partition_dirichlet_per_client(y, 10, 20, 0.3, a);
  ASSERT_EQ(p.size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(p[i].size(), i < 3 ? 51u : 50u);  // 1003 = 3·51 + 17·50
  expect_exact_cover(p, 1003);
  EXPECT_EQ(p, partition_dirichlet_per_client(y, 10, 20, 0.3, b));
  EXPECT_NE(p, partition_dirichlet_per_client(y, 10, 20, 0.3, c));
}

TEST(PartitionDirichletPerClient, HugeAlphaIsNearIid) {
  // α = 1e4: every prior is ≈ uniform, so each client's 200 labels are ≈ multinomial(200, 1/10).
  // E[TV] for multinomial(200, uniform 10) ≈ 0.5·10·sqrt(2/π)·sqrt(200·0.1·0.9)/200 ≈ 0.085; bound 0.15.
  const auto y = balanced(10000, 10);
  Rng rng(11, "partition");
  const auto h = hist(y, 10, partition_dirichlet_per_client(y, 10, 50, 1e4, rng));
  EXPECT_LT(mean_tv_to_uniform(h), 0.15);
  EXPECT_LT(mean_top_class_share(h), 0.25);  // uniform share is 0.1; the max of 10 counts ≈ 0.16
}

TEST(PartitionDirichletPerClient, TinyAlphaIsNearOneClassPerClient) {
  // α = 1e-3: each prior is (numerically) one-hot, so a client draws only its class while that class
  // lasts. 100 clients of 100 samples over 10 classes of 1000: a class is wanted by Binomial(100, 0.1)
  // clients, and only clients of over-subscribed classes spill into other classes. Expected top-class
  // share ≈ 0.85; bound 0.7. (Under α = 1e4 the same statistic is ≈ 0.16, see HugeAlphaIsNearIid.)
  const auto y = balanced(10000, 10);
  Rng rng(12, "partition");
  const auto p = partition_dirichlet_per_client(y, 10, 100, 1e-3, rng);
  expect_exact_cover(p, 10000);
  EXPECT_GT(mean_top_class_share(hist(y, 10, p)), 0.7);
}

TEST(PartitionDirichletPerClient, NeverLoopsWithOneSamplePerClientAndTinyAlpha) {
  // The reference code redraws forever once a client's only class is exhausted; here every slot ends.
  const auto y = balanced(2000, 10);
  Rng rng(13, "partition");
  const auto p = partition_dirichlet_per_client(y, 10, 2000, 1e-6, rng);
  for (auto& c : p) EXPECT_EQ(c.size(), 1u);
  expect_exact_cover(p, 2000);
}

TEST(PartitionDirichletPerClass, ExactCoverAndDeterminism) {
  const auto y = balanced(2000, 10);
  Rng a(3, "partition"), b(3, "partition");
  const auto p = partition_dirichlet_per_class(y, 10, 20, 0.5, 10, a);
  expect_exact_cover(p, 2000);
  for (auto& c : p) EXPECT_GE(c.size(), 10u);  // min_client_samples = 10 ≤ ⌊2000/20⌋
  EXPECT_EQ(p, partition_dirichlet_per_class(y, 10, 20, 0.5, 10, b));
}

TEST(PartitionDirichletPerClass, HugeAlphaIsNearIid) {
  // α = 1e4: each class is cut into ≈ equal shares over the 20 clients (100 ± a few samples each).
  const auto y = balanced(20000, 10);
  Rng rng(21, "partition");
  const auto h = hist(y, 10, partition_dirichlet_per_class(y, 10, 20, 1e4, 10, rng));
  EXPECT_LT(mean_tv_to_uniform(h), 0.05);
}

TEST(PartitionDirichletPerClass, TinyAlphaGivesExactlyOneClassPerClientWhenClientsEqualClasses) {
  // α = 1e-3, N = C = 10, classes of 100: each class goes whole to one client below n/N = 100, which is
  // then full, so by the balancing rule every client ends with exactly one class (100 samples).
  const auto y = balanced(1000, 10);
  Rng rng(22, "partition");
  const auto h = hist(y, 10, partition_dirichlet_per_class(y, 10, 10, 1e-3, 1, rng));
  for (auto& row : h) {
    EXPECT_EQ(std::count_if(row.begin(), row.end(), [](int64_t v) { return v > 0; }), 1);
    EXPECT_EQ(std::accumulate(row.begin(), row.end(), int64_t{0}), 100);
  }
}

TEST(PartitionDirichletPerClass, InfeasibleMinimumEndsWithClearErrorInsteadOfLooping) {
  // α tiny, N = 2C: each class goes whole to one client, so 10 of 20 clients stay empty in every draw.
  const auto y = balanced(1000, 10);
  Rng rng(23, "partition");
  try {
    partition_dirichlet_per_class(y, 10, 20, 1e-4, 1, rng);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Infeasible);
    EXPECT_NE(std::string(e.what()).find("per_client"), std::string::npos) << e.what();
  }
}

TEST(PartitionPathological, EachClientHasExactlyKClassesBalancedLoadAndNoRepeats) {
  const auto y = balanced(3000, 10);
  Rng a(31, "partition"), b(31, "partition");
  const auto p = partition_pathological(y, 10, 25, 3, a);
  expect_exact_cover(p, 3000);  // N·k = 75 ≥ C: every sample used once
  const auto h = hist(y, 10, p);
  std::vector<int64_t> holders(10, 0);
  for (auto& row : h) {
    EXPECT_EQ(std::count_if(row.begin(), row.end(), [](int64_t v) { return v > 0; }), 3);
    for (int c = 0; c < 10; ++c) holders[c] += row[c] > 0;
  }
  // 75 class slots over 10 classes: loads 7 or 8.
  for (auto v : holders) EXPECT_TRUE(v == 7 || v == 8) << v;
  EXPECT_EQ(p, partition_pathological(y, 10, 25, 3, b));
}

TEST(PartitionPathological, OneClassPerClient) {
  const auto y = balanced(100, 10);
  Rng rng(32, "partition");
  const auto h = hist(y, 10, partition_pathological(y, 10, 10, 1, rng));
  for (auto& row : h) EXPECT_EQ(*std::max_element(row.begin(), row.end()), 10);  // one whole class each
}

TEST(PartitionErrors, BadInputGivesClearErrorKinds) {
  const auto y = balanced(50, 10);
  Rng rng(0, "partition");
  EXPECT_EQ(error_kind_of([&] { partition_dirichlet_per_client(y, 10, 5, 0.0, rng); }), ErrorKind::Config);
  EXPECT_EQ(error_kind_of([&] { partition_dirichlet_per_client(y, 10, 5, -1.0, rng); }), ErrorKind::Config);
  EXPECT_EQ(error_kind_of([&] { partition_dirichlet_per_class(y, 10, 5, 0.0, 1, rng); }), ErrorKind::Config);
  EXPECT_EQ(error_kind_of([&] { partition_iid(50, 51, rng); }), ErrorKind::Infeasible);
  EXPECT_EQ(error_kind_of([&] { partition_dirichlet_per_client(y, 10, 51, 0.3, rng); }), ErrorKind::Infeasible);
  EXPECT_EQ(error_kind_of([&] { partition_dirichlet_per_class(y, 10, 51, 0.3, 1, rng); }), ErrorKind::Infeasible);
  EXPECT_EQ(error_kind_of([&] { partition_pathological(y, 10, 51, 2, rng); }), ErrorKind::Infeasible);
  EXPECT_EQ(error_kind_of([&] { partition_pathological(y, 10, 5, 11, rng); }), ErrorKind::Config);
  EXPECT_EQ(error_kind_of([&] { partition_iid(50, 0, rng); }), ErrorKind::Config);
  // A label outside [0, C) is a data error.
  EXPECT_EQ(error_kind_of([&] { partition_dirichlet_per_client({0, 1, 12}, 10, 2, 0.3, rng); }), ErrorKind::Data);
}

TEST(LocalTestSets, ProportionalToTrainingHistogramHandWorked) {
  // Test set: 20 samples per class for 3 classes. Client 0 trained on (30, 10, 0) → 8 test samples split
  // 8·(3/4, 1/4, 0) = (6, 2, 0). Client 1 trained on (1, 1, 1) → 8·(1/3) = 2.67 each: floors (2, 2, 2),
  // the 2 remaining units go to the lowest indices on the tie → (3, 3, 2).
  const auto y = balanced(60, 3);
  const auto t = local_test_sets(y, 3, {{30, 10, 0}, {1, 1, 1}}, 8, 9);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(hist(y, 3, t)[0], (std::vector<int64_t>{6, 2, 0}));
  EXPECT_EQ(hist(y, 3, {t[1]})[0], (std::vector<int64_t>{3, 3, 2}));
  // No index repeats within a client while a class has enough samples.
  for (auto& c : t) EXPECT_EQ(std::adjacent_find(c.begin(), c.end()), c.end());
  EXPECT_EQ(t, local_test_sets(y, 3, {{30, 10, 0}, {1, 1, 1}}, 8, 9));
}

TEST(LocalTestSets, RepeatsOnlyBeyondClassSizeAndSkipsClassesMissingFromTest) {
  // Test set has 2 samples of class 0 and none of class 1; the client trained on (5, 5) wants 6 samples:
  // class 1 has no test samples, so all 6 come from class 0 (its 2 samples, repeated).
  const std::vector<int64_t> y = {0, 0};
  const auto t = local_test_sets(y, 2, {{5, 5}}, 6, 1);
  ASSERT_EQ(t[0].size(), 6u);
  EXPECT_EQ(std::count(t[0].begin(), t[0].end(), 0) + std::count(t[0].begin(), t[0].end(), 1), 6);
  EXPECT_GE(std::count(t[0].begin(), t[0].end(), 0), 1);  // both samples used before any repeat
  EXPECT_GE(std::count(t[0].begin(), t[0].end(), 1), 1);
}
