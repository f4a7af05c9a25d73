// The sync-free MoE dispatch (grouped_dispatch.h): the aligned layout by hand, the grouped GEMM's reference
// path against per-group products, and the whole grouped MoE forward and backward against the per-expert
// dispatch (CPU: grouped_mm's loop path stands in for the CUDA kernel; the layout and gathers are the same code).
#include <gtest/gtest.h>

#include "plexus/core/rng.h"
#include "plexus/llm/grouped_dispatch.h"
#include "plexus/llm/moe.h"
#include "tiny_model.h"

using namespace plexus;
using namespace plexus::llm;

TEST(LlmGroupedDispatch, LayoutAlignsEachExpertsRowsByHand) {
  // N = 4 tokens, K = 2 → 8 pairs p = 2t + k with experts [0,2 | 2,0 | 0,2 | 2,1] over E = 3; alignment A = 4.
  // Sorted by expert (stable): pairs 0,3,4 (expert 0), 7 (expert 1), 1,2,5 (expert 2); counts [3, 1, 3].
  // Padded counts [4, 4, 4] → group starts 0, 4, 8; R = 8 + 3·3 = 17, and the last group runs to R.
  auto pair_expert = torch::tensor({0, 2, 2, 0, 0, 2, 2, 1}, torch::kInt64);
  auto [sorted, order] = pair_expert.sort(true, 0, false);
  auto counts = torch::tensor({3, 1, 3}, torch::kInt64);
  auto g = grouped_layout(sorted, order, counts, 2, 4);
  EXPECT_EQ(g.rows, 17);  // static bound N·K + E·(A−1), whatever the counts
  EXPECT_TRUE(torch::equal(g.offs, torch::tensor({4, 8, 17}, torch::kInt32)));
  // Buffer rows: expert 0 → 0,1,2 (pairs 0,3,4); expert 1 → 4 (pair 7); expert 2 → 8,9,10 (pairs 1,2,5).
  EXPECT_TRUE(torch::equal(g.slot, torch::tensor({0, 8, 9, 1, 2, 10, 11, 4}, torch::kInt64)));
  auto pair = torch::full({17}, 8, torch::kInt64), token = torch::zeros({17}, torch::kInt64);
  const int64_t rows[] = {0, 1, 2, 4, 8, 9, 10, 11}, pairs[] = {0, 3, 4, 7, 1, 2, 5, 6};
  for (int i = 0; i < 8; ++i) pair[rows[i]] = pairs[i], token[rows[i]] = pairs[i] / 2;
  EXPECT_TRUE(torch::equal(g.pair, pair));
  EXPECT_TRUE(torch::equal(g.token, token));
}

TEST(LlmGroupedDispatch, RowMovesAndTheirGradientsAreGathersByHand) {
  // The layout above; x's rows are distinct so every move is visible.
  auto pair_expert = torch::tensor({0, 2, 2, 0, 0, 2, 2, 1}, torch::kInt64);
  auto [sorted, order] = pair_expert.sort(true, 0, false);
  auto g = grouped_layout(sorted, order, torch::tensor({3, 1, 3}, torch::kInt64), 2, 4);
  auto x = torch::arange(8, torch::kFloat64).view({4, 2}).requires_grad_(true);  // token t = [2t, 2t+1]
  auto xp = dispatch_rows(x, g);
  ASSERT_EQ(xp.sizes(), (std::vector<int64_t>{17, 2}));
  for (int64_t r = 0; r < 17; ++r) EXPECT_TRUE(torch::equal(xp[r], x[g.token[r].item<int64_t>()])) << r;
  // d/dx of Σ_r c_r·xp[r]: token t collects c at its two buffer rows.
  auto c = torch::arange(17, torch::kFloat64).unsqueeze(1);
  (xp * c).sum().backward();
  auto want = torch::tensor({0 + 8, 9 + 1, 2 + 10, 11 + 4}, torch::kFloat64).unsqueeze(1).expand({4, 2});
  EXPECT_TRUE(torch::equal(x.grad(), want));
  // Combine: token t's output is the sum of its two buffer rows; the gradient of row r is token[r]'s.
  auto y = torch::arange(34, torch::kFloat64).view({17, 2}).requires_grad_(true);
  auto out = combine_rows(y, g, torch::kFloat64);
  auto row = [&](int64_t r) { return y[r].detach(); };
  EXPECT_TRUE(torch::equal(out[0], row(0) + row(8)));
  EXPECT_TRUE(torch::equal(out[3], row(11) + row(4)));
  auto d = torch::tensor({1.0, 10.0, 100.0, 1000.0}, torch::kFloat64).unsqueeze(1);
  (out * d).sum().backward();
  for (int64_t r = 0; r < 17; ++r)
    EXPECT_EQ(y.grad()[r][0].item<double>(), d[g.token[r].item<int64_t>()][0].item<double>()) << r;
  // Gate weights on buffer rows: 0 on padding rows.
  auto w = torch::arange(1, 9, torch::kFloat64).view({4, 2});
  auto bw = buffer_weights(w, g);
  for (int64_t r = 0; r < 17; ++r) {
    const auto p = g.pair[r].item<int64_t>();
    EXPECT_EQ(bw[r].item<double>(), p < 8 ? static_cast<double>(p + 1) : 0.0) << r;
  }
}

TEST(LlmGroupedDispatch, GroupedMatmulIsOneProductPerGroupAndZeroTail) {
  auto gen = torch_generator(stream_key(3, "test.gmm"));
  auto x = torch::randn({9, 4}, gen), w = torch::randn({3, 4, 2}, gen);
  auto offs = torch::tensor({2, 2, 7}, torch::kInt32);  // groups [0,2), [2,2) empty, [2,7); rows 7, 8 unused
  auto y = grouped_mm(x, w, offs);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{9, 2}));
  EXPECT_TRUE(torch::allclose(y.narrow(0, 0, 2), torch::matmul(x.narrow(0, 0, 2), w[0])));
  EXPECT_TRUE(torch::allclose(y.narrow(0, 2, 5), torch::matmul(x.narrow(0, 2, 5), w[2])));
  EXPECT_EQ(y.narrow(0, 7, 2).abs().sum().item<float>(), 0.0f);
}

TEST(LlmGroupedDispatch, GroupedMoeEqualsPerExpertInValueAndGradient) {
  auto a = plexus::test::tiny_model();
  Moe moe(a);
  moe->train();
  auto gen = torch_generator(stream_key(11, "test.moe.grouped"));
  {
    torch::NoGradGuard ng;
    for (auto& p : moe->parameters()) p.normal_(0, 0.2, gen);
  }
  auto x = torch::randn({3, 7, a.dim}, gen).requires_grad_(true);
  auto run = [&](MoeDispatch d) {
    moe->dispatch = d;
    moe->zero_grad();
    x.mutable_grad() = torch::Tensor();
    auto y = moe->forward(x);
    (y * y).sum().backward();  // a loss that weights every output element differently
    std::vector<torch::Tensor> grads{x.grad().clone()};  // the token rows' gradient: dispatch's backward
    for (auto& p : moe->parameters())
      if (p.grad().defined()) grads.push_back(p.grad().clone());
    return std::make_pair(y.detach(), grads);
  };
  auto [y_ref, g_ref] = run(MoeDispatch::PerExpert);
  auto load_ref = moe->take_load();
  auto [y, g] = run(MoeDispatch::Grouped);
  EXPECT_TRUE(torch::allclose(y, y_ref, 1e-5, 1e-6));
  ASSERT_EQ(g.size(), g_ref.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_TRUE(torch::allclose(g[i], g_ref[i], 1e-4, 1e-6)) << "grad " << i;
  EXPECT_TRUE(torch::equal(moe->take_load(), load_ref));  // the same routing, counted on the device
  EXPECT_DOUBLE_EQ(load_ref.sum().item<double>(), 3.0 * 7.0 * static_cast<double>(a.n_activated_experts));
}
