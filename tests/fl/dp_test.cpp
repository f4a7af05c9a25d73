// Client-level DP aggregation: closed-form checks of DpAggregator and the ε the runner reports.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "plexus/core/log.h"
#include "plexus/fl/dp_aggregator.h"
#include "plexus/fl/runner.h"

using namespace plexus;
using namespace plexus::fl;

namespace {

// A layout with one tensor of 4 parameters: enough for hand-checked aggregation.
nn::ParamLayout layout4() {
  torch::nn::Linear lin(torch::nn::LinearOptions(4, 1).bias(false));
  return nn::ParamLayout::of(*lin);
}

Federation trained_state(const torch::Tensor& xg) {
  // 3 clients; rows 0 and 2 trained to xg + (3,4,0,0) and xg + (0,0,0.3,0.4); row 1 untouched.
  Federation f = Federation::replicate(layout4(), xg, 3, torch::kCPU);
  f.X[0] += torch::tensor({3.f, 4.f, 0.f, 0.f});
  f.X[2] += torch::tensor({0.f, 0.f, 0.3f, 0.4f});
  return f;
}

}  // namespace

TEST(DpAggregator, WithoutNoiseAndLooseClipIsFedAvgOfUpdates) {
  PrivacyOptions o;
  o.noise_multiplier = 0;
  o.clip_norm = 100;
  auto xg = torch::tensor({1.f, 1.f, 1.f, 1.f});
  auto f = trained_state(xg);
  DpAggregator dp(o, Sparsifier::None, f.layout, 3, 2.0 / 3, 0);
  dp.aggregate(f, xg, {0, 2}, 0);
  // x + (Δ_0 + Δ_2)/2 = 1 + (3, 4, 0.3, 0.4)/2 in every row.
  auto expect = torch::tensor({2.5f, 3.f, 1.15f, 1.2f});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(f.X[i], expect, 1e-6, 1e-6)) << f.X[i];
}

TEST(DpAggregator, ClippingScalesLargeUpdatesToC) {
  // ‖Δ_0‖ = 5 is clipped to C = 1 → (0.6, 0.8, 0, 0); ‖Δ_2‖ = 0.5 ≤ C is kept.
  PrivacyOptions o;
  o.noise_multiplier = 0;
  o.clip_norm = 1;
  auto xg = torch::zeros({4});
  auto f = trained_state(xg);
  DpAggregator dp(o, Sparsifier::None, f.layout, 3, 2.0 / 3, 0);
  auto st = dp.aggregate(f, xg, {0, 2}, 0);
  EXPECT_TRUE(torch::allclose(f.X[1], torch::tensor({0.3f, 0.4f, 0.15f, 0.2f}), 1e-6, 1e-6)) << f.X[1];
  EXPECT_NEAR(st.clipped_fraction, 0.5, 1e-12);
  EXPECT_NEAR(st.mean_update_norm, 2.75, 1e-5);
}

TEST(DpAggregator, TopKKeepsLargestCoordinateBeforeClipping) {
  // density 0.25 of P = 4 keeps k = 1 coordinate per row: Δ_0 → (0,4,0,0), Δ_2 → (0,0,0,0.4).
  PrivacyOptions o;
  o.noise_multiplier = 0;
  o.clip_norm = 100;
  o.density = 0.25;
  auto xg = torch::zeros({4});
  auto f = trained_state(xg);
  DpAggregator dp(o, Sparsifier::TopK, f.layout, 3, 2.0 / 3, 0);
  dp.aggregate(f, xg, {0, 2}, 0);
  EXPECT_TRUE(torch::allclose(f.X[0], torch::tensor({0.f, 2.f, 0.f, 0.2f}), 1e-6, 1e-6)) << f.X[0];
}

TEST(DpAggregator, NoiseOnTheMeanHasStdSigmaCOverM) {
  // Zero updates, m = 4 of 8 clients, σ = 2, C = 0.5: every coordinate of the new model is the mean of
  // 4 client noises of std σC/√m, so its std is σC/m = 0.25. P = 20000 coordinates: the sample std is
  // within 3% of 0.25 with overwhelming probability (relative s.e. ≈ 1/√(2P) = 0.5%).
  torch::nn::Linear lin(torch::nn::LinearOptions(20000, 1).bias(false));
  auto layout = nn::ParamLayout::of(*lin);
  auto xg = torch::zeros({20000});
  Federation f = Federation::replicate(layout, xg, 8, torch::kCPU);
  PrivacyOptions o;
  o.noise_multiplier = 2;
  o.clip_norm = 0.5;
  DpAggregator dp(o, Sparsifier::None, layout, 8, 0.5, 7);
  dp.aggregate(f, xg, {0, 2, 4, 6}, 3);
  EXPECT_NEAR(f.X[0].std().item<double>(), 0.25, 0.25 * 0.03);
  EXPECT_NEAR(f.X[0].mean().item<double>(), 0.0, 0.01);
}

TEST(DpAggregator, SampleWeightingIsNiOverSumOfClippedUpdates) {
  // 3 clients, all taking part (fixed size, m = 3), sizes n = (100, 200, 100) → w = (1/4, 1/2, 1/4).
  // Δ_0 = (3,4,0,0) is clipped to C = 1 → (0.6,0.8,0,0); Δ_1 = 0; Δ_2 = (0,0,0.3,0.4) is kept.
  // samples: (1/4)(0.6,0.8,0,0) + (1/4)(0,0,0.3,0.4) = (0.15, 0.2, 0.075, 0.1)
  // uniform: (1/3)(0.6,0.8,0.3,0.4)                  = (0.2, 0.8/3, 0.1, 0.4/3)
  PrivacyOptions o;
  o.noise_multiplier = 0;
  o.clip_norm = 1;
  o.sampling = "fixed";
  const std::vector<int64_t> sizes = {100, 200, 100};
  auto xg = torch::zeros({4});
  for (const char* weighting : {"samples", "uniform"}) {
    o.aggregate_weighting = weighting;
    auto f = trained_state(xg);
    DpAggregator dp(o, Sparsifier::None, f.layout, 3, 1.0, 0, sizes);
    dp.aggregate(f, xg, {0, 1, 2}, 0);
    auto expect = o.aggregate_weighting == "samples" ? torch::tensor({0.15f, 0.2f, 0.075f, 0.1f})
                                                     : torch::tensor({0.2f, 0.8f / 3, 0.1f, 0.4f / 3});
    // float32 rows: 1e-6 is a few ulps of these values
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(f.X[i], expect, 1e-6, 1e-6)) << weighting << f.X[i];
  }
}

TEST(DpAggregator, SampleWeightsAndEffectiveNoiseMultiplierOfTwoClients) {
  // Clients 0 and 2 of 3 with n = (300, 100, 100): w = (3/4, 1/4). Uniform (fixed size) stays 1/m = 1/2.
  // σ_eff = σ·(1/m)/max_i w_i = 1·(1/2)/(3/4) = 2/3; uniform: σ_eff = σ = 1.
  PrivacyOptions o;
  o.noise_multiplier = 1;
  o.sampling = "fixed";
  const std::vector<int64_t> sizes = {300, 100, 100};
  o.aggregate_weighting = "samples";
  DpAggregator weighted(o, Sparsifier::None, layout4(), 3, 2.0 / 3, 0, sizes);
  auto w = weighted.weights({0, 2});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_DOUBLE_EQ(w[0], 0.75);
  EXPECT_DOUBLE_EQ(w[1], 0.25);
  EXPECT_NEAR(weighted.effective_noise_multiplier({0, 2}), 2.0 / 3, 1e-12);
  EXPECT_NEAR(weighted.effective_noise_multiplier({1, 2}), 1.0, 1e-12);  // equal sizes: no loss
  o.aggregate_weighting = "uniform";
  DpAggregator uniform(o, Sparsifier::None, layout4(), 3, 2.0 / 3, 0, sizes);
  auto u = uniform.weights({0, 2});
  EXPECT_DOUBLE_EQ(u[0], 0.5);
  EXPECT_DOUBLE_EQ(u[1], 0.5);
  EXPECT_DOUBLE_EQ(uniform.effective_noise_multiplier({0, 2}), 1.0);

  // With σ = 0 the weighted aggregate is the closed form x + Σ w_i Δ_i (C = 100 clips nothing):
  // 1 + (3/4)(3,4,0,0) + (1/4)(0,0,0.3,0.4) = (3.25, 4, 1.075, 1.1).
  o.noise_multiplier = 0;
  o.clip_norm = 100;
  o.aggregate_weighting = "samples";
  auto xg = torch::tensor({1.f, 1.f, 1.f, 1.f});
  auto f = trained_state(xg);
  DpAggregator dp(o, Sparsifier::None, f.layout, 3, 2.0 / 3, 0, sizes);
  dp.aggregate(f, xg, {0, 2}, 0);
  EXPECT_TRUE(torch::allclose(f.X[1], torch::tensor({3.25f, 4.f, 1.075f, 1.1f}), 1e-6, 1e-6)) << f.X[1];
}

TEST(DpAggregator, SampleWeightingKeepsTheUniformNoise) {
  // Zero updates: both weightings release only (1/m̄) Σ ξ_i from the same (seed, client, round) draws, so the
  // models agree exactly; the std stays σC/m = 0.25 however unequal the n_i (as in NoiseOnTheMean… above).
  torch::nn::Linear lin(torch::nn::LinearOptions(20000, 1).bias(false));
  auto layout = nn::ParamLayout::of(*lin);
  auto xg = torch::zeros({20000});
  const std::vector<int64_t> sizes = {10, 500, 40, 7, 900, 1, 60, 33};
  PrivacyOptions o;
  o.noise_multiplier = 2;
  o.clip_norm = 0.5;
  Federation fu = Federation::replicate(layout, xg, 8, torch::kCPU);
  DpAggregator uniform(o, Sparsifier::None, layout, 8, 0.5, 7, sizes);
  uniform.aggregate(fu, xg, {0, 2, 4, 6}, 3);
  o.aggregate_weighting = "samples";
  Federation fs = Federation::replicate(layout, xg, 8, torch::kCPU);
  DpAggregator weighted(o, Sparsifier::None, layout, 8, 0.5, 7, sizes);
  weighted.aggregate(fs, xg, {0, 2, 4, 6}, 3);
  EXPECT_TRUE(torch::equal(fs.X[0], fu.X[0]));
  EXPECT_NEAR(fs.X[0].std().item<double>(), 0.25, 0.25 * 0.03);  // relative s.e. ≈ 1/√(2P) = 0.5%
}

TEST(DpRunner, ReportedEpsilonMatchesOneShotAccountantAndSurvivesResume) {
  set_log_level(LogLevel::Warn);
  auto root = parse_toml(R"(
[run]
seed = 1
threads = 2
checkpoint_every = 2
[data]
dataset = "synthetic"
synthetic_train = 400
synthetic_test = 100
synthetic_classes = 4
synthetic_dim = 4
partition = "iid"
[model]
name = "mlp"
hidden = [8]
[fl]
algorithm = "dp_fedsam"
clients = 10
rounds = 4
client_fraction = 0.3
[train]
local_steps = 2
[privacy]
noise_multiplier = 0.95
clip_norm = 0.2
delta = 1e-3
)");
  auto dir = std::filesystem::temp_directory_path() / fmt::format("plexus_dp_test_{}", ::getpid());
  std::filesystem::remove_all(dir);  // pids wrap: an earlier process of this pid may have left runs
  apply_override(root, "run.out_dir=\"" + dir.string() + "\"");
  apply_override(root, "run.name=dp_full");
  auto full = FlConfig::parse(root);
  auto rf = run_fl(full, false);
  // Independent path: ε of 4 Poisson rounds with q = 0.3 from the accountant's one-shot function (the run
  // must account with the sampler it used: Poisson is the [privacy] default).
  auto ref = privacy::compute_epsilon(privacy::Sampling::Poisson, 0.3, 0.95, 4, 1e-3);
  EXPECT_NEAR(rf.summary["epsilon"].get<double>(), ref.epsilon, 1e-9);
  auto ref2 = privacy::compute_epsilon(privacy::Sampling::Poisson, 0.3, 0.95, 2, 1e-3);
  EXPECT_NEAR(rf.rows[1]["epsilon"].get<double>(), ref2.epsilon, 1e-9);
  EXPECT_LT(rf.rows[1]["epsilon"].get<double>(), rf.rows[3]["epsilon"].get<double>());

  apply_override(root, "run.name=dp_part");
  apply_override(root, "fl.rounds=2");
  auto part = FlConfig::parse(root);
  run_fl(part, false);
  apply_override(root, "fl.rounds=4");
  auto rest = FlConfig::parse(root);
  auto rr = run_fl(rest, true);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(rr.rows[k]["epsilon"], rf.rows[k]["epsilon"]) << k;
    EXPECT_EQ(rr.rows[k]["local_acc_mean"], rf.rows[k]["local_acc_mean"]) << k;
  }
}
