// Cross-entropy rows (fused_ops.h cross_entropy_rows): a hand-worked case on the CPU (the composite path), and on
// a CUDA build with the kernels the fused path against the f32 composite in values and gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "plexus/core/rng.h"
#include "plexus/llm/fused_ops.h"

using namespace plexus::llm;

TEST(LlmCrossEntropy, RowLossesAndGradientByHand) {
  // Row 0: x = [1, 2, 3], target 2: loss = log(e¹ + e² + e³) − 3 = log(1 + e⁻¹ + e⁻²).
  // Row 1: x = [0, 0, 0], target 0: loss = log 3.
  auto x = torch::tensor({1.f, 2.f, 3.f, 0.f, 0.f, 0.f}).view({2, 3}).requires_grad_(true);
  auto t = torch::tensor({2, 0}, torch::kInt64);
  auto loss = cross_entropy_rows(x, t);
  ASSERT_EQ(loss.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(loss.scalar_type(), torch::kFloat32);
  const double z0 = 1 + std::exp(-1.0) + std::exp(-2.0);
  EXPECT_NEAR(loss[0].item<float>(), std::log(z0), 1e-6);  // f32 rounding of values near 0.4 and 1.1
  EXPECT_NEAR(loss[1].item<float>(), std::log(3.0), 1e-6);

  // Upstream gradient g = [2, −1]: dx[r] = (softmax(x[r]) − onehot(t[r])) · g[r].
  auto dx = torch::autograd::grad({loss}, {x}, {torch::tensor({2.f, -1.f})})[0];
  const double p0[3] = {std::exp(-2.0) / z0, std::exp(-1.0) / z0, 1 / z0};
  const double want[2][3] = {{2 * p0[0], 2 * p0[1], 2 * (p0[2] - 1)}, {-(1.0 / 3 - 1), -1.0 / 3, -1.0 / 3}};
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(dx[r][c].item<float>(), want[r][c], 1e-6) << r << "," << c;
}

TEST(LlmCrossEntropy, Bf16LogitsOnTheCpuGiveF32Losses) {
  // [0, 0] in bf16 (exact) with target 1: loss = log 2 in f32.
  auto x = torch::zeros({1, 2}, torch::kBFloat16);
  auto loss = cross_entropy_rows(x, torch::tensor({1}, torch::kInt64));
  EXPECT_EQ(loss.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(loss[0].item<float>(), std::log(2.0), 1e-6);
}

// ---- CUDA: the fused kernels against the f32 composite they replace -----------------------------------------

namespace {

// bf16 logits [M, W] on the GPU, N(0, 3²) (a peaked softmax, as a trained head gives), drawn on the CPU.
torch::Tensor bf16_logits(int64_t M, int64_t W, uint64_t seed) {
  auto g = plexus::torch_generator(plexus::stream_key(seed, "cross_entropy_test/logits"));
  return (torch::randn({M, W}, g, torch::kFloat32) * 3).to(torch::kCUDA, torch::kBFloat16);
}

// One case: the fused loss and gradient of logits x [M, V] (any row stride) against the composite in f32 on the
// same bf16 values.
void expect_matches_composite(const torch::Tensor& x_in, uint64_t seed, const char* what) {
  SCOPED_TRACE(what);
  const auto M = x_in.size(0), V = x_in.size(1);
  auto g = plexus::torch_generator(plexus::stream_key(seed, "cross_entropy_test/targets"));
  auto t = torch::randint(V, {M}, g, torch::kInt64).to(torch::kCUDA);
  auto up = torch::randn({M}, g, torch::kFloat32).to(torch::kCUDA);  // upstream gradient per row
  auto x = x_in.detach().requires_grad_(true);
  auto loss = cross_entropy_rows(x, t);
  auto x32 = x_in.detach().to(torch::kFloat32).requires_grad_(true);
  namespace F = torch::nn::functional;
  auto want = F::cross_entropy(x32, t, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  ASSERT_EQ(loss.scalar_type(), torch::kFloat32);
  // Both in f32 from the same inputs; lse ≈ 10 here, so 1e-4 is ~100 ulp: room for a different summation order.
  EXPECT_LT((loss - want).abs().max().item<double>(), 1e-4);
  auto dx = torch::autograd::grad({loss}, {x}, {up})[0];
  auto dwant = torch::autograd::grad({want}, {x32}, {up})[0];
  ASSERT_EQ(dx.scalar_type(), torch::kBFloat16);
  // The fused gradient is the f32 value rounded once to bf16 (relative error ≤ 2⁻⁹): rtol 2⁻⁷ leaves room for
  // the f32 exp's last bits; atol for entries that round near zero.
  EXPECT_TRUE(torch::allclose(dx.to(torch::kFloat32), dwant, 1.0 / 128, 1e-6));
}

}  // namespace

TEST(LlmCrossEntropyGpu, KernelMatchesTheComposite) {
  if (!torch::cuda::is_available() || !have_fused_kernels())
    GTEST_SKIP() << "needs a CUDA device and a build with plexus's fused kernels";
  expect_matches_composite(bf16_logits(300, 8192, 1), 11, "[300, 8192] contiguous: 8 bf16 per load");
  expect_matches_composite(bf16_logits(37, 1001, 2), 12, "[37, 1001]: V not a multiple of 8, scalar path");
  expect_matches_composite(bf16_logits(64, 2056, 3).narrow(1, 8, 2048), 13,
                           "[64, 2048] of rows 2056 apart: strided rows, still 16-byte loads");
  expect_matches_composite(bf16_logits(40, 1030, 4).narrow(1, 3, 1024), 14,
                           "[40, 1024] starting 3 columns in: misaligned rows, scalar path");
}
