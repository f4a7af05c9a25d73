// The evaluation parts (fl/batched_eval.h): the one-pass per-example evaluation split by index against
// per-client passes (server FL's shortcut); whole runs with run.client_batching "on" against "off".
#include <gtest/gtest.h>

#include <numeric>

#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/batched_eval.h"
#include "plexus/fl/runner.h"
#include "synthetic_config.h"

using namespace plexus;
using namespace plexus::fl;

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

// run.client_batching = "on" against "off" end to end, one algorithm per family and code path: the batched
// engine trains (and, for different models, evaluates) the clients in one computation, the sequential
// engine one by one; both draw the same minibatches from the same streams, so the runs agree up to float32
// summation order. Tolerances: training loss and consensus distance to 1e-4 relative (plus 1e-10 absolute for
// server FL's consensus distance, which is rounding noise); accuracies to 2% (an
// example near a decision boundary may flip). Rules without a StepPlan form (FedProx's correction, Ditto's
// personal step) train client by client either way and must give the same training losses bit for bit.
namespace {

RunResult run_with_batching(const std::string& algorithm, const std::string& mode,
                            const std::vector<std::string>& sets) {
  const bool pfl = is_personalized(algorithm);
  auto root = test::synthetic_config(
      algorithm, "batching_" + algorithm + "_" + mode, "batching",
      pfl ? "[personalization]\nhead_epochs = 1\nbody_epochs = 1\nlr_head = 0.05\nlr_body = 0.1\n"
          : "[topology]\nkind = \"ring\"\nmixing = \"uniform\"\n");
  apply_override(root, "fl.rounds=3");
  apply_override(root, "run.client_batching=\"" + mode + "\"");
  for (const auto& s : sets) apply_override(root, s);
  return run_fl(FlConfig::parse(root), false);
}

double rel(double a, double b) { return std::abs(a - b) / std::max(1e-12, std::abs(b)); }

}  // namespace

TEST(ClientBatching, RunsMatchTheSequentialEngine) {
  set_log_level(LogLevel::Warn);
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"fedavg", {}},
      {"fedsam", {"train.adaptive=true", "train.momentum=0.5", "train.weight_decay=0.001", "train.grad_clip=1.0"}},
      {"dfedsam", {}},
      {"dpsgd", {}},
      {"dp_fedsam", {"privacy.noise_multiplier=0.5", "privacy.clip_norm=0.3"}},
      {"dfedsalt", {"topology.kind=\"time_varying\"", "topology.neighbors=2"}},
      {"dfedpgp", {"topology.kind=\"directed_time_varying\"", "topology.neighbors=2",
                   "personalization.steps_min_fraction=0.4"}},
  };
  for (const auto& [algorithm, sets] : cases) {
    auto on = run_with_batching(algorithm, "on", sets), off = run_with_batching(algorithm, "off", sets);
    ASSERT_EQ(on.rows.size(), off.rows.size()) << algorithm;
    for (std::size_t k = 0; k < off.rows.size(); ++k) {
      const auto &a = on.rows[k], &b = off.rows[k];
      EXPECT_LT(rel(a["train_loss"].get<double>(), b["train_loss"].get<double>()), 1e-4) << algorithm << " " << k;
      // Server FL's consensus distance is rounding noise (~1e-14: every row is the same model): absolute part.
      const double ca = a["consensus_distance"].get<double>(), cb = b["consensus_distance"].get<double>();
      EXPECT_LE(std::abs(ca - cb), 1e-4 * std::abs(cb) + 1e-10) << algorithm << " round " << k + 1;
      if (b["local_acc_mean"].is_number()) {
        EXPECT_NEAR(a["local_acc_mean"].get<double>(), b["local_acc_mean"].get<double>(), 0.02) << algorithm;
      }
    }
  }
  for (const char* algorithm : {"fedprox", "ditto"}) {
    auto on = run_with_batching(algorithm, "on", {}), off = run_with_batching(algorithm, "off", {});
    for (std::size_t k = 0; k < off.rows.size(); ++k) {
      EXPECT_EQ(on.rows[k]["train_loss"], off.rows[k]["train_loss"]) << algorithm << " round " << k + 1;
    }
  }
}

// "on" with training-time augmentation is refused at set-up with the key to change.
TEST(ClientBatching, OnWithAugmentationIsAConfigError) {
  auto root = test::synthetic_config("fedavg", "batching_augment", "batching");
  apply_override(root, "run.client_batching=\"on\"");
  apply_override(root, "data.horizontal_flip=true");
  try {
    run_fl(FlConfig::parse(root), false);
    FAIL() << "expected Error(Config)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("client_batching"), std::string::npos) << e.what();
  }
}
