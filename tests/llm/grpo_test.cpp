// GRPO math against hand-worked values: group advantages (both std conventions, identical rewards, size-1
// groups, interleaved rows), the k3 KL estimator, the clipped per-token loss in every aggregation mode, the
// sequence-level value and gradient at β = 0 with one update per batch, and on-device sampling.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tiny_model.h"
#include "plexus/llm/grpo_loss.h"
#include "plexus/llm/rollout.h"
#include "plexus/llm/tasks/reward.h"

using namespace plexus::llm;

namespace {
AdvantageOptions adv_opts(const char* convention, double eps = 0.0, const char* scale = "group") {
  AdvantageOptions o;
  o.std_convention = convention, o.epsilon = eps, o.scale_rewards = scale;
  return o;
}
}  // namespace

TEST(GrpoAdvantages, OneCorrectOfFourSampleStd) {
  // r = (1,0,0,0): mean 1/4, Σ(r−mean)² = 3/4, sample std = sqrt(3/4 / 3) = 1/2.
  auto a = group_advantages({1, 0, 0, 0}, {0, 0, 0, 0}, adv_opts("sample"));
  EXPECT_DOUBLE_EQ(a[0], 1.5);
  for (int i = 1; i < 4; ++i) EXPECT_DOUBLE_EQ(a[i], -0.5);
  // TRL's eps = 1e-4 in the denominator: 0.75 / 0.5001.
  auto b = group_advantages({1, 0, 0, 0}, {0, 0, 0, 0}, adv_opts("sample", 1e-4));
  EXPECT_NEAR(b[0], 0.75 / 0.5001, 1e-12);
}

TEST(GrpoAdvantages, OneCorrectOfFourPopulationStd) {
  // population std = sqrt(3/16) = √3/4, so A = (3/4)/(√3/4) = √3 and −(1/4)/(√3/4) = −1/√3.
  auto a = group_advantages({1, 0, 0, 0}, {0, 0, 0, 0}, adv_opts("population"));
  EXPECT_NEAR(a[0], std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(a[1], -1 / std::sqrt(3.0), 1e-12);
}

TEST(GrpoAdvantages, TinyZeroRewardLevels) {
  // r = (1, 0.1, 0): mean 0.36667, Σd² = 0.60667; values worked in Python (tolerance: double rounding).
  auto s = group_advantages({1, 0.1, 0}, {5, 5, 5}, adv_opts("sample"));
  EXPECT_NEAR(s[0], 1.1499323120707245, 1e-12);
  EXPECT_NEAR(s[1], -0.48418202613504197, 1e-12);
  EXPECT_NEAR(s[2], -0.6657502859356826, 1e-12);
  auto p = group_advantages({1, 0.1, 0}, {5, 5, 5}, adv_opts("population"));
  EXPECT_NEAR(p[0], 1.4083737016560922, 1e-12);
  EXPECT_NEAR(p[2], -0.8153742483272114, 1e-12);
}

TEST(GrpoAdvantages, IdenticalRewardsAreExactlyZero) {
  // 0.1 is not exact in binary: (0.1+0.1+0.1)/3 != 0.1, yet the advantage must be exactly 0.
  ASSERT_NE((0.1 + 0.1 + 0.1) / 3, 0.1);
  for (const char* conv : {"sample", "population"})
    for (const char* scale : {"group", "batch", "none"}) {
      auto a = group_advantages({0.1, 0.1, 0.1}, {1, 1, 1}, adv_opts(conv, 1e-4, scale));
      for (double x : a) EXPECT_EQ(x, 0.0) << conv << " " << scale;
    }
}

TEST(GrpoAdvantages, GroupOfOneIsZeroNotNan) {
  for (const char* conv : {"sample", "population"}) {
    auto a = group_advantages({0.7, 1.0, 0.0}, {1, 2, 3}, adv_opts(conv, 0.0));
    for (double x : a) EXPECT_EQ(x, 0.0);
  }
}

TEST(GrpoAdvantages, GroupsByPromptIdWithInterleavedRows) {
  // Rows alternate between prompt 7 (rewards 1, 0) and prompt 3 (rewards 5, 5).
  auto a = group_advantages({1, 5, 0, 5}, {7, 3, 7, 3}, adv_opts("sample"));
  EXPECT_NEAR(a[0], 1 / std::sqrt(2.0), 1e-12);   // (1 − 0.5) / sqrt(0.5)
  EXPECT_NEAR(a[2], -1 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(a[1], 0.0);
  EXPECT_EQ(a[3], 0.0);
  // Same rewards laid out contiguously give the same per-row values.
  auto b = group_advantages({1, 0, 5, 5}, {7, 7, 3, 3}, adv_opts("sample"));
  EXPECT_DOUBLE_EQ(a[0], b[0]);
  EXPECT_DOUBLE_EQ(a[2], b[1]);
}

TEST(GrpoAdvantages, DrGrpoAndBatchScaling) {
  auto n = group_advantages({1, 0, 3, 1}, {0, 0, 1, 1}, adv_opts("sample", 0.0, "none"));
  EXPECT_DOUBLE_EQ(n[0], 0.5);
  EXPECT_DOUBLE_EQ(n[1], -0.5);
  EXPECT_DOUBLE_EQ(n[2], 1.0);
  // batch: group means, std of all four rewards (mean 1.25, Σd² = 4.75, sample std sqrt(4.75/3)).
  auto b = group_advantages({1, 0, 3, 1}, {0, 0, 1, 1}, adv_opts("sample", 0.0, "batch"));
  EXPECT_NEAR(b[2], 1.0 / std::sqrt(4.75 / 3), 1e-12);
}

TEST(GrpoKl, K3IsNonNegativeAndZeroAtEquality) {
  auto lp = torch::tensor({-1.0, -2.0, -0.5});
  EXPECT_EQ(k3_kl(lp, lp).abs().max().item<double>(), 0.0);
  // x = ref − logp = 1 → e − 2;  x = −1 → 1/e.
  auto v = k3_kl(torch::tensor({0.0, 0.0}, torch::kFloat64), torch::tensor({1.0, -1.0}, torch::kFloat64));
  EXPECT_NEAR(v[0].item<double>(), std::exp(1.0) - 2, 1e-12);
  EXPECT_NEAR(v[1].item<double>(), std::exp(-1.0), 1e-12);
  torch::manual_seed(0);
  auto a = torch::randn({1000}, torch::kFloat64) * 3, b = torch::randn({1000}, torch::kFloat64) * 3;
  EXPECT_GE(k3_kl(a, b).min().item<double>(), 0.0);
}

namespace {
// B = 2 completions, T = 3 positions; row 0 has 2 active tokens (A = +1), row 1 has 3 (A = −2).
struct Tiny {
  torch::Tensor mask = torch::tensor({{1.f, 1.f, 0.f}, {1.f, 1.f, 1.f}});
  torch::Tensor adv = torch::tensor({1.f, -2.f});
  torch::Tensor old = torch::zeros({2, 3});
};
PolicyLossOptions opts(const char* type, double eps_high = 0.2) {
  PolicyLossOptions o;
  o.loss_type = type, o.epsilon_low = 0.2, o.epsilon_high = eps_high, o.max_completion_length = 4;
  return o;
}
}  // namespace

TEST(GrpoLoss, AggregationModesAtRatioOne) {
  // ρ = 1: per-token loss −A → row 0 tokens −1 (sum −2 over 2), row 1 tokens 2 (sum 6 over 3).
  Tiny t;
  auto lp = t.old.clone();
  EXPECT_NEAR(policy_loss(lp, t.old, {}, t.adv, t.mask, opts("grpo"), 5).loss.item<double>(), 0.5, 1e-6);  // (−1 + 2)/2
  EXPECT_NEAR(policy_loss(lp, t.old, {}, t.adv, t.mask, opts("bnpo"), 5).loss.item<double>(), 0.8, 1e-6);  // 4/5
  EXPECT_NEAR(policy_loss(lp, t.old, {}, t.adv, t.mask, opts("dr_grpo"), 5).loss.item<double>(), 0.5, 1e-6);  // 4/(2·4)
  EXPECT_NEAR(policy_loss(lp, t.old, {}, t.adv, t.mask, opts("dapo"), 10).loss.item<double>(), 0.4, 1e-6);  // 4/10
}

TEST(GrpoLoss, ClippingWithAsymmetricEpsilon) {
  // Ratios: row 0 = (1.5, 0.5), A = +1: min(1.5, 1.2) = 1.2 and min(0.5, 0.8) = 0.5 → losses −1.2, −0.5.
  // Row 1 = (0.5, 1.5, 1), A = −2: min(−1, −1.6) = −1.6, min(−3, −2.4) = −3, −2 → losses 1.6, 3, 2.
  Tiny t;
  auto lp = torch::log(torch::tensor({{1.5f, 0.5f, 1.f}, {0.5f, 1.5f, 1.f}}));
  auto g = policy_loss(lp, t.old, {}, t.adv, t.mask, opts("grpo"), 5);
  EXPECT_NEAR(g.loss.item<double>(), (-1.7 / 2 + 6.6 / 3) / 2, 1e-6);
  EXPECT_NEAR(policy_loss(lp, t.old, {}, t.adv, t.mask, opts("bnpo"), 5).loss.item<double>(), 4.9 / 5, 1e-6);
  EXPECT_NEAR(g.clip_low, 0.2, 1e-9);   // row 1 token 0 (ρ 0.5 < 0.8, A < 0) of 5 active tokens
  EXPECT_NEAR(g.clip_high, 0.2, 1e-9);  // row 0 token 0 (ρ 1.5 > 1.2, A > 0)
  // ε_high = 0.28 (DAPO): row 0 token 0 becomes −1.28.
  auto d = policy_loss(lp, t.old, {}, t.adv, t.mask, opts("bnpo", 0.28), 5);
  EXPECT_NEAR(d.loss.item<double>(), (4.9 - 0.08) / 5, 1e-6);
}

TEST(GrpoLoss, KlTermAddsBetaTimesK3) {
  Tiny t;
  auto lp = t.old.clone();
  auto ref = torch::full({2, 3}, 1.0f);  // x = 1 on every token → k3 = e − 2
  auto o = opts("bnpo");
  o.beta = 0.1;
  auto r = policy_loss(lp, t.old, ref, t.adv, t.mask, o, 5);
  EXPECT_NEAR(r.loss.item<double>(), 0.8 + 0.1 * (std::exp(1.0) - 2), 1e-6);
  EXPECT_NEAR(r.kl, std::exp(1.0) - 2, 1e-6);
}

TEST(GrpoLoss, BetaZeroOneStepGivesSequenceLevelValueAndGradient) {
  // With ℓ_old = ℓ_θ detached (one update per batch) and β = 0, the grpo loss is −(1/B) Σ_i A_i (the
  // sequence-level objective of R1 eq.1 at ρ = 1) and its gradient is −A_i / (B·|o_i|) on each active token.
  Tiny t;
  auto lp = torch::randn({2, 3}).requires_grad_(true);
  auto r = policy_loss(lp, lp.detach(), {}, t.adv, t.mask, opts("grpo"), 5);
  EXPECT_NEAR(r.loss.item<double>(), -(1.0 - 2.0) / 2, 1e-6);
  r.loss.backward();
  auto g = lp.grad();
  EXPECT_NEAR(g[0][0].item<double>(), -1.0 / (2 * 2), 1e-6);
  EXPECT_NEAR(g[0][2].item<double>(), 0.0, 1e-9);  // masked
  EXPECT_NEAR(g[1][1].item<double>(), 2.0 / (2 * 3), 1e-6);
}

TEST(GrpoSampling, InverseCdfAndTopP) {
  auto logits = torch::log(torch::tensor({{0.5f, 0.3f, 0.2f}})).repeat({3, 1});
  auto u = torch::tensor({0.1f, 0.6f, 0.9f});
  auto s = sample_on_device(logits, u, 1.0, 1.0);
  EXPECT_EQ(s[0].item<int64_t>(), 0);  // cdf 0.5 > 0.1
  EXPECT_EQ(s[1].item<int64_t>(), 1);  // 0.5 ≤ 0.6 < 0.8
  EXPECT_EQ(s[2].item<int64_t>(), 2);  // 0.8 ≤ 0.9
  // top_p 0.7 keeps {0.5, 0.3} (0.2 has 0.8 ahead of it); u 0.9 → 0.72 of the kept mass → token 1.
  EXPECT_EQ(sample_on_device(logits, u, 1.0, 0.7)[2].item<int64_t>(), 1);
  EXPECT_EQ(sample_on_device(logits, u, 0.0, 1.0)[2].item<int64_t>(), 0);  // greedy
}

TEST(GrpoReward, LevelsAndOverlongPenalty) {
  RewardOptions o;  // accuracy 1, partial 0.1, format 0
  Verdict right{true, true, true, "x"}, wrong{true, false, true, "y"}, none{false, false, false, ""};
  EXPECT_EQ(reward_value(o, right, 10, 100), 1.0);
  EXPECT_EQ(reward_value(o, wrong, 10, 100), 0.1);
  EXPECT_EQ(reward_value(o, none, 10, 100), 0.0);
  o.format = 0.5;
  EXPECT_EQ(reward_value(o, right, 10, 100), 1.5);
  o.format = 0, o.overlong_buffer = 20, o.overlong_penalty = 1.0;
  EXPECT_NEAR(reward_value(o, right, 90, 100), 0.5, 1e-12);   // 10 tokens into a 20-token buffer
  EXPECT_NEAR(reward_value(o, right, 100, 100), 0.0, 1e-12);  // −1 at L_max
  EXPECT_EQ(reward_value(o, right, 80, 100), 1.0);
}

#include "plexus/llm/generate.h"
#include "plexus/llm/moe.h"

namespace {
Transformer tiny_model() {
  auto a = plexus::test::tiny_model();
  a.max_seq_len = 64;
  Transformer m(a);
  m->init_weights(7);
  m->eval();
  return m;
}
}  // namespace

TEST(GrpoRollout, GreedyMatchesSequentialGenerate) {
  // The on-device rollout (masks, inverse-CDF sampler, batched prompts of different lengths) must produce
  // exactly what the reference generate() produces greedily, prompt by prompt.
  auto m = tiny_model();
  std::vector<std::vector<int64_t>> prompts = {{5, 9, 12}, {3, 4, 5, 6, 7, 8}, {11}};
  RolloutOptions ro;
  ro.max_new_tokens = 10, ro.temperature = 0, ro.stop_id = -1, ro.eos_id = -1;
  auto r = rollout(m, prompts, ro);
  auto got = completions_on_host(r);
  GenerateOptions go;
  go.max_new_tokens = 10, go.temperature = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto want = generate(m, {prompts[i]}, go)[0];
    ASSERT_EQ(got[i].size(), want.size()) << i;
    for (size_t t = 0; t < want.size(); ++t) EXPECT_EQ(got[i][t], want[t]) << i << " " << t;
  }
  EXPECT_EQ(r.generated, 30);
  EXPECT_EQ(completion_mask(r).sum().item<double>(), 30.0);
}

TEST(GrpoRollout, BatchedSamplingEqualsOneRowAtATimeAndStopsAtStopToken) {
  // Row r draws its uniforms from (seed, purpose, row_keys[r], step): the same tokens alone or in a batch.
  auto m = tiny_model();
  std::vector<std::vector<int64_t>> prompts = {{5, 9, 12}, {3, 4, 5, 6, 7}, {11, 2}};
  RolloutOptions ro;
  ro.max_new_tokens = 12, ro.temperature = 1.0, ro.top_p = 0.9, ro.seed = 4, ro.step = 2;
  ro.stop_id = -1, ro.eos_id = -1;
  auto batch = completions_on_host(rollout(m, prompts, ro));
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto one = ro;
    one.row_keys = {i};
    auto single = completions_on_host(rollout(m, {prompts[i]}, one))[0];
    EXPECT_EQ(single, batch[i]) << i;
  }
  // Stop at a token the batch actually sampled: each row ends right after its first occurrence (kept).
  int stop = batch[0][3];
  ro.stop_id = stop;
  auto r = rollout(m, prompts, ro);
  auto cut = completions_on_host(r);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto it = std::find(batch[i].begin(), batch[i].end(), stop);
    size_t want = it == batch[i].end() ? batch[i].size() : static_cast<size_t>(it - batch[i].begin()) + 1;
    EXPECT_EQ(cut[i].size(), want) << i;
    EXPECT_TRUE(std::equal(cut[i].begin(), cut[i].end(), batch[i].begin())) << i;
  }
  EXPECT_TRUE(r.stopped[0].item<bool>());
  // Mask = [prompt_len, end) in target coordinates.
  auto mask = completion_mask(r);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_EQ(mask[i].sum().item<double>(), static_cast<double>(cut[static_cast<size_t>(i)].size()));
}

TEST(GrpoRollout, DenseDecodeMoeEqualsSparseDispatch) {
  auto a = plexus::test::tiny_model();
  Moe moe(a);
  torch::manual_seed(1);
  for (auto& p : moe->parameters()) p.data().normal_(0, 0.5);
  moe->eval();
  torch::NoGradGuard ng;
  auto x = torch::randn({3, 2, a.dim});
  EXPECT_TRUE(torch::allclose(moe->forward(x), moe->forward_dense(x), 1e-5, 1e-6));  // f32 summation order
}
