// Zeroth-order building blocks of Fed-BBPT: SPSA-GC (spsa.h), the simplex projection (simplex.h) and BDPL
// (bdpl.h). Expected values are worked by hand, closed forms, autograd, or statistical bounds with stated SEs.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "plexus/bbpt/bdpl.h"
#include "plexus/bbpt/simplex.h"
#include "plexus/bbpt/spsa.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"

using namespace plexus;
using namespace plexus::bbpt;

namespace {

// L(θ) = ½ θᵀAθ + bᵀθ with A = tridiag(1, 4, 1) (5×5; SPD: symmetric, strictly diagonally dominant, positive
// diagonal). At θ = [1, −1, 0.5, 2, −0.5]: Aθ = [3, −2.5, 3, 8, 0], so ∇L = Aθ + b = [3.1, −2.3, 2.7, 8, 1].
torch::Tensor quad_A() {
  torch::Tensor A = torch::zeros({5, 5}, torch::kDouble);
  for (int i = 0; i < 5; ++i) {
    A[i][i] = 4.0;
    if (i + 1 < 5) A[i][i + 1] = A[i + 1][i] = 1.0;
  }
  return A;
}
const std::vector<double> kTheta = {1.0, -1.0, 0.5, 2.0, -0.5};
const std::vector<double> kB = {0.1, 0.2, -0.3, 0.0, 1.0};
const std::vector<double> kGrad = {3.1, -2.3, 2.7, 8.0, 1.0};  // Aθ + b by hand

torch::Tensor vec(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); }

std::function<double(const torch::Tensor&)> quad_loss() {
  const torch::Tensor A = quad_A(), b = vec(kB);
  return [A, b](const torch::Tensor& t) { return (0.5 * t.dot(A.mv(t)) + b.dot(t)).item<double>(); };
}

}  // namespace

// ---------------------------------------------------------------------------------------------------- SPSA

TEST(Spsa, PerturbationIsSegmentedUniform) {
  Rng rng(11, "test");
  const int64_t n = 100000;
  const torch::Tensor d = spsa_perturbation(n, rng);
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{n}));
  EXPECT_EQ(d.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(d.device().is_cpu());
  const torch::Tensor a = d.abs();
  EXPECT_GE(a.min().item<float>(), 0.5f);
  EXPECT_LE(a.max().item<float>(), 1.0f);
  // Positive count ~ Binomial(n, ½): sd = √n/2 ≈ 158; 5 sd = 790.
  const int64_t pos = d.gt(0).sum().item<int64_t>();
  EXPECT_NEAR(static_cast<double>(pos), n / 2.0, 790.0);
  // |Δ| ~ U[0.5, 1]: mean 0.75, sd √(1/48)/√n ≈ 4.6e-4; 5 SE.
  EXPECT_NEAR(a.to(torch::kDouble).mean().item<double>(), 0.75, 2.3e-3);
}

TEST(Spsa, GainsMatchHandValuesForDefaults) {
  const SpsaOptions o;  // a = c = 0.01, α = 0.4, γ = 0.1, o = 1
  // a_1 = 0.01/2^0.4, a_10 = 0.01/11^0.4, c_1 = 0.01/1^0.1, c_10 = 0.01/10^0.1 (evaluated with a calculator).
  EXPECT_NEAR(spsa_gain(o, 1), 0.0075785828325520, 1e-15);
  EXPECT_NEAR(spsa_gain(o, 10), 0.0038321537573563, 1e-15);
  EXPECT_NEAR(spsa_radius(o, 1), 0.01, 1e-15);
  EXPECT_NEAR(spsa_radius(o, 10), 0.0079432823472428, 1e-15);
  EXPECT_THROW(spsa_gain(o, 0), Error);
  EXPECT_THROW(spsa_radius(o, 0), Error);
}

TEST(Spsa, TwoSidedDifferenceIsExactDirectionalDerivativeOnQuadratic) {
  // For a quadratic, [L(θ + cΔ) − L(θ − cΔ)]/(2c) = Δᵀ∇L(θ) exactly (even terms cancel), so with q = 1
  // ĝ_i Δ_i = Δᵀ∇L for every i. A copy of the stream reproduces Δ (spsa_gradient draws it first).
  const double c = 0.01;
  Rng r_est(5, "spsa"), r_copy(5, "spsa");
  const SpsaEstimate e = spsa_gradient(quad_loss(), vec(kTheta), c, 1, r_est);
  const torch::Tensor delta = spsa_perturbation(5, r_copy).to(torch::kDouble);
  double dd = 0;
  for (int i = 0; i < 5; ++i) dd += delta[i].item<double>() * kGrad[i];  // Δᵀ∇L with the hand gradient
  EXPECT_EQ(e.evaluations, 2);
  EXPECT_EQ(e.grad.scalar_type(), torch::kDouble);
  for (int i = 0; i < 5; ++i)
    // Rounding: L ≈ 20 in f64 (1e-15 relative) divided by 2c = 0.02 → ~1e-12 absolute.
    EXPECT_NEAR(e.grad[i].item<double>() * delta[i].item<double>(), dd, 1e-9) << "coordinate " << i;
}

TEST(Spsa, EstimateIsUnbiasedOnQuadratic) {
  // E[ĝ] = ∇L: E[Δ_j/Δ_i] = 0 for j ≠ i (independent, symmetric) and 1 for j = i; no O(c²) bias for a quadratic.
  const int n = 20000;
  const auto loss = quad_loss();
  const torch::Tensor theta = vec(kTheta);
  Rng rng(7, "spsa");
  std::vector<double> sum(5, 0.0), sum2(5, 0.0);
  for (int s = 0; s < n; ++s) {
    const torch::Tensor g = spsa_gradient(loss, theta, 0.01, 1, rng).grad;
    for (int i = 0; i < 5; ++i) {
      const double x = g[i].item<double>();
      sum[i] += x;
      sum2[i] += x * x;
    }
  }
  for (int i = 0; i < 5; ++i) {
    const double mean = sum[i] / n;
    const double var = (sum2[i] - n * mean * mean) / (n - 1);
    const double se = std::sqrt(var / n);  // sample standard error of the mean
    EXPECT_NEAR(mean, kGrad[i], 4.0 * se) << "coordinate " << i << " se " << se;
  }
}

TEST(Spsa, SameStreamSameEstimateAndMeanLossOfAllEvaluations) {
  std::vector<double> seen;
  const auto base = quad_loss();
  auto recording = [&](const torch::Tensor& t) {
    const double l = base(t);
    seen.push_back(l);
    return l;
  };
  Rng a(3, "spsa", 2, 9), b(3, "spsa", 2, 9), c(3, "spsa", 2, 10);
  const SpsaEstimate ea = spsa_gradient(recording, vec(kTheta), 0.05, 4, a);
  ASSERT_EQ(seen.size(), 8u);
  double mean = 0;
  for (double l : seen) mean += l / 8.0;
  EXPECT_DOUBLE_EQ(ea.mean_loss, mean);
  EXPECT_EQ(ea.evaluations, 8);
  const SpsaEstimate eb = spsa_gradient(base, vec(kTheta), 0.05, 4, b);
  const SpsaEstimate ec = spsa_gradient(base, vec(kTheta), 0.05, 4, c);
  EXPECT_TRUE(torch::equal(ea.grad, eb.grad));
  EXPECT_FALSE(torch::equal(ea.grad, ec.grad));
}

TEST(Spsa, GcStepOnHandNumbers) {
  // m' = 0.9·[0.5, −1] + [2, 4] = [2.45, 3.1];  θ' = [1, 2] − 0.1·([2, 4] + 0.9·[2.45, 3.1]) = [0.5795, 1.321].
  torch::Tensor theta = vec({1.0, 2.0}), m = vec({0.5, -1.0});
  spsa_gc_step(theta, m, vec({2.0, 4.0}), 0.1, 0.9);
  EXPECT_NEAR(m[0].item<double>(), 2.45, 1e-12);
  EXPECT_NEAR(m[1].item<double>(), 3.1, 1e-12);
  EXPECT_NEAR(theta[0].item<double>(), 0.5795, 1e-12);
  EXPECT_NEAR(theta[1].item<double>(), 1.321, 1e-12);
  // In place on a row view of a [N,P] state (the FL engine's layout).
  torch::Tensor X = torch::zeros({2, 2}, torch::kDouble), M = torch::zeros({2, 2}, torch::kDouble);
  torch::Tensor row = X[1], mrow = M[1];
  spsa_gc_step(row, mrow, vec({1.0, -1.0}), 0.5, 0.9);  // m = ĝ; θ = −0.5·(1 + 0.9)·ĝ = ∓0.95
  EXPECT_NEAR(X[1][0].item<double>(), -0.95, 1e-12);
  EXPECT_NEAR(X[1][1].item<double>(), 0.95, 1e-12);
  EXPECT_EQ(X[0].abs().sum().item<double>(), 0.0);
}

TEST(Spsa, RejectsBadArguments) {
  Rng rng(1, "spsa");
  try {
    spsa_gradient(quad_loss(), vec(kTheta), 0.01, 0, rng);
    FAIL() << "q = 0 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("spsa_perturbations"), std::string::npos);
  }
  EXPECT_THROW(spsa_gradient(quad_loss(), vec(kTheta), 0.0, 1, rng), Error);
  auto nan_loss = [](const torch::Tensor&) { return std::nan(""); };
  try {
    spsa_gradient(nan_loss, vec(kTheta), 0.01, 1, rng);
    FAIL() << "NaN loss accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
  }
}

// ------------------------------------------------------------------------------------------------- Simplex

namespace {
void expect_row(const torch::Tensor& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i].item<double>(), want[i], tol) << "entry " << i;
}
}  // namespace

TEST(Simplex, HandCases) {
  // τ by hand: [.5,.5,.5] → τ = 1/6; [2,0,0] → τ = 1; [.6,.4,−.2] → ρ = 2, τ = 0; a simplex point → τ = 0.
  expect_row(project_simplex(vec({0.5, 0.5, 0.5})), {1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-15);
  expect_row(project_simplex(vec({2.0, 0.0, 0.0})), {1.0, 0.0, 0.0}, 1e-15);
  expect_row(project_simplex(vec({0.6, 0.4, -0.2})), {0.6, 0.4, 0.0}, 1e-15);
  expect_row(project_simplex(vec({0.2, 0.3, 0.5})), {0.2, 0.3, 0.5}, 1e-15);
  // Rows of a matrix are projected independently; f32 works.
  const torch::Tensor m = project_simplex(torch::tensor({0.5f, 0.5f, 0.5f, 2.0f, 0.0f, 0.0f}).view({2, 3}));
  EXPECT_EQ(m.scalar_type(), torch::kFloat32);
  expect_row(m[0], {1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-7);
  expect_row(m[1], {1.0, 0.0, 0.0}, 1e-7);
}

TEST(Simplex, RandomRowsLandOnSimplexAndProjectionIsIdempotent) {
  auto gen = torch_generator(stream_key(1, "simplex"));
  const torch::Tensor v = torch::randn({50, 17}, gen, torch::kDouble) * 3.0;
  const torch::Tensor p = project_simplex(v);
  EXPECT_GE(p.min().item<double>(), 0.0);
  EXPECT_LT((p.sum(1) - 1).abs().max().item<double>(), 1e-12);
  EXPECT_LT((project_simplex(p) - p).abs().max().item<double>(), 1e-12);
}

TEST(Simplex, ResultIsTheClosestSimplexPoint) {
  // Optimality (KKT / variational inequality): (v − p)·(s − p) ≤ 0 for every simplex point s, hence
  // ||v − p|| ≤ ||v − s||. Checked against 200 Dirichlet points per row.
  auto gen = torch_generator(stream_key(2, "simplex"));
  const torch::Tensor v = torch::randn({10, 6}, gen, torch::kDouble);
  const torch::Tensor p = project_simplex(v);
  Rng rng(3, "simplex");
  for (int64_t r = 0; r < 10; ++r) {
    const double dist = (v[r] - p[r]).norm().item<double>();
    for (int s = 0; s < 200; ++s) {
      const torch::Tensor q = torch::tensor(rng.dirichlet(0.5, 6), torch::kDouble);
      EXPECT_LE(dist, (v[r] - q).norm().item<double>() + 1e-12);
      EXPECT_LE((v[r] - p[r]).dot(q - p[r]).item<double>(), 1e-12);
    }
  }
}

// ---------------------------------------------------------------------------------------------------- BDPL

TEST(Bdpl, UniformProbsAndSampling) {
  const torch::Tensor u = uniform_prompt_probs(3, 4);
  ASSERT_EQ(u.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(u.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(u, torch::full({3, 4}, 0.25f)));
  // Row [0.2, 0, 0.8]: frequency of 0 ~ 0.2 (SE √(0.16/n) ≈ 2.8e-3 at n = 20000; 5 SE); index 1 never drawn.
  const torch::Tensor p = torch::tensor({0.2, 0.0, 0.8}).view({1, 3});
  Rng rng(4, "bdpl");
  const auto s = sample_prompts(p, 20000, rng);
  ASSERT_EQ(s.size(), 20000u);
  int zeros = 0, ones = 0;
  for (const auto& pr : s) {
    ASSERT_EQ(pr.size(), 1u);
    zeros += pr[0] == 0;
    ones += pr[0] == 1;
  }
  EXPECT_EQ(ones, 0);
  EXPECT_NEAR(zeros / 20000.0, 0.2, 0.014);
  Rng a(9, "bdpl"), b(9, "bdpl");
  EXPECT_EQ(sample_prompts(uniform_prompt_probs(5, 7), 6, a), sample_prompts(uniform_prompt_probs(5, 7), 6, b));
  EXPECT_THROW(sample_prompts(torch::tensor({-0.1, 1.1}).view({1, 2}), 1, a), Error);
}

TEST(Bdpl, GradientMatchesAutogradOfCategoricalLogProb) {
  // Unnormalised rows so the −1/Σp term of ∂ log P is exercised; autograd differentiates
  // (1/(I−1)) Σ_k (L_k − L̄) Σ_l log(p_{l,s_kl} / Σ_v p_{l,v}) (torch.distributions.Categorical's log_prob).
  const torch::Tensor probs = torch::tensor({0.2, 0.5, 0.3, 1.0, 2.0, 0.5}, torch::kDouble).view({2, 3});
  const std::vector<std::vector<int64_t>> prompts = {{0, 1}, {2, 1}, {0, 0}, {1, 2}};
  const std::vector<double> losses = {1.0, 0.3, 2.5, -0.7};
  const torch::Tensor g = bdpl_gradient(probs, prompts, losses);

  const torch::Tensor p = probs.clone().requires_grad_(true);
  const double mean = (1.0 + 0.3 + 2.5 - 0.7) / 4.0;
  torch::Tensor obj = torch::zeros({}, torch::kDouble);
  for (size_t k = 0; k < prompts.size(); ++k)
    for (int64_t l = 0; l < 2; ++l)
      obj = obj + (losses[k] - mean) / 3.0 * (p[l][prompts[k][l]] / p[l].sum()).log();
  obj.backward();
  EXPECT_LT((g - p.grad()).abs().max().item<double>(), 1e-12);
  // One entry by hand: L̄ = 0.775; position 0 picks candidate 0 in prompts 1 and 3 (L − L̄ = 0.225 and 1.725);
  // the −1/Σp term carries Σ_k (L_k − L̄) = 0, so g = (0.225 + 1.725)/(I − 1)/p = 1.95/3/0.2 = 3.25.
  EXPECT_NEAR(g[0][0].item<double>(), 3.25, 1e-12);
}

TEST(Bdpl, IdenticalLossesGiveZeroGradientAndTooFewSamplesThrow) {
  const torch::Tensor probs = uniform_prompt_probs(2, 3);
  const torch::Tensor g = bdpl_gradient(probs, {{0, 1}, {2, 2}, {1, 0}}, {0.7, 0.7, 0.7});
  EXPECT_EQ(g.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(g.scalar_type(), torch::kFloat32);
  try {
    bdpl_gradient(probs, {{0, 1}}, {0.5});
    FAIL() << "I = 1 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("samples"), std::string::npos);
  }
  EXPECT_THROW(bdpl_gradient(probs, {{0, 1}, {0, 3}}, {0.5, 1.0}), Error);  // index 3 outside V = 3
  EXPECT_THROW(bdpl_gradient(probs, {{0, 1}, {0, 1}}, {0.5}), Error);       // count mismatch
}

TEST(Bdpl, FirstStepMovesByLrTimesSignThenProjects) {
  // AdamW's first step with bias correction is lr·g/(|g| + ε) ≈ lr·sign(g), after the decay p ← p(1 − lr·wd):
  // [0.5, 0.5] → [0.49975 − 0.05, 0.49975 + 0.05] = [0.44975, 0.54975] (sum 0.9995) → projection adds 0.00025
  // to both → [0.45, 0.55]. Clipping cannot change this (Adam is scale invariant): g = ±30 gives the same.
  BdplOptions o;
  o.prompt_length = 1, o.candidates = 2, o.lr = 0.05, o.weight_decay = 0.01;
  for (double scale : {1.0, 30.0}) {
    BdplOptimizer opt(o);
    opt.step(torch::tensor({scale, -scale}).view({1, 2}));
    EXPECT_NEAR(opt.last_grad_norm(), scale * std::sqrt(2.0), 1e-5);
    expect_row(opt.probs()[0], {0.45, 0.55}, 1e-6);  // f32 storage
  }
}

TEST(Bdpl, ToyTwoTokenProblemReachesOptimum) {
  // L = 2 positions, V = 2 tokens, loss = number of positions that pick token 0: optimum p_{l,1} = 1.
  BdplOptions o;
  o.prompt_length = 2, o.candidates = 2, o.samples = 8, o.lr = 0.05;
  BdplOptimizer opt(o);
  Rng rng(2024, "bdpl_toy");
  for (int step = 0; step < 100; ++step) {
    const auto prompts = sample_prompts(opt.probs(), o.samples, rng);
    std::vector<double> losses;
    for (const auto& s : prompts) losses.push_back(static_cast<double>((s[0] == 0) + (s[1] == 0)));
    opt.step(bdpl_gradient(opt.probs(), prompts, losses));
    const torch::Tensor p = opt.probs();
    ASSERT_GE(p.min().item<float>(), 0.0f) << "step " << step;
    ASSERT_LT((p.sum(1) - 1).abs().max().item<float>(), 1e-6f) << "step " << step;
  }
  EXPECT_GT(opt.probs()[0][1].item<float>(), 0.95f);
  EXPECT_GT(opt.probs()[1][1].item<float>(), 0.95f);
}

TEST(Bdpl, FlatRowRoundTripAndStateReset) {
  BdplOptions o;
  o.prompt_length = 2, o.candidates = 3;
  BdplOptimizer opt(o);
  const torch::Tensor row = torch::tensor({0.1f, 0.2f, 0.7f, 0.5f, 0.5f, 0.0f});  // [L·V], row-major
  opt.set_probs(row);
  EXPECT_TRUE(torch::equal(opt.flat(), row));
  EXPECT_FLOAT_EQ(opt.probs()[1][0].item<float>(), 0.5f);  // flat index l·V + v = 3
  EXPECT_THROW(opt.set_probs(torch::ones({5})), Error);
  // After a reset the next step is a first AdamW step again: same result as a fresh optimizer.
  const torch::Tensor g = torch::tensor({1.0f, -2.0f, 0.5f, 0.3f, -0.3f, 0.0f}).view({2, 3});
  opt.step(g);
  opt.set_probs(row);
  opt.reset_state();
  opt.step(g);
  BdplOptimizer fresh(o);
  fresh.set_probs(row);
  fresh.step(g);
  EXPECT_TRUE(torch::allclose(opt.probs(), fresh.probs(), 0, 1e-7));
}
