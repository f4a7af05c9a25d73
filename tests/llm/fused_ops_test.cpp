// Fused MLA RoPE/keys, SwiGLU and residual add (fused_ops.h): hand-worked values on the CPU (the composite
// path), and on a CUDA build with the kernels the fused path against the composite one in values and gradients.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include "plexus/llm/fused_ops.h"

using namespace plexus::llm;

namespace {

// cos/sin tables [T, n] for angles θ(t, i) = (t + 1)·(i + 1)·0.3.
std::pair<torch::Tensor, torch::Tensor> tables(int64_t T, int64_t n, torch::Device dev = torch::kCPU) {
  auto t = torch::arange(1, T + 1, torch::kFloat64).unsqueeze(1), i = torch::arange(1, n + 1, torch::kFloat64);
  auto a = t * i * 0.3;
  return {a.cos().to(torch::kFloat32).to(dev), a.sin().to(torch::kFloat32).to(dev)};
}

torch::Tensor identity_product(const torch::Tensor& x, const torch::Tensor& w) { return torch::matmul(x, w.t()); }

}  // namespace

TEST(LlmFusedOps, QueriesRotateOnlyTheirLastColumnsByHand) {
  // One token, one head, d_n = 2, d_r = 2: q = [5, 7 | 1, 0] → [5, 7 | cos θ, sin θ] with θ = 0.3.
  auto [c, s] = tables(1, 1);
  auto q = torch::tensor({5.f, 7.f, 1.f, 0.f}).view({1, 1, 1, 4});
  auto out = rope_queries(q, 2, c, s);
  auto want = torch::tensor({5.f, 7.f, static_cast<float>(std::cos(0.3)), static_cast<float>(std::sin(0.3))});
  EXPECT_TRUE(torch::allclose(out.view({4}), want, 0, 1e-7));
}

TEST(LlmFusedOps, EveryHeadSharesTheRotatedKeyByHand) {
  // B = 1, T = 2, H = 3, d_n = 1 (k_nope = head index), d_r = 2 with k_pe = [0, 1] at both positions:
  // rotating (0, 1) by θ gives (−sin θ, cos θ), θ(t) = 0.3·(t + 1).
  auto [c, s] = tables(2, 1);
  auto kn = torch::arange(3, torch::kFloat32).view({1, 1, 3, 1}).expand({1, 2, 3, 1});
  auto pe = torch::tensor({0.f, 1.f, 0.f, 1.f}).view({1, 2, 2});
  auto k = rope_keys(kn, pe, c, s);
  ASSERT_EQ(k.sizes(), (std::vector<int64_t>{1, 2, 3, 3}));
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t h = 0; h < 3; ++h) {
      const double th = 0.3 * static_cast<double>(t + 1);
      EXPECT_FLOAT_EQ(k[0][t][h][0].item<float>(), static_cast<float>(h));
      EXPECT_NEAR(k[0][t][h][1].item<float>(), -std::sin(th), 1e-6);
      EXPECT_NEAR(k[0][t][h][2].item<float>(), std::cos(th), 1e-6);
    }
}

TEST(LlmFusedOps, SwigluHiddenIsSiluTimesUpTimesRowWeightByHand) {
  // x = [1], W1 = [[2], [0]], W3 = [[3], [1]]: h = [silu(2)·3, silu(0)·1]·w = [3·2σ(2), 0]·w, w = 0.5.
  auto x = torch::ones({1, 1});
  auto w1 = torch::tensor({2.f, 0.f}).view({2, 1}), w3 = torch::tensor({3.f, 1.f}).view({2, 1});
  auto h = swiglu_hidden(x, torch::cat({w1, w3}), torch::tensor({0.5f}), identity_product);
  const double sig2 = 1.0 / (1.0 + std::exp(-2.0));
  EXPECT_NEAR(h[0][0].item<float>(), 0.5 * 3 * 2 * sig2, 1e-6);
  EXPECT_EQ(h[0][1].item<float>(), 0.f);
}

TEST(LlmFusedOps, ResidualAddPromotesTheBranch) {
  auto x = torch::tensor({1.5f, -2.f}), y = torch::tensor({0.25f, 4.f}).to(torch::kBFloat16);
  auto out = residual_add(x, y);
  EXPECT_EQ(out.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(out, torch::tensor({1.75f, 2.f})));
}

// ---- CUDA: the fused kernels against the composite expressions they replace -------------------------------

namespace {

bool have_fused_gpu() { return torch::cuda::is_available() && have_fused_kernels(); }

// Relative error ‖a − b‖ / ‖b‖ in f64.
double rel(const torch::Tensor& a, const torch::Tensor& b) {
  auto a64 = a.to(torch::kCPU, torch::kFloat64), b64 = b.to(torch::kCPU, torch::kFloat64);
  return (a64 - b64).norm().item<double>() / b64.norm().item<double>();
}

// A bf16 leaf on the GPU with values drawn on the CPU from a fixed generator.
torch::Tensor leaf(std::vector<int64_t> shape, uint64_t seed) {
  auto g = at::detail::createCPUGenerator(seed);
  return torch::randn(shape, g, torch::kFloat32).to(torch::kCUDA, torch::kBFloat16).requires_grad_(true);
}

}  // namespace

TEST(LlmFusedOps, GpuRopeQueriesAndKeysMatchTheComposite) {
  if (!have_fused_gpu()) GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  const int64_t B = 2, T = 5, H = 3, dn = 8, dr = 4, dv = 6;
  auto [c, s] = tables(T, dr / 2, torch::kCUDA);
  // Strided inputs as in MLA: q from a wider product, k_nope and k_pe as split views.
  auto q = leaf({B, T, H, dn + dr}, 1), kv = leaf({B, T, H, dn + dv}, 2), lat = leaf({B, T, 10 + dr}, 3);
  auto kn = kv.split_with_sizes({dn, dv}, -1)[0], pe = lat.split_with_sizes({10, dr}, -1)[1];
  auto qf = rope_queries(q, dr, c, s), kf = rope_keys(kn, pe, c, s);
  // The composite: split + apply_rope + cat (what rope_queries/rope_keys run off the fused path), in f32.
  auto rot = [&](const torch::Tensor& x) {
    auto xf = x.to(torch::kFloat32).view({x.size(0), T, x.size(2), dr / 2, 2});
    auto x0 = xf.select(-1, 0), x1 = xf.select(-1, 1);
    auto cc = c.view({1, T, 1, dr / 2}), ss = s.view({1, T, 1, dr / 2});
    return torch::stack({x0 * cc - x1 * ss, x0 * ss + x1 * cc}, -1).view(x.sizes()).to(x.scalar_type());
  };
  auto qp = q.split_with_sizes({dn, dr}, -1);
  auto qc = torch::cat({qp[0], rot(qp[1])}, -1);
  auto kc = torch::cat({kn, rot(pe.unsqueeze(2)).expand({B, T, H, dr})}, -1);
  EXPECT_TRUE(torch::equal(qf, qc));  // same f32 products and roundings: bit for bit
  EXPECT_TRUE(torch::equal(kf, kc));
  auto gq = leaf({B, T, H, dn + dr}, 4).detach(), gk = leaf({B, T, H, dn + dr}, 5).detach();
  auto fused = torch::autograd::grad({qf, kf}, {q, kv, lat}, {gq, gk});
  auto comp = torch::autograd::grad({qc, kc}, {q, kv, lat}, {gq, gk});
  for (size_t i = 0; i < 3; ++i) EXPECT_LT(rel(fused[i], comp[i]), 1e-2) << "input " << i;
  // The q gradient's nope columns and every head's k_nope gradient are copies: exact.
  EXPECT_TRUE(torch::equal(fused[0].narrow(-1, 0, dn), gq.narrow(-1, 0, dn)));
  EXPECT_TRUE(torch::equal(fused[1].narrow(-1, 0, dn), gk.narrow(-1, 0, dn)));
}

TEST(LlmFusedOps, GpuSwigluAndResidualAddMatchTheComposite) {
  if (!have_fused_gpu()) GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  const int64_t R = 37, C = 16, I = 24;
  auto x = leaf({R, C}, 6), w1 = leaf({I, C}, 7), w3 = leaf({I, C}, 8);
  auto g = at::detail::createCPUGenerator(9);
  auto rw = torch::rand({R}, g).to(torch::kCUDA).requires_grad_(true);
  auto product = [](const torch::Tensor& a, const torch::Tensor& w) { return torch::matmul(a, w.t()); };
  auto h = swiglu_hidden(x, torch::cat({w1, w3}), rw, product);
  // The composite in f64 on the same bf16 inputs: the fused path rounds once, at its output.
  auto x64 = x.to(torch::kFloat64), a = torch::matmul(x64, w1.to(torch::kFloat64).t()),
       b = torch::matmul(x64, w3.to(torch::kFloat64).t());
  auto h64 = torch::silu(a) * b * rw.to(torch::kFloat64).unsqueeze(1);
  EXPECT_LT(rel(h, h64), 1e-2);
  auto gh = leaf({R, I}, 10).detach();
  auto fused = torch::autograd::grad({h}, {x, w1, w3, rw}, {gh});
  auto comp = torch::autograd::grad({h64}, {x, w1, w3, rw}, {gh.to(torch::kFloat64)});
  for (size_t i = 0; i < 4; ++i) EXPECT_LT(rel(fused[i], comp[i]), 2e-2) << "input " << i;
  // Without a row weight (the dense MLP and shared experts).
  auto h1 = swiglu_hidden(x, torch::cat({w1, w3}), {}, product);
  EXPECT_LT(rel(h1, torch::silu(a) * b), 1e-2);

  auto res = torch::randn({R, C}, torch::kCUDA).requires_grad_(true);
  auto y = leaf({R, C}, 11);
  auto sum = residual_add(res, y);
  EXPECT_TRUE(torch::equal(sum, res + y));  // exact: bf16 → f32 is exact, then one f32 add
  auto d = torch::autograd::grad({sum}, {res, y}, {torch::ones_like(sum)});
  EXPECT_TRUE(torch::equal(d[0], torch::ones_like(res)));
  EXPECT_TRUE(torch::equal(d[1], torch::ones_like(y)));
}

TEST(LlmFusedOps, ExpertSelectionKeepsTheBestGroupsByHand) {
  // E = 6 in G = 3 groups of 2, one group kept, K = 2. Token 0: group sums (top two) 0.9+0.1, 0.5+0.6, 0.2+0.3 →
  // group 1 wins (1.1 > 1.0) although expert 0 (0.9) is the best single expert: picks 3 (0.6) then 2 (0.5).
  // Token 1 with max-scored groups (the softmax rule): group 0 (max 0.9) wins → picks 0 then 1.
  auto sel = torch::tensor({0.9f, 0.1f, 0.5f, 0.6f, 0.2f, 0.3f}).view({1, 6});
  EXPECT_TRUE(torch::equal(select_experts(sel, 3, 1, 2, true), torch::tensor({3, 2}, torch::kInt64).view({1, 2})));
  EXPECT_TRUE(torch::equal(select_experts(sel, 3, 1, 2, false), torch::tensor({0, 1}, torch::kInt64).view({1, 2})));
  // One group: plain top-K in descending order.
  EXPECT_TRUE(torch::equal(select_experts(sel, 1, 1, 3, true), torch::tensor({0, 3, 2}, torch::kInt64).view({1, 3})));
}

TEST(LlmFusedOps, GpuExpertSelectionMatchesTheComposite) {
  if (!have_fused_gpu()) GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  auto g = at::detail::createCPUGenerator(12);
  // The 1B preset's routing (E = 32, G = 8, 4 groups kept, K = 4) and the 100M preset's (16, 4, 2, 2).
  for (auto [E, G, kept, K] : std::vector<std::array<int64_t, 4>>{{32, 8, 4, 4}, {16, 4, 2, 2}, {64, 1, 1, 6}}) {
    auto sel = torch::rand({1000, E}, g);
    for (bool two : {true, false}) {
      auto want = select_experts(sel, G, kept, K, two);  // CPU: the composite
      auto got = select_experts(sel.to(torch::kCUDA), G, kept, K, two).cpu();
      EXPECT_TRUE(torch::equal(got, want)) << "E " << E << " G " << G << " top_two_sum " << two;
    }
  }
}

TEST(LlmFusedOps, RmsNormByHandInEitherOutputDtype) {
  // x = [3, 4]: mean(x²) = 12.5, so y = x / sqrt(12.5 + ε) ⊙ g with g = [1, 2] → [0.8485, 2.2627].
  auto x = torch::tensor({3.f, 4.f}).view({1, 2}), g = torch::tensor({1.f, 2.f});
  const double r = 1.0 / std::sqrt(12.5 + 1e-6);
  auto y = rms_norm(x, g, 1e-6, torch::kFloat32);
  EXPECT_NEAR(y[0][0].item<float>(), 3 * r, 1e-6);
  EXPECT_NEAR(y[0][1].item<float>(), 8 * r, 1e-6);
  auto yb = rms_norm(x, g, 1e-6, torch::kBFloat16);
  EXPECT_EQ(yb.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(yb, y.to(torch::kBFloat16)));
  auto [both32, both16] = rms_norm_both(x, g, 1e-6, torch::kBFloat16);  // the MoE input: f32 and bf16 at once
  EXPECT_TRUE(torch::equal(both32, y));
  EXPECT_TRUE(torch::equal(both16, yb));
  auto [same32, same] = rms_norm_both(x, g, 1e-6, torch::kFloat32);
  EXPECT_TRUE(same.is_same(same32));  // f32 compute: one tensor, no copy
}

TEST(LlmFusedOps, AddRmsNormByHand) {
  // x = [1, 5], y = [2, −1]: h = [3, 4], mean(h²) = 12.5, n = h / sqrt(12.5 + ε) ⊙ [1, 2].
  auto x = torch::tensor({1.f, 5.f}).view({1, 2}), y = torch::tensor({2.f, -1.f}).view({1, 2});
  auto g = torch::tensor({1.f, 2.f});
  const double r = 1.0 / std::sqrt(12.5 + 1e-6);
  auto s = add_rms_norm(x, y, g, 1e-6, torch::kFloat32, /*with_f32=*/false);
  EXPECT_TRUE(torch::equal(s.h, torch::tensor({3.f, 4.f}).view({1, 2})));
  EXPECT_NEAR(s.n[0][0].item<float>(), 3 * r, 1e-6);
  EXPECT_NEAR(s.n[0][1].item<float>(), 8 * r, 1e-6);
  EXPECT_FALSE(s.n_f32.defined());
  auto b = add_rms_norm(x, y, g, 1e-6, torch::kBFloat16, /*with_f32=*/true);
  EXPECT_TRUE(torch::equal(b.n_f32, s.n));
  EXPECT_TRUE(torch::equal(b.n, s.n.to(torch::kBFloat16)));
}

TEST(LlmFusedOps, GpuAddRmsNormMatchesTheComposite) {
  if (!have_fused_gpu()) GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  auto gen = at::detail::createCPUGenerator(17);
  const int64_t N = 300;
  // C = 96: the per-column kernels; C = 1024: the vectorised ones (8 columns per lane, the 1B model's width).
  for (int64_t C : {96, 1024})
    for (auto y_dtype : {torch::kBFloat16, torch::kFloat32})
      for (bool with_f32 : {false, true}) {
        auto g = (torch::rand({C}, gen) + 0.5).to(torch::kCUDA).requires_grad_(true);
        auto x = torch::randn({N, C}, gen).to(torch::kCUDA).requires_grad_(true);
        auto y = torch::randn({N, C}, gen).to(torch::kCUDA, y_dtype).requires_grad_(true);
        auto s = add_rms_norm(x, y, g, 1e-6, torch::kBFloat16, with_f32);
        // f64 composite on the same inputs.
        auto h64 = x.to(torch::kFloat64) + y.to(torch::kFloat64);
        auto n64 = h64 * torch::rsqrt(h64.pow(2).mean(-1, true) + 1e-6) * g.to(torch::kFloat64);
        EXPECT_TRUE(torch::equal(s.h, x + y)) << "h is one f32 add";
        EXPECT_LT(rel(s.n, n64), 1e-2);
        ASSERT_EQ(s.n_f32.defined(), with_f32);
        if (with_f32) {
          EXPECT_LT(rel(s.n_f32, n64), 1e-6);
          EXPECT_TRUE(torch::equal(s.n, s.n_f32.to(torch::kBFloat16)));
        }
        // Gradient of Σ dh·h + Σ dn·n (+ Σ dn32·n32): h's own gradient is added inside the norm's backward.
        auto dh = torch::randn({N, C}, gen).to(torch::kCUDA);
        auto dn = torch::randn({N, C}, gen).to(torch::kCUDA, torch::kBFloat16);
        auto dn32 = torch::randn({N, C}, gen).to(torch::kCUDA);
        std::vector<torch::Tensor> outs{s.h, s.n}, grads{dh, dn};
        auto dn_total = dn.to(torch::kFloat64);
        if (with_f32) outs.push_back(s.n_f32), grads.push_back(dn32), dn_total = dn_total + dn32.to(torch::kFloat64);
        auto got = torch::autograd::grad(outs, {x, y, g}, grads);
        auto ref = torch::autograd::grad({h64, n64}, {x, y, g}, {dh.to(torch::kFloat64), dn_total});
        EXPECT_LT(rel(got[0], ref[0]), 1e-5);
        EXPECT_LT(rel(got[1], ref[1]), y_dtype == torch::kFloat32 ? 1e-5 : 1e-2);
        EXPECT_EQ(got[1].scalar_type(), y_dtype);
        EXPECT_LT(rel(got[2], ref[2]), 1e-5) << "C = " << C;
      }
}

TEST(LlmFusedOps, GpuRmsNormMatchesTheComposite) {
  if (!have_fused_gpu()) GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  auto gen = at::detail::createCPUGenerator(13);
  const int64_t N = 300;
  // C = 96: the per-column kernels; C = 512: the vectorised ones (also on the strided split, row stride 544).
  for (int64_t C : {96, 512}) {
    auto g = (torch::rand({C}, gen) + 0.5).to(torch::kCUDA).requires_grad_(true);
    // f32 rows → bf16 (the attention input), f32 → f32 (the FFN input), and a strided bf16 split → bf16 (kv_norm).
    auto x32 = torch::randn({N, C}, gen).to(torch::kCUDA).requires_grad_(true);
    auto wide = torch::randn({N, C + 32}, gen).to(torch::kCUDA, torch::kBFloat16).requires_grad_(true);
    auto x16 = wide.split_with_sizes({C, 32}, -1)[0];
    struct Case { torch::Tensor x; torch::Tensor leaf; torch::Dtype out; };
    for (const auto& c : {Case{x32, x32, torch::kBFloat16}, Case{x32, x32, torch::kFloat32},
                          Case{x16, wide, torch::kBFloat16}}) {
      auto y = rms_norm(c.x, g, 1e-6, c.out);
      ASSERT_EQ(y.scalar_type(), c.out);
      auto xf = c.x.to(torch::kFloat64);
      auto want = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + 1e-6) * g.to(torch::kFloat64);  // f64 composite
      EXPECT_LT(rel(y, want), c.out == torch::kFloat32 ? 1e-6 : 1e-2);
      auto dy = torch::randn({N, C}, gen).to(torch::kCUDA, c.out);
      auto got = torch::autograd::grad({y}, {c.leaf, g}, {dy});
      auto ref = torch::autograd::grad({want}, {c.leaf, g}, {dy.to(torch::kFloat64)});
      const double tol = c.x.scalar_type() == torch::kFloat32 && c.out == torch::kFloat32 ? 1e-5 : 1e-2;
      EXPECT_LT(rel(got[0], ref[0]), tol);
      EXPECT_LT(rel(got[1], ref[1]), tol);
    }
    // Both outputs of one norm (the MoE input): the f32 one equals rms_norm's, the bf16 one is it rounded, and
    // the gradient is that of y·dy + y16·dy16 (f64 composite), or of one output alone when the other is unused.
    auto [y, y16] = rms_norm_both(x32, g, 1e-6, torch::kBFloat16);
    ASSERT_EQ(y16.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(y, rms_norm(x32, g, 1e-6, torch::kFloat32)));
    EXPECT_TRUE(torch::equal(y16, y.to(torch::kBFloat16)));
    auto xf = x32.to(torch::kFloat64);
    auto want = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + 1e-6) * g.to(torch::kFloat64);
    auto dy = torch::randn({N, C}, gen).to(torch::kCUDA), dy16 = torch::randn({N, C}, gen).to(torch::kCUDA, torch::kBFloat16);
    auto got = torch::autograd::grad({y, y16}, {x32, g}, {dy, dy16}, /*retain_graph=*/true);
    auto ref = torch::autograd::grad({want}, {x32, g}, {dy.to(torch::kFloat64) + dy16.to(torch::kFloat64)}, true);
    EXPECT_LT(rel(got[0], ref[0]), 1e-5);
    EXPECT_LT(rel(got[1], ref[1]), 1e-5);
    auto only16 = torch::autograd::grad({y16}, {x32}, {dy16});
    auto ref16 = torch::autograd::grad({want}, {x32}, {dy16.to(torch::kFloat64)});
    EXPECT_LT(rel(only16[0], ref16[0]), 1e-5) << "C = " << C;
  }
}

TEST(LlmFusedOps, CastBetweenF32AndBf16IsExactOneWayAndRoundsTheOther) {
  // bf16 keeps 8 significant bits, so its spacing above 1 is 2⁻⁷: 1 + 2⁻⁹ rounds to 1.
  auto x = torch::tensor({1.f + 1.f / 512.f, -3.5f, 0.f}).requires_grad_(true);
  auto b = cast(x, torch::kBFloat16);
  EXPECT_TRUE(torch::equal(b, torch::tensor({1.f, -3.5f, 0.f}).to(torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(cast(b, torch::kFloat32), torch::tensor({1.f, -3.5f, 0.f})));  // widening: exact
  auto g = torch::autograd::grad({b}, {x}, {torch::tensor({0.5f, 2.f, -1.f}).to(torch::kBFloat16)});
  EXPECT_TRUE(torch::equal(g[0], torch::tensor({0.5f, 2.f, -1.f})));
  EXPECT_TRUE(cast(x, torch::kFloat32).is_same(x));  // no cast: the tensor itself
}

TEST(LlmFusedOps, GpuCastMatchesLibTorch) {
  if (!have_fused_gpu()) GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  auto gen = at::detail::createCPUGenerator(21);
  // 1037 elements: a vectorised body and a scalar tail.
  auto leaf = torch::randn({1037}, gen).to(torch::kCUDA).requires_grad_(true);
  auto b = cast(leaf, torch::kBFloat16);
  EXPECT_TRUE(torch::equal(b, leaf.detach().to(torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(cast(b.detach(), torch::kFloat32), b.detach().to(torch::kFloat32)));
  auto gb = torch::randn({1037}, gen).to(torch::kCUDA, torch::kBFloat16);
  auto g = torch::autograd::grad({b}, {leaf}, {gb});
  EXPECT_TRUE(torch::equal(g[0], gb.to(torch::kFloat32)));
  // A contiguous view 2 bytes past a 16-byte boundary takes the scalar kernel.
  auto odd = torch::randn({1040}, gen).to(torch::kCUDA, torch::kBFloat16).narrow(0, 1, 1037);
  ASSERT_TRUE(odd.is_contiguous());
  EXPECT_TRUE(torch::equal(cast(odd, torch::kFloat32), odd.to(torch::kFloat32)));
}

TEST(LlmFusedOps, GatherSumAddsEachTokensSlotsByHand) {
  // y rows [1,2], [3,4], [5,6]; token 0 reads rows 2 and 0, token 1 reads row 1 twice (K = 2).
  auto y = torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).view({3, 2});
  auto out = gather_sum(y, torch::tensor({2, 0, 1, 1}, torch::kInt64), 2, torch::kFloat32);
  EXPECT_TRUE(torch::equal(out, torch::tensor({6.f, 8.f, 6.f, 8.f}).view({2, 2})));
}

TEST(LlmFusedOps, GpuGatherSumMatchesTheComposite) {
  if (!have_fused_gpu()) GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  auto gen = at::detail::createCPUGenerator(14);
  const int64_t R = 70, N = 16, K = 4, C = 264;  // C = 33 chunks of 8: more chunks than one warp
  auto y = torch::randn({R, C}, gen).to(torch::kBFloat16);
  auto slot = torch::randperm(R, gen).narrow(0, 0, N * K);
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    auto want = gather_sum(y, slot, K, dt);  // CPU: index_select + sum
    auto got = gather_sum(y.to(torch::kCUDA), slot.to(torch::kCUDA), K, dt).cpu();
    EXPECT_EQ(got.scalar_type(), dt);
    EXPECT_LT(rel(got, want), dt == torch::kFloat32 ? 1e-6 : 1e-2);
  }
}
