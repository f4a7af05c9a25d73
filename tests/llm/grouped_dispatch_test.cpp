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
  // Sorted expert ids of 7 rows over E = 3 experts: counts [3, 0, 4]; alignment A = 4.
  // Padded counts [4, 0, 4] → group ends [4, 4, 8]; expert 0's rows go to 0,1,2 and expert 2's to 4,5,6,7.
  auto sorted = torch::tensor({0, 0, 0, 2, 2, 2, 2}, torch::kInt64);
  auto counts = torch::tensor({3, 0, 4}, torch::kInt64);
  auto g = grouped_layout(sorted, counts, 4);
  EXPECT_TRUE(torch::equal(g.pos, torch::tensor({0, 1, 2, 4, 5, 6, 7}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(g.offs, torch::tensor({4, 4, 8}, torch::kInt32)));
  EXPECT_EQ(g.rows, 7 + 3 * 3);  // static bound N·K + E·(A−1), whatever the counts
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
  auto x = torch::randn({3, 7, a.dim}, gen);
  auto run = [&](MoeDispatch d) {
    moe->dispatch = d;
    moe->zero_grad();
    auto y = moe->forward(x);
    (y * y).sum().backward();  // a loss that weights every output element differently
    std::vector<torch::Tensor> grads;
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
