// SCAFFOLD (fl/algorithms/scaffold.cpp): option-II control variates and the corrected step by hand, the
// invariant c = mean_i c_i under full participation, identical clients reduce to FedAvg (c − c_i = 0), and a
// resumed run continues bit for bit (the control variates are checkpointed).
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

constexpr double kLr = 0.2;
constexpr int64_t kSteps = 2;

toml::table scaffold_config(const std::string& name) {
  auto root = test::synthetic_config("scaffold", name, "scaffold");
  for (const char* o : {"fl.clients=2", "fl.client_fraction=1.0", "train.batch_size=1000", "train.local_steps=2",
                        "train.lr=0.2", "run.threads=1"}) {
    apply_override(root, o);  // one full batch per step: the steps are deterministic
  }
  return root;
}

// One round as the round loop runs it (one worker).
void run_round(Session& s, Parts& p, int64_t t) {
  auto who = p.comm->participants(t);
  p.comm->before_training(who, t);
  for (int64_t i : who) p.rule->train(s.trainers[0], i, t, p.comm->models()[i], s.fed.M[i]);
  p.comm->communicate(who, t);
}

// (c [P], c_i [N,P]) from the rule's checkpoint hook.
std::pair<torch::Tensor, torch::Tensor> control_variates(const Parts& p) {
  Checkpoint ck;
  p.rule->save(ck);
  return {ck.tensors.at("scaffold_c").clone(), ck.tensors.at("scaffold_ci").clone()};
}

struct ClientData {
  torch::Tensor inputs, labels;
};

ClientData client_data(const Session& s, int64_t i) {
  auto idx = torch::tensor(s.data.client_train[i], torch::kInt64);
  return {s.data.train.x.index_select(0, idx), s.data.train.y.index_select(0, idx)};
}

}  // namespace

// Round 1 (c = c_i = 0): plain gradient steps; c_i = (x − y_i)/(Kη), c = mean c_i, x ← mean y_i.
// Round 2: y ← y − η (∇F_i(y) − c_i + c), checked for client 0 before communication.
TEST(Scaffold, ControlVariatesAndCorrectedStepByHand) {
  set_log_level(LogLevel::Warn);
  auto cfg = FlConfig::parse(scaffold_config("hand"));
  Session s = open_session(cfg);
  Parts p = find_algorithm("scaffold").build(s);
  auto& tr = s.trainers[0];
  auto grad = [&](const torch::Tensor& x, int64_t i) {
    auto d = client_data(s, i);
    tr.loss_and_grad(x.clone(), d.inputs, d.labels);
    return tr.grad().clone();
  };
  auto x0 = s.fed.X[0].clone();
  std::vector<torch::Tensor> y(2), ci(2);
  for (int64_t i = 0; i < 2; ++i) {
    auto y1 = x0 - kLr * grad(x0, i);
    y[i] = y1 - kLr * grad(y1, i);
    ci[i] = (x0 - y[i]) / (kSteps * kLr);
  }
  auto c = (ci[0] + ci[1]) / 2.0;  // c ← 0 + (|S|/N) · mean Δc_i with S = all
  auto x1 = (y[0] + y[1]) / 2.0;   // η_g = 1
  run_round(s, p, 0);
  // Float32 steps on a permuted full batch, then a division by Kη = 0.4: ~1e-6 absolute.
  auto [c_got, ci_got] = control_variates(p);
  EXPECT_LT((ci_got[0] - ci[0]).abs().max().item<double>(), 1e-4);
  EXPECT_LT((ci_got[1] - ci[1]).abs().max().item<double>(), 1e-4);
  EXPECT_LT((c_got - c).abs().max().item<double>(), 1e-4);
  EXPECT_LT((s.fed.X[1] - x1).abs().max().item<double>(), 1e-5);

  auto corr = c_got - ci_got[0];
  ASSERT_GT(corr.abs().max().item<double>(), 1e-3);  // non-IID clients: the correction is not zero
  auto start = s.fed.X[0].clone();
  auto z1 = start - kLr * (grad(start, 0) + corr);
  auto z2 = z1 - kLr * (grad(z1, 0) + corr);
  auto who = p.comm->participants(1);
  p.comm->before_training(who, 1);
  p.rule->train(tr, 0, 1, s.fed.X[0], s.fed.M[0]);
  EXPECT_LT((s.fed.X[0] - z2).abs().max().item<double>(), 1e-5);
  // c_0 ← c_0 − c + (x − y)/(Kη)
  auto [c2, ci2] = control_variates(p);
  EXPECT_LT((ci2[0] - (ci_got[0] - c_got + (start - z2) / (kSteps * kLr))).abs().max().item<double>(), 1e-4);
}

// Full participation: c ← c + mean_i Δc_i keeps c = mean_i c_i; identical clients have c_i = c, so the
// correction c − c_i stays 0 and SCAFFOLD takes FedAvg's steps.
TEST(Scaffold, ServerVariateIsTheMeanAndIdenticalClientsNeedNoCorrection) {
  set_log_level(LogLevel::Warn);
  auto cfg = FlConfig::parse(scaffold_config("identical"));
  Session s = open_session(cfg);
  s.data.client_train[1] = s.data.client_train[0];  // client 1 holds exactly client 0's data
  s.sizes[1] = s.sizes[0];
  Parts p = find_algorithm("scaffold").build(s);
  for (int64_t t = 0; t < 3; ++t) run_round(s, p, t);
  auto [c, ci] = control_variates(p);
  EXPECT_GT(c.abs().max().item<double>(), 1e-3);  // c is the mean gradient, not 0
  // Two clients on the same data, batches shuffled differently: equal up to float32 summation order.
  EXPECT_LT((ci[0] - c).abs().max().item<double>(), 1e-4);
  EXPECT_LT((ci[1] - c).abs().max().item<double>(), 1e-4);
  EXPECT_LT((ci.mean(0) - c).abs().max().item<double>(), 1e-5);
}

TEST(Scaffold, ResumeIsBitIdenticalWithControlVariates) {
  set_log_level(LogLevel::Warn);
  auto base = scaffold_config("resume_full");
  for (const char* o : {"fl.clients=6", "fl.client_fraction=0.5", "train.batch_size=16", "fl.rounds=4"}) {
    apply_override(base, o);
  }
  auto rf = run_fl(FlConfig::parse(base), false);
  auto part = base;
  apply_override(part, "run.name=resume_part");
  apply_override(part, "fl.rounds=2");
  apply_override(part, "run.checkpoint_every=1");
  run_fl(FlConfig::parse(part), false);
  apply_override(part, "fl.rounds=4");
  auto rr = run_fl(FlConfig::parse(part), true);
  ASSERT_EQ(rr.rows.size(), rf.rows.size());
  for (std::size_t k = 0; k < rf.rows.size(); ++k) {
    for (const char* key : {"train_loss", "local_acc_mean", "global_acc", "consensus_distance"}) {
      EXPECT_EQ(rr.rows[k][key], rf.rows[k][key]) << key << " round " << k + 1;
    }
  }
  auto a = load_checkpoint(latest_checkpoint(fs::path(rf.run_dir) / "checkpoints"));
  auto b = load_checkpoint(latest_checkpoint(fs::path(rr.run_dir) / "checkpoints"));
  for (const char* t : {"X", "scaffold_c", "scaffold_ci"}) {
    EXPECT_TRUE(torch::equal(a.tensors.at(t), b.tensors.at(t))) << t;
  }
}
