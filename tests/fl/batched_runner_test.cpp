// The evaluation parts (fl/batched_eval.h): the one-pass per-example evaluation split by index against
// per-client passes (server FL's shortcut).
#include <gtest/gtest.h>

#include <numeric>

#include "plexus/fl/batched_eval.h"

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
