// The BlackVIP-style visual prompt generator over a flat θ (prompt_generator.h).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "plexus/bbpt/prompt_generator.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"

using namespace plexus;
using namespace plexus::bbpt;

TEST(PromptGenerator, SizeMatchesHandCount) {
  // P = Hd(C+F) + Hd + C·Hd + C + C·t².
  // C = 1, F = Hd = 8, t = 7: 8·9 + 8 + 8 + 1 + 49 + 1 (gain) = 139.
  EXPECT_EQ(PromptGenerator(1, 28, 28, {}, 0).size(), 139);
  // C = 3: 8·11 + 8 + 24 + 3 + 3·49 + 3 = 273.
  EXPECT_EQ(PromptGenerator(3, 32, 32, {}, 0).size(), 273);
  // C = 2, F = 4, Hd = 5, t = 3: 5·6 + 5 + 10 + 2 + 18 + 2 = 67.
  EXPECT_EQ(PromptGenerator(2, 9, 9, {4, 5, 3}, 0).size(), 67);
  EXPECT_THROW(PromptGenerator(1, 28, 28, {0, 8, 7}, 0), Error);
}

TEST(PromptGenerator, InitialPromptIsExactlyZeroWithRightShape) {
  const PromptGenerator g(1, 28, 28, {}, 1);
  const torch::Tensor theta = g.initial(2);
  ASSERT_EQ(theta.sizes(), (std::vector<int64_t>{139}));
  EXPECT_EQ(theta.scalar_type(), torch::kFloat32);
  EXPECT_GT(theta.abs().sum().item<float>(), 0.0f);  // W1 is random, the rest 0
  auto gen = torch_generator(stream_key(3, "images"));
  const torch::Tensor x = torch::rand({4, 1, 28, 28}, gen);
  const torch::Tensor p = g.prompt(theta, x);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{4, 1, 28, 28}));
  EXPECT_EQ(p.abs().max().item<float>(), 0.0f);       // exactly: zero-shot at θ0
  EXPECT_TRUE(torch::equal(g.prompted(theta, x), x));
}

TEST(PromptGenerator, ConstantTriggerAndBiasGiveConstantPrompt) {
  // With W2 = 0 and G = 0 the prompt is b2 + bilinear_up(T); bilinear upsampling of a constant is that
  // constant. C = 2: b2 = [0.2, −0.1], T = 0.3 everywhere → prompt channel 0 = 0.5, channel 1 = 0.2.
  const PromptGenerator g(2, 10, 12, {}, 1);
  torch::Tensor theta = g.initial(0);
  const int64_t P = g.size(), t2 = 49, T0 = P - 2 - 2 * t2;  // layout ends with b2 [2], T [2·t²], G [2]
  theta.narrow(0, T0, 2 * t2).fill_(0.3f);
  theta[T0 - 2] = 0.2f;
  theta[T0 - 1] = -0.1f;
  auto gen = torch_generator(stream_key(4, "images"));
  const torch::Tensor p = g.prompt(theta, torch::rand({3, 2, 10, 12}, gen));
  EXPECT_LT((p.select(1, 0) - 0.5).abs().max().item<float>(), 1e-6f);
  EXPECT_LT((p.select(1, 1) - 0.2).abs().max().item<float>(), 1e-6f);
  // The skip gain G = [−2, 0] adds −2x to channel 0 only: x + prompt = 0.5 − x there (an inversion undone).
  theta[P - 2] = -2.0f;
  auto x = torch::rand({3, 2, 10, 12}, gen);
  const torch::Tensor q = g.prompted(theta, x);
  EXPECT_LT((q.select(1, 0) - (0.5 - x.select(1, 0))).abs().max().item<float>(), 1e-6f);
  EXPECT_LT((q.select(1, 1) - (0.2 + x.select(1, 1))).abs().max().item<float>(), 1e-6f);
}

TEST(PromptGenerator, GradientMatchesCentralDifference) {
  // f(θ) = Σ prompt(θ, x) ⊙ R in f64 at a random θ (θ0 has W2 = 0, which zeroes ∂f/∂W1). Central difference
  // with h = 1e-6: truncation O(h²) ≈ 1e-12, rounding ≈ 1e-16·|f|/h ≈ 1e-9; tolerance 1e-6.
  const PromptGenerator g(2, 9, 11, {}, 5);
  auto gen = torch_generator(stream_key(5, "fd"));
  const torch::Tensor theta0 = g.initial(1).to(torch::kDouble) + 0.3 * torch::randn({g.size()}, gen, torch::kDouble);
  const torch::Tensor x = torch::rand({2, 2, 9, 11}, gen, torch::kDouble);
  const torch::Tensor R = torch::randn({2, 2, 9, 11}, gen, torch::kDouble);
  auto f = [&](const torch::Tensor& th) { return (g.prompt(th, x) * R).sum(); };

  const torch::Tensor theta = theta0.clone().requires_grad_(true);
  f(theta).backward();
  const torch::Tensor grad = theta.grad();
  // One coordinate in each block: W1 [0, 80), b1 [80, 88), W2 [88, 104), b2 [104, 106), T [106, 204),
  // G [204, 206).
  ASSERT_EQ(g.size(), 206);
  const double h = 1e-6;
  for (int64_t i : {0L, 37L, 83L, 90L, 105L, 130L, 203L, 205L}) {
    torch::Tensor plus = theta0.clone(), minus = theta0.clone();
    plus[i] += h;
    minus[i] -= h;
    const double fd = (f(plus).item<double>() - f(minus).item<double>()) / (2 * h);
    EXPECT_NEAR(grad[i].item<double>(), fd, 1e-6) << "coordinate " << i;
  }
}

TEST(PromptGenerator, SameSeedSameEncoderAndCachedEncodingAgrees) {
  const PromptGenerator a(3, 8, 8, {64, 8, 7}, 42), b(3, 8, 8, {64, 8, 7}, 42), c(3, 8, 8, {64, 8, 7}, 43);
  EXPECT_TRUE(torch::equal(a.encoder(), b.encoder()));
  EXPECT_FALSE(torch::equal(a.encoder(), c.encoder()));
  ASSERT_EQ(a.encoder().sizes(), (std::vector<int64_t>{64, 3, 3, 3}));
  // Kaiming scale √(2/(9C)) = √(2/27) ≈ 0.2722; n = 1728 draws, relative SE of the sd ≈ 1/√(2n) ≈ 1.7%; 5 SE.
  EXPECT_NEAR(a.encoder().std().item<float>(), std::sqrt(2.0 / 27.0), 0.085 * std::sqrt(2.0 / 27.0));
  // prompt == prompt_from_encoded(encode(x)): the SPSA caller may encode a batch once.
  auto gen = torch_generator(stream_key(6, "images"));
  const torch::Tensor theta = a.initial(0) + 0.1 * torch::randn({a.size()}, gen);
  const torch::Tensor x = torch::rand({2, 3, 8, 8}, gen);
  EXPECT_TRUE(torch::allclose(a.prompt(theta, x), a.prompt_from_encoded(theta, a.encode(x))));
  EXPECT_TRUE(torch::allclose(a.prompt(theta, x), b.prompt(theta, x)));
}

TEST(PromptGenerator, WrongImageShapeIsDataError) {
  const PromptGenerator g(1, 28, 28, {}, 0);
  try {
    g.prompt(g.initial(0), torch::zeros({2, 3, 28, 28}));
    FAIL() << "3-channel images accepted by a 1-channel generator";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
  }
}
