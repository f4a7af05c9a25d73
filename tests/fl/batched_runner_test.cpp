// run.client_batching = "on" (batched clients, batched evaluation) against "off" (the sequential engine), end
// to end on the synthetic task, one algorithm per family: server, gossip, DP, personalized (push-sum with
// heterogeneous step counts, SAM on the body). The final states agree to float32 tolerance and the metrics
// (counts) agree; also the server-FL evaluation shortcut and the per-example pass against per-client passes.
#include <gtest/gtest.h>

#include "plexus/core/checkpoint.h"
#include "plexus/core/log.h"
#include "plexus/fl/batched_eval.h"
#include "plexus/fl/pfl/pfl_runner.h"
#include "plexus/fl/runner.h"
#include "synthetic_config.h"

using namespace plexus;
using namespace plexus::fl;

namespace {

toml::table config(const std::string& algorithm, const std::string& name, const std::string& batching) {
  const bool personalized = algorithm == "dfedpgp" || algorithm == "dfedsalt";
  auto root = test::synthetic_config(algorithm, name + "_" + batching, "batched", std::string(R"(
[topology]
kind = "time_varying"
neighbors = 2
)") + (personalized ? R"(
[personalization]
head_epochs = 1
body_epochs = 1
lr_head = 0.05
lr_body = 0.1
steps_min_fraction = 0.3
)" : ""));
  apply_override(root, "fl.rounds=3");
  apply_override(root, "train.momentum=0.5");
  apply_override(root, "train.weight_decay=0.0005");
  apply_override(root, "run.client_batching=\"" + batching + "\"");
  if (algorithm == "dfedpgp") apply_override(root, "topology.kind=\"directed_time_varying\"");
  if (algorithm.rfind("dp_", 0) == 0) {
    apply_override(root, "privacy.noise_multiplier=0.5");
    apply_override(root, "privacy.clip_norm=1.0");
    apply_override(root, "train.adaptive=true");
    apply_override(root, "train.rho=0.2");
  }
  return root;
}

struct Outcome {
  RunResult result;
  torch::Tensor X;
};

Outcome run(const std::string& algorithm, const std::string& batching, bool personalized) {
  set_log_level(LogLevel::Warn);
  auto cfg = FlConfig::parse(config(algorithm, algorithm, batching));
  Outcome o;
  o.result = personalized ? run_pfl(cfg, false) : run_fl(cfg, false);
  auto ck = load_checkpoint(latest_checkpoint(std::filesystem::path(o.result.run_dir) / "checkpoints"));
  o.X = ck.tensors.at("X");
  return o;
}

}  // namespace

class BatchedEqualsSequential : public ::testing::TestWithParam<std::pair<std::string, bool>> {};

TEST_P(BatchedEqualsSequential, SameStateAndMetrics) {
  auto [algorithm, personalized] = GetParam();
  auto off = run(algorithm, "off", personalized);
  auto on = run(algorithm, "on", personalized);
  EXPECT_GT((off.X - off.X[0]).abs().max().item<double>() + off.X.abs().max().item<double>(), 0.0);
  EXPECT_LT((off.X - on.X).abs().max().item<double>(), 1e-4) << algorithm;
  ASSERT_EQ(off.result.rows.size(), on.result.rows.size());
  for (std::size_t k = 0; k < off.result.rows.size(); ++k) {
    const auto &a = off.result.rows[k], &b = on.result.rows[k];
    EXPECT_NEAR(a["train_loss"].get<double>(), b["train_loss"].get<double>(), 1e-4) << algorithm << " round " << k + 1;
    EXPECT_EQ(a["local_acc_mean"], b["local_acc_mean"]) << algorithm << " round " << k + 1;
    if (a.contains("global_acc")) EXPECT_EQ(a["global_acc"], b["global_acc"]);
    if (a.contains("before_acc_mean")) EXPECT_EQ(a["before_acc_mean"], b["before_acc_mean"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Fl, BatchedEqualsSequential,
                         ::testing::Values(std::make_pair(std::string("fedavg"), false),
                                           std::make_pair(std::string("dfedsam"), false),
                                           std::make_pair(std::string("dp_fedsam"), false),
                                           std::make_pair(std::string("dfedpgp"), true),
                                           std::make_pair(std::string("dfedsalt"), true)),
                         [](const auto& info) { return info.param.first; });

// The per-example pass split by index gives exactly the per-client passes' counts (server FL's shortcut).
TEST(BatchedEval, PerExampleSplitByIndexEqualsPerClientPasses) {
  nn::ModelOptions mo;
  mo.name = "cnn";
  torch::manual_seed(1);
  auto model = nn::make_model(mo, {1, 16, 16}, 3);
  auto layout = nn::ParamLayout::of(*model);
  auto x = layout.flatten(*model).clone();
  data::Dataset d;
  d.x = torch::randn({230, 1, 16, 16});
  d.y = torch::randint(0, 3, {230}, torch::kInt64);
  d.num_classes = 3;
  std::vector<LocalTrainer> trainers;
  trainers.emplace_back(model, layout, torch::kCPU);
  trainers.emplace_back(nn::make_model(mo, {1, 16, 16}, 3), layout, torch::kCPU);
  auto per = evaluate_per_example(x, d, trainers, 2, /*batch=*/64);
  std::vector<std::vector<int64_t>> sets = {{0, 5, 5, 229}, {100, 101, 102}, {}, {7}};
  for (int64_t k = 0; k < 200; ++k) sets[3].push_back((k * 37) % 230);
  for (const auto& s : sets) {
    auto want = trainers[0].evaluate(x, d, s);
    auto got = per.of(s);
    EXPECT_EQ(got.count, want.count);
    EXPECT_EQ(got.correct, want.correct);
    EXPECT_NEAR(got.loss_sum, want.loss_sum, 1e-4 * (1 + want.loss_sum));
  }
  std::vector<int64_t> all(230);
  std::iota(all.begin(), all.end(), 0);
  auto want = trainers[1].evaluate(x, d, all);
  EXPECT_EQ(per.all().correct, want.correct);
  EXPECT_EQ(per.all().count, 230);
}
