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
  // Weight-gradient chunks of L = ceil(17/3) rounded up to A = 8 rows: groups of 4, 4 and 9 rows → 1, 1, 2
  // chunks, then ceil(17/8) + 3 − 4 = 2 empty ones.
  EXPECT_EQ(g.chunks.length, 8);
  EXPECT_TRUE(torch::equal(g.chunks.offs, torch::tensor({4, 8, 16, 17, 17, 17}, torch::kInt32)));
  EXPECT_TRUE(torch::equal(g.chunks.first, torch::tensor({0, 1, 2}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(g.chunks.count, torch::tensor({1, 1, 2}, torch::kInt64)));
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

TEST(LlmGroupedDispatch, WgradChunksCutEachGroupByHand) {
  // Groups [0,20), [20,20) (empty), [20,70) in chunks of L = 16: expert 0 → [0,16), [16,20); expert 2 → [20,36),
  // [36,52), [52,68), [68,70); G = ceil(70/16) + 3 = 8, so two empty chunks end the list.
  auto c = wgrad_chunks(torch::tensor({20, 20, 70}, torch::kInt32), 70, 16);
  EXPECT_TRUE(torch::equal(c.offs, torch::tensor({16, 20, 36, 52, 68, 70, 70, 70}, torch::kInt32)));
  EXPECT_TRUE(torch::equal(c.first, torch::tensor({0, 2, 2}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(c.count, torch::tensor({2, 0, 4}, torch::kInt64)));
}

TEST(LlmGroupedDispatch, ChunkedWeightGradientIsThePerExpertProduct) {
  // dW_e = dY_eᵀ X_e over each group's rows, whatever the chunking; the empty expert gets zeros.
  auto gen = torch_generator(stream_key(5, "test.wgrad_chunks"));
  const int64_t R = 70, n = 6, k = 5;
  auto dy = torch::randn({R, n}, gen), x = torch::randn({R, k}, gen);
  auto offs = torch::tensor({20, 20, 70}, torch::kInt32);
  const int64_t lo[3] = {0, 20, 20}, hi[3] = {20, 20, 70};
  for (int64_t L : {1, 16, 64, 128}) {
    auto dw = grouped_weight_grad(dy, x, wgrad_chunks(offs, R, L));
    ASSERT_EQ(dw.sizes(), (std::vector<int64_t>{3, n, k}));
    for (int e = 0; e < 3; ++e) {
      auto want = torch::matmul(dy.narrow(0, lo[e], hi[e] - lo[e]).t(), x.narrow(0, lo[e], hi[e] - lo[e]));
      EXPECT_TRUE(torch::allclose(dw[e], want, 1e-5, 1e-5)) << "L " << L << ", expert " << e;
    }
  }
}

TEST(LlmGroupedDispatch, SegmentSumAddsEachExpertsChunksByHand) {
  auto p = torch::arange(5, torch::kFloat32).view({5, 1, 1}) + 1;  // chunks 1..5
  auto out = segment_sum(p, torch::tensor({0, 2, 2}, torch::kInt64), torch::tensor({2, 0, 3}, torch::kInt64));
  EXPECT_TRUE(torch::equal(out.view({3}), torch::tensor({3.f, 0.f, 12.f})));
}

// GPU: the segment-sum kernel against the host loop, and grouped_linear's own backward (dW from the chunked
// K-grouped GEMM) against per-group products in f32, with an empty group, groups longer than a chunk and unused
// tail rows.
TEST(LlmGroupedDispatch, GpuSegmentSumMatchesTheLoop) {
  if (!torch::cuda::is_available() || !have_grouped_mm()) GTEST_SKIP() << "needs a GPU and _grouped_mm";
  auto gen = torch_generator(stream_key(6, "test.segment_sum"));
  auto p = torch::randn({7, 24, 16}, gen).to(torch::kBFloat16);
  auto first = torch::tensor({0, 3, 3, 4}, torch::kInt64), count = torch::tensor({3, 0, 1, 3}, torch::kInt64);
  auto want = segment_sum(p, first, count);
  auto got = segment_sum(p.cuda(), first.cuda(), count.cuda()).cpu();
  EXPECT_TRUE(torch::allclose(got.to(torch::kFloat32), want.to(torch::kFloat32), 1e-2, 1e-2));
}

TEST(LlmGroupedDispatch, GpuGroupedLinearGradientsArePerGroupProducts) {
  if (!torch::cuda::is_available() || !have_grouped_mm()) GTEST_SKIP() << "needs a GPU and _grouped_mm";
  auto gen = torch_generator(stream_key(4, "test.grouped_linear"));
  const int64_t R = 96, k = 32, n = 48;
  auto x32 = torch::randn({R, k}, gen), w32 = torch::randn({3, n, k}, gen) * 0.1, dy32 = torch::randn({R, n}, gen);
  GroupedLayout g;
  g.offs = torch::tensor({16, 16, 80}, torch::kInt32).cuda();  // [0,16), [16,16) empty, [16,80); 80.. unused
  g.chunks = wgrad_chunks(g.offs, R, 16);                       // expert 2's 64 rows in 4 chunks
  auto bf = [](const torch::Tensor& t) { return t.to(torch::kCUDA, torch::kBFloat16); };
  auto x = bf(x32).requires_grad_(true), w = bf(w32).requires_grad_(true);
  auto y = grouped_linear(x, w, g);
  y.backward(bf(dy32));
  ASSERT_TRUE(w.grad().is_contiguous());
  auto xr = x.detach().to(torch::kCPU, torch::kFloat32), wr = w.detach().to(torch::kCPU, torch::kFloat32);
  auto dyr = bf(dy32).to(torch::kCPU, torch::kFloat32);
  auto close = [](const torch::Tensor& got, const torch::Tensor& want) {
    return (got.to(torch::kCPU, torch::kFloat32) - want).abs().max().item<float>() <=
           2e-2f * want.abs().max().item<float>() + 1e-3f;
  };
  const int64_t lo[3] = {0, 16, 16}, hi[3] = {16, 16, 80};
  for (int e = 0; e < 3; ++e) {
    auto rows = [&](const torch::Tensor& t) { return t.narrow(0, lo[e], hi[e] - lo[e]); };
    EXPECT_TRUE(close(w.grad()[e], torch::matmul(rows(dyr).t(), rows(xr)))) << "expert " << e;
    if (hi[e] > lo[e]) {
      EXPECT_TRUE(close(rows(y.detach()), torch::matmul(rows(xr), wr[e].t()))) << "expert " << e;
      EXPECT_TRUE(close(rows(x.grad()), torch::matmul(rows(dyr), wr[e]))) << "expert " << e;
    }
  }
}

// GPU: the row gathers of dispatch_rows (bf16 rows) and of combine_rows' backward (f32 gradients rounded to bf16)
// against index_select on the CPU, on the vectorised (C = 24) and the scalar (C = 6) path.
TEST(LlmGroupedDispatch, GpuRowGathersMatchIndexSelect) {
  if (!torch::cuda::is_available() || !have_grouped_mm()) GTEST_SKIP() << "needs a GPU and _grouped_mm";
  auto pair_expert = torch::tensor({0, 2, 2, 0, 0, 2, 2, 1}, torch::kInt64);
  auto [sorted, order] = pair_expert.sort(true, 0, false);
  auto counts = torch::tensor({3, 1, 3}, torch::kInt64);
  auto g = grouped_layout(sorted.cuda(), order.cuda(), counts.cuda(), 2, 4);
  auto gen = torch_generator(stream_key(7, "test.gather_rows"));
  for (int64_t C : {24, 6}) {
    auto x = torch::randn({4, C}, gen).to(torch::kCUDA, torch::kBFloat16).requires_grad_(true);
    auto xp = dispatch_rows(x, g);
    EXPECT_TRUE(torch::equal(xp.cpu(), x.detach().cpu().index_select(0, g.token.cpu()))) << "C " << C;
    auto y = torch::randn({g.rows, C}, gen).to(torch::kCUDA, torch::kBFloat16).requires_grad_(true);
    auto dout = torch::randn({4, C}, gen);
    combine_rows(y, g, torch::kFloat32).backward(dout.cuda());
    auto want = dout.to(torch::kBFloat16).index_select(0, g.token.cpu());
    EXPECT_TRUE(torch::equal(y.grad().cpu(), want)) << "C " << C;
  }
}
