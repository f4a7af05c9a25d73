// Gossip, push-sum and consensus distance: invariants (column means), closed-form limits, bit-exact
// untouched columns, dense vs sparse agreement, and push-sum vs uniform pull on a hand-worked directed graph.
#include <gtest/gtest.h>

#include "plexus/core/error.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/topology.h"

using namespace plexus::fl;

namespace {

Graph ring_graph(int64_t n) {
  TopologyOptions o;
  o.kind = "ring";
  return make_graph(o, n, 0, 0);
}

torch::Tensor random_state(int64_t n, int64_t p, torch::ScalarType dt = torch::kFloat64) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(42);
  return torch::randn({n, p}, gen, torch::TensorOptions().dtype(dt));
}

// The 3-node strongly connected directed graph 0 → {1, 2}, 1 → {2}, 2 → {0} used for push-sum by hand.
Graph three_node_digraph() { return Graph{3, true, {{1, 2}, {2}, {0}}}; }

}  // namespace

TEST(Gossip, PreservesColumnMeansOnRing8) {
  auto W = mixing_matrix(ring_graph(8), "metropolis");
  auto X = random_state(8, 100);
  auto mean0 = X.mean(0);
  gossip(X, W, /*Q=*/3);
  EXPECT_TRUE(torch::allclose(X.mean(0), mean0, 0, 1e-13));  // 1ᵀW = 1ᵀ; f64 rounding only
}

TEST(Gossip, ManyStepsConvergeToInitialMean) {
  // ‖W^Q − 11ᵀ/n‖ = λ^Q with λ = 1/3 + 2/3·cos(2π/8) ≈ 0.805; Q = 400 → 1e-38.
  auto W = mixing_matrix(ring_graph(8), "uniform");
  auto X = random_state(8, 50);
  auto target = X.mean(0, true).expand({8, 50});
  gossip(X, W, 400);
  EXPECT_TRUE(torch::allclose(X, target, 0, 1e-12));
  EXPECT_LT(consensus_distance(X), 1e-24);
}

TEST(Gossip, OneStepMatchesHandProductAndChunksAgree) {
  // Ring of 4 with 1/3 weights: x_0' = (x_3 + x_0 + x_1)/3.
  auto W = mixing_matrix(ring_graph(4), "uniform");
  auto X = torch::arange(4 * 5, torch::kFloat64).view({4, 5});
  auto Y = X.clone();
  gossip(Y, W, 1, {}, /*chunk_columns=*/2);  // chunks 2,2,1 exercise the remainder
  EXPECT_TRUE(torch::allclose(Y[0], (X[3] + X[0] + X[1]) / 3, 0, 1e-14));
  auto Z = X.clone();
  gossip(Z, W, 1);
  EXPECT_TRUE(torch::allclose(Y, Z, 0, 1e-14));
}

TEST(Gossip, RestrictedColumnsLeaveOthersBitForBit) {
  auto W = mixing_matrix(ring_graph(6), "metropolis");
  auto X = random_state(6, 40, torch::kFloat32);
  auto full = X.clone();
  gossip(full, W, 2);
  auto part = X.clone();
  const ColumnRanges shared = {{30, 40}, {5, 12}};  // unsorted on purpose
  gossip(part, W, 2, shared, /*chunk_columns=*/3);
  for (auto [b, e] : ColumnRanges{{0, 5}, {12, 30}})
    EXPECT_TRUE(torch::equal(part.narrow(1, b, e - b), X.narrow(1, b, e - b)));
  for (auto [b, e] : shared)
    EXPECT_TRUE(torch::allclose(part.narrow(1, b, e - b), full.narrow(1, b, e - b), 1e-6, 1e-6));
}

TEST(Gossip, DenseAndSparsePathsAgree) {
  TopologyOptions o;
  o.kind = "time_varying";
  o.neighbors = 3;
  auto g = make_graph(o, 20, 7, 1);
  auto W = mixing_matrix(g, "metropolis");
  for (auto dt : {torch::kFloat64, torch::kFloat32}) {
    auto X = random_state(20, 37, dt);
    auto dense = X.clone(), sparse = X.clone(), csr = X.clone();
    gossip(dense, W, 3, {}, 8);
    gossip(sparse, to_sparse_matrix(W), 3, {}, 8);
    gossip(csr, W.to_sparse_csr(), 3);
    // f32: W^3 formed in f64 vs three f32 products: differences ~1e-6 relative.
    const double tol = dt == torch::kFloat64 ? 1e-12 : 1e-5;
    EXPECT_TRUE(torch::allclose(dense, sparse, tol, tol));
    EXPECT_TRUE(torch::allclose(dense, csr, tol, tol));
  }
}

// A dense W with many clients and few links is applied as the sparse operator (gossip.cpp, sparse_pays): the
// rows equal the float64 product W^Q X computed independently here (1e-5 relative: float32 rows, Q = 2 f32
// products vs one f64 product), the column means are kept, and restricted columns leave the others bit for bit.
TEST(Gossip, LargeSparseDenseWMatchesTheProductInFloat64) {
  TopologyOptions o;
  o.kind = "time_varying";
  o.neighbors = 2;
  const int64_t n = 300;  // >= the sparse switch's 256 clients; ~4 links each: Q·nnz ≈ 2·1.5k ≤ n²/16
  auto W = mixing_matrix(make_graph(o, n, 3, 1), "metropolis");
  auto X = random_state(n, 70, torch::kFloat32);
  auto expect = torch::mm(torch::mm(W, W), X.to(torch::kFloat64));
  ASSERT_LE(2 * W.ne(0).sum().item<int64_t>() * 16, n * n) << "the sparse path must be the one under test";
  auto Y = X.clone();
  gossip(Y, W, 2, {{0, 50}});
  EXPECT_TRUE(torch::allclose(Y.narrow(1, 0, 50).to(torch::kFloat64), expect.narrow(1, 0, 50), 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(Y.narrow(1, 50, 20), X.narrow(1, 50, 20)));
  EXPECT_TRUE(torch::allclose(Y.narrow(1, 0, 50).mean(0), X.narrow(1, 0, 50).mean(0), 1e-5, 1e-5));
}

TEST(Gossip, ZeroStepsIsIdentityAndBadInputThrows) {
  auto W = mixing_matrix(ring_graph(4), "uniform");
  auto X = random_state(4, 3);
  auto X0 = X.clone();
  gossip(X, W, 0);
  EXPECT_TRUE(torch::equal(X, X0));
  EXPECT_THROW(gossip(X, W, -1), plexus::Error);
  EXPECT_THROW(gossip(X, W, 1, {{2, 5}}), plexus::Error);           // past P = 3
  EXPECT_THROW(gossip(X, W, 1, {{0, 2}, {1, 3}}), plexus::Error);   // overlap
  auto X5 = random_state(5, 3);
  EXPECT_THROW(gossip(X5, W, 1), plexus::Error);                    // W is 4x4
}

TEST(Gossip, PushSumMatrixByHand) {
  // Column i spreads 1/(out_deg_i + 1) over i and its out-neighbours.
  auto P = push_sum_matrix(three_node_digraph());
  auto expected = torch::tensor({{1.0 / 3, 0.0, 0.5}, {1.0 / 3, 0.5, 0.0}, {1.0 / 3, 0.5, 0.5}}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(P, expected, 0, 1e-15));
  // Uniform pull: in(0) = {2}, in(1) = {0}, in(2) = {0, 1}.
  auto A = uniform_pull_matrix(three_node_digraph());
  auto expected_pull =
      torch::tensor({{0.5, 0.0, 0.5}, {0.5, 0.5, 0.0}, {1.0 / 3, 1.0 / 3, 1.0 / 3}}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(A, expected_pull, 0, 1e-15));
}

TEST(Gossip, PushSumFindsTrueAverageWhileUniformPullIsBiased) {
  // X0 rows (0,1), (9,4), (18,7): true average (9, 4).
  // Uniform pull A is row-stochastic; A^t → 1πᵀ with πᵀA = πᵀ. Solving by hand: π_1 = 2π_2/3, π_0 = 4π_2/3,
  // Σπ = 1 ⇒ π = (4/9, 2/9, 1/3), so the pull limit is πᵀX0 = (0 + 2 + 6, 4/9 + 8/9 + 21/9) = (8, 11/3) ≠ (9, 4).
  const auto g = three_node_digraph();
  auto X0 = torch::tensor({{0.0, 1.0}, {9.0, 4.0}, {18.0, 7.0}}, torch::kFloat64);

  auto U = X0.clone();
  auto mu = torch::ones({3}, torch::kFloat64);
  const auto P = push_sum_matrix(g);
  for (int t = 0; t < 200; ++t) push_sum_step(U, mu, P);  // |λ_2(P)| < 0.6 ⇒ error < 1e-40
  EXPECT_NEAR(mu.sum().item<double>(), 3.0, 1e-12);       // column-stochastic P conserves total weight
  auto Z = push_sum_debias(U, mu);
  auto truth = torch::tensor({{9.0, 4.0}}, torch::kFloat64).expand({3, 2});
  EXPECT_TRUE(torch::allclose(Z, truth, 0, 1e-10));

  auto Y = X0.clone();
  gossip(Y, uniform_pull_matrix(g), 200);
  auto pull_limit = torch::tensor({{8.0, 11.0 / 3}}, torch::kFloat64).expand({3, 2});
  EXPECT_TRUE(torch::allclose(Y, pull_limit, 0, 1e-10));
}

TEST(Gossip, PushSumOnSharedColumnsOnlyAndSparse) {
  const auto g = three_node_digraph();
  auto X0 = torch::tensor({{0.0, 1.0}, {9.0, 4.0}, {18.0, 7.0}}, torch::kFloat64);
  auto U = X0.clone();
  auto mu = torch::ones({3}, torch::kFloat64);
  const auto P = to_sparse_matrix(push_sum_matrix(g));
  for (int t = 0; t < 200; ++t) push_sum_step(U, mu, P, {{0, 1}});
  auto Z = push_sum_debias(U, mu, {{0, 1}});
  EXPECT_TRUE(torch::allclose(Z.select(1, 0), torch::full({3}, 9.0, torch::kFloat64), 0, 1e-10));
  EXPECT_TRUE(torch::equal(Z.select(1, 1), X0.select(1, 1)));  // personal column untouched
}

TEST(Gossip, ConsensusDistanceByHand) {
  // Rows (0,0) and (2,0): mean (1,0); squared distances 1 and 1; average 1.
  auto X = torch::tensor({{0.0f, 0.0f}, {2.0f, 0.0f}});
  EXPECT_DOUBLE_EQ(consensus_distance(X), 1.0);
  EXPECT_DOUBLE_EQ(consensus_distance(X, {{1, 2}}), 0.0);
}
