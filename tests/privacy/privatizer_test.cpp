// Tests of the client-level DP row operations: clipping bounds, sparsification, noise statistics and
// reproducibility of the addressed noise streams.
#include <gtest/gtest.h>

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/privacy/privatizer.h"

using namespace plexus;
using namespace plexus::privacy;

TEST(Privatizer, GlobalClipBoundsNormAndLeavesSmallRowsUnchanged) {
  // Rows with hand-known norms: 5 (3,4), 0.5, 0 (all zero), 13 (5,12).
  auto D = torch::tensor({{3.0f, 4.0f, 0.0f}, {0.3f, 0.0f, 0.4f}, {0.0f, 0.0f, 0.0f}, {5.0f, 0.0f, 12.0f}});
  auto before = D.clone();
  auto norms = clip_rows(D, 1.0);
  EXPECT_TRUE(torch::allclose(norms, torch::tensor({5.0f, 0.5f, 0.0f, 13.0f})));
  auto after = D.norm(2, 1);
  EXPECT_NEAR(after[0].item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(after[3].item<float>(), 1.0f, 1e-6);
  EXPECT_TRUE(torch::equal(D[1], before[1]));  // below C: untouched bit for bit
  EXPECT_TRUE(torch::equal(D[2], before[2]));  // zero row stays zero (no 0/0)
  // Clipping only rescales: direction preserved, (3,4)/5.
  EXPECT_TRUE(torch::allclose(D[0], torch::tensor({0.6f, 0.8f, 0.0f})));
}

TEST(Privatizer, PerTensorClipBoundsEachTensorAndTotalByCRootL) {
  torch::manual_seed(0);
  const double C = 0.2;
  const std::vector<Segment> segs{{0, 10}, {10, 30}, {40, 5}, {45, 15}};  // L = 4 tensors, P = 60
  auto D = torch::randn({6, 60}) * 3.0;
  D[5].mul_(1e-4);  // a row well inside every bound
  auto small_before = D[5].clone();
  clip_rows(D, C, segs);
  for (const auto& s : segs) {
    auto seg_norms = D.narrow(1, s.offset, s.numel).norm(2, 1);
    EXPECT_LE(seg_norms.max().item<double>(), C * (1 + 1e-6));  // float32 rounding
  }
  auto total = D.norm(2, 1);
  EXPECT_LE(total.max().item<double>(), C * std::sqrt(4.0) * (1 + 1e-6));
  // The C·√L bound is attained when every tensor is clipped: large random rows reach it.
  EXPECT_NEAR(total[0].item<double>(), C * 2.0, 1e-5);
  EXPECT_GT(total.max().item<double>(), C * 1.5);  // ...so per-tensor clipping really exceeds C in total
  EXPECT_TRUE(torch::equal(D[5], small_before));
}

TEST(Privatizer, TopKKeepsExactlyKLargestMagnitudes) {
  auto D = torch::tensor({{0.1f, -5.0f, 2.0f, -0.3f, 4.0f, 0.0f, 1.0f}, {7.0f, 6.0f, -5.0f, 4.0f, 3.0f, 2.0f, 1.0f}});
  auto mask = topk_rows(D, 0.4);  // k = ceil(0.4·7) = 3
  EXPECT_EQ(sparsity_k(0.4, 7), 3);
  EXPECT_TRUE(torch::equal(mask.sum(1), torch::tensor({3, 3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(D[0], torch::tensor({0.0f, -5.0f, 2.0f, 0.0f, 4.0f, 0.0f, 0.0f})));
  EXPECT_TRUE(torch::equal(D[1], torch::tensor({7.0f, 6.0f, -5.0f, 0.0f, 0.0f, 0.0f, 0.0f})));
  // Larger random case: every kept |value| >= every dropped |value| in the original row.
  torch::manual_seed(1);
  auto R = torch::randn({4, 1000});
  auto orig = R.clone();
  auto m2 = topk_rows(R, 0.05);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(m2[i].sum().item<int64_t>(), 50);
    auto kept = orig[i].abs().masked_select(m2[i]);
    auto dropped = orig[i].abs().masked_select(m2[i].logical_not());
    EXPECT_GE(kept.min().item<float>(), dropped.max().item<float>());
  }
}

TEST(Privatizer, RandKIsReproduciblePerClientAndRound) {
  auto D = torch::ones({3, 500});
  auto mask = randk_rows(D, 0.1, 7, 4, {10, 11, 12});
  EXPECT_TRUE(torch::equal(mask.sum(1), torch::tensor({50, 50, 50}, torch::kLong)));
  EXPECT_EQ(D.sum().item<float>(), 150.0f);
  // Same (seed, client, round) gives the same coordinates whatever the row position; others differ.
  auto E = torch::ones({2, 500});
  auto mask2 = randk_rows(E, 0.1, 7, 4, {12, 10});
  EXPECT_TRUE(torch::equal(mask2[0], mask[2]));
  EXPECT_TRUE(torch::equal(mask2[1], mask[0]));
  EXPECT_FALSE(torch::equal(mask[0], mask[1]));
  auto F = torch::ones({1, 500});
  EXPECT_FALSE(torch::equal(randk_rows(F, 0.1, 7, 5, {10})[0], mask[0]));
}

TEST(Privatizer, NoiseStdMatchesSigmaCOverRootMAndIsAddressed) {
  const double sigma = 0.95, C = 0.2;
  const int64_t m = 4, P = 200000;
  const double std = client_noise_std(sigma, C, m);
  EXPECT_DOUBLE_EQ(std, 0.95 * 0.2 / 2.0);
  auto D = torch::zeros({m, P});
  add_gaussian_noise(D, std, 42, 3, {5, 6, 7, 8});
  // Sample std of P normals has relative standard error 1/√(2P) ≈ 0.16%; allow 1% (6 SE).
  for (int i = 0; i < m; ++i) {
    EXPECT_NEAR(D[i].std().item<double>() / std, 1.0, 0.01);
    EXPECT_NEAR(D[i].mean().item<double>(), 0.0, 5 * std / std::sqrt(double(P)));
  }
  // The server mean of m rows has std σC/m: central noise σC on the sum.
  EXPECT_NEAR(D.mean(0).std().item<double>() / (sigma * C / m), 1.0, 0.01);
  // Addressed: same (seed, client, round) → same noise regardless of row order; different round differs.
  auto E = torch::zeros({2, P});
  add_gaussian_noise(E, std, 42, 3, {7, 5});
  EXPECT_TRUE(torch::equal(E[0], D[2]));
  EXPECT_TRUE(torch::equal(E[1], D[0]));
  auto F = torch::zeros({1, P});
  add_gaussian_noise(F, std, 42, 4, {5});
  EXPECT_FALSE(torch::equal(F[0], D[0]));
}

TEST(Privatizer, MaskedNoiseLandsOnlyOnKeptCoordinatesWithSameDraws) {
  const int64_t P = 1000;
  auto D = torch::zeros({2, P});
  D.narrow(1, 0, 100).fill_(1.0);  // the 100 first coordinates are the largest
  auto mask = topk_rows(D, 0.1);
  auto dense = torch::zeros({2, P});
  add_gaussian_noise(dense, 0.5, 1, 2, {3, 4});
  add_gaussian_noise(D, 0.5, 1, 2, {3, 4}, mask);
  EXPECT_EQ(D.narrow(1, 100, P - 100).abs().max().item<float>(), 0.0f);  // nothing off the support
  EXPECT_TRUE(torch::allclose(D.narrow(1, 0, 100) - 1.0, dense.narrow(1, 0, 100), 0, 1e-6));
}

TEST(Privatizer, BadArgumentsAreConfigErrors) {
  auto D = torch::ones({2, 4});
  EXPECT_THROW(clip_rows(D, 0.0), Error);
  EXPECT_THROW(topk_rows(D, 0.0), Error);
  EXPECT_THROW(topk_rows(D, 1.5), Error);
  EXPECT_THROW(add_gaussian_noise(D, -1.0, 0, 0, {0, 1}), Error);
  EXPECT_THROW(client_noise_std(1.0, 1.0, 0), Error);
  try {
    clip_rows(D, -1.0);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("clip_norm"), std::string::npos);
  }
}
