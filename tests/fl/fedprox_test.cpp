// FedProx (fl/algorithms/fedprox.cpp): the local step by hand on one full batch, and μ = 0 is FedAvg bit for bit.
#include <gtest/gtest.h>

#include <filesystem>

#include "plexus/core/checkpoint.h"
#include "plexus/core/log.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/run_support.h"
#include "plexus/fl/runner.h"
#include "synthetic_config.h"

using namespace plexus;
using namespace plexus::fl;
namespace fs = std::filesystem;

namespace {

toml::table prox_config(const std::string& algorithm, const std::string& name) {
  auto root = test::synthetic_config(algorithm, name, "fedprox");
  for (const char* o : {"fl.clients=2", "fl.client_fraction=1.0", "train.batch_size=1000", "train.local_steps=2",
                        "train.lr=0.2", "train.prox_mu=0.5", "run.threads=1"}) {
    apply_override(root, o);  // one full batch per step: the steps are deterministic
  }
  return root;
}

}  // namespace

// Two local steps from x = x^t: the first has no proximal pull (y = x^t), the second is
// y2 = y1 − η (∇F(y1) + μ (y1 − x^t)).
TEST(FedProx, LocalStepsMatchTheProximalGradientByHand) {
  set_log_level(LogLevel::Warn);
  auto cfg = FlConfig::parse(prox_config("fedprox", "hand"));
  Session s = open_session(cfg);
  Parts parts = find_algorithm("fedprox").build(s);
  auto& tr = s.trainers[0];
  auto idx = torch::tensor(s.data.client_train[1], torch::kInt64);
  auto inputs = s.data.train.x.index_select(0, idx), labels = s.data.train.y.index_select(0, idx);
  auto grad = [&](const torch::Tensor& x) {
    tr.loss_and_grad(x.clone(), inputs, labels);
    return tr.grad().clone();
  };
  auto x = s.fed.X[1].clone();
  auto y1 = x - 0.2 * grad(x);
  auto y2 = y1 - 0.2 * (grad(y1) + 0.5 * (y1 - x));
  parts.rule->train(tr, 1, 0, s.fed.X[1], s.fed.M[1]);
  // Float32 steps on a permuted full batch: the mean loss sums in another order, ~1e-7 relative.
  EXPECT_LT((s.fed.X[1] - y2).abs().max().item<double>(), 1e-5);
  auto plain = y1 - 0.2 * grad(y1);  // FedAvg's second step: the proximal term must show
  EXPECT_GT((y2 - plain).abs().max().item<double>(), 1e-5);
}

// μ = 0 leaves FedAvg's local objective: every metric and the final model equal FedAvg's bit for bit.
TEST(FedProx, ZeroMuIsFedAvgBitForBit) {
  set_log_level(LogLevel::Warn);
  auto a = prox_config("fedprox", "mu0");
  apply_override(a, "train.prox_mu=0");
  apply_override(a, "fl.rounds=3");
  auto b = prox_config("fedavg", "fedavg");
  apply_override(b, "fl.rounds=3");
  auto ra = run_fl(FlConfig::parse(a), false), rb = run_fl(FlConfig::parse(b), false);
  ASSERT_EQ(ra.rows.size(), rb.rows.size());
  for (std::size_t k = 0; k < ra.rows.size(); ++k) {
    for (const char* key : {"train_loss", "local_acc_mean", "global_acc", "consensus_distance"}) {
      EXPECT_EQ(ra.rows[k][key], rb.rows[k][key]) << key << " round " << k + 1;
    }
  }
  auto xa = load_checkpoint(latest_checkpoint(fs::path(ra.run_dir) / "checkpoints")).tensors.at("X");
  auto xb = load_checkpoint(latest_checkpoint(fs::path(rb.run_dir) / "checkpoints")).tensors.at("X");
  EXPECT_TRUE(torch::equal(xa, xb));
}
