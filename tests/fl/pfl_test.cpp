// Personalized FL (fl/pfl/): heads never leave a client, push-sum de-biasing vs the reference code's uniform
// pull, DFedSalt's SAM perturbs only the shared body (checked against a hand-computed SAM step), alternating
// training moves only the planned columns, computation heterogeneity, and every algorithm beats its untrained
// start on the synthetic task; resume is bit-identical.
#include <gtest/gtest.h>

#include <filesystem>

#include "plexus/core/log.h"
#include "plexus/core/rng.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/communicator.h"
#include "plexus/fl/fl_config.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/pfl/alternating_rule.h"
#include "plexus/fl/pfl/pfl_comm.h"
#include "plexus/fl/run_support.h"
#include "plexus/fl/runner.h"
#include "plexus/fl/step_rule.h"
#include "synthetic_config.h"

using namespace plexus;
using namespace plexus::fl;
namespace fs = std::filesystem;

namespace {

FlConfig comm_config(const std::string& kind, int64_t k, int64_t n, int64_t seed) {
  FlConfig c;
  c.topology.kind = kind;
  c.topology.neighbors = k;
  c.fl.clients = n;
  c.run.seed = seed;
  return c;
}

// A session with only the state the communicators read: X = `X` [N,P] (shared), sample counts `sizes`.
Session comm_session(const FlConfig& cfg, const torch::Tensor& X, std::vector<int64_t> sizes) {
  Federation fed;
  fed.X = X;
  fed.M = torch::zeros_like(X);
  return Session{cfg, static_cast<uint64_t>(cfg.run.seed), torch::kCPU, {}, {}, {}, 1, fed, std::move(sizes)};
}

// Column layout of the communication tests: P = 10, body [0,6), head [6,10).
const std::vector<nn::ColumnRange> kBody = {{0, 6}};

struct CommCase {
  std::string comm, kind;  // comm: "gossip", "push_sum", "uniform_pull", "server"
};

std::unique_ptr<ColumnCommunicator> make_comm(const std::string& comm, Session& s) {
  if (comm == "push_sum") return std::make_unique<PushSum>(s, kBody);
  if (comm == "uniform_pull") return std::make_unique<GossipColumns>(s, kBody, /*always_pull=*/true);
  if (comm == "server") return std::make_unique<ServerColumns>(s, kBody);
  return std::make_unique<GossipColumns>(s, kBody);
}

// One communication round: what the round loop calls around local training (none here).
void communicate(Communicator& c, const std::vector<int64_t>& who, int64_t t) {
  c.before_training(who, t);
  c.communicate(who, t);
}

}  // namespace

// A client's head cannot influence anyone: changing client 0's head changes no other number anywhere, and every
// head column is bit-for-bit what it was, while the body columns do get mixed.
TEST(PflComm, HeadsNeverLeaveTheirClient) {
  const int64_t n = 8;
  for (const CommCase& c : {CommCase{"gossip", "time_varying"}, CommCase{"gossip", "directed_time_varying"},
                            CommCase{"push_sum", "directed_time_varying"},
                            CommCase{"uniform_pull", "directed_exponential"}, CommCase{"server", "ring"}}) {
    SCOPED_TRACE(c.comm + "/" + c.kind);
    auto cfg = comm_config(c.kind, 2, n, 7);
    auto X = torch::randn({n, 10}, torch::TensorOptions().dtype(torch::kFloat32));
    auto X2 = X.clone();
    X2[0].narrow(0, 6, 4).fill_(1e6);  // a wildly different head on client 0
    auto X0 = X.clone();
    const std::vector<int64_t> sizes(n, 10);
    auto s1 = comm_session(cfg, X, sizes), s2 = comm_session(cfg, X2, sizes);
    auto comm = make_comm(c.comm, s1), comm2 = make_comm(c.comm, s2);
    const bool everyone = c.comm != "server";  // decentralized: every client takes part
    std::vector<int64_t> who = everyone ? comm->participants(0) : std::vector<int64_t>{0, 2, 5};
    for (int64_t t = 0; t < 3; ++t) {
      communicate(*comm, who, t);
      communicate(*comm2, who, t);
    }
    EXPECT_TRUE(torch::equal(X.narrow(1, 6, 4), X0.narrow(1, 6, 4)));  // heads untouched
    EXPECT_TRUE(torch::equal(X.narrow(1, 0, 6), X2.narrow(1, 0, 6)));  // no body saw client 0's head
    EXPECT_TRUE(torch::equal(X.slice(0, 1), X2.slice(0, 1)));         // other clients identical
    EXPECT_GT((X.narrow(1, 0, 6) - X0.narrow(1, 0, 6)).abs().max().item<double>(), 1e-3);  // bodies mixed
  }
}

// On strongly connected directed time-varying graphs, DFedPGP's push-sum drives every z_i = u_i/μ_i to the true
// average of the initial bodies; the reference code's uniform pull reaches consensus at a biased point.
TEST(PflComm, PushSumFindsTheAverageUniformPullIsBiased) {
  const int64_t n = 8;
  auto X0 = torch::randn({n, 10}, torch::kFloat64);
  auto target = X0.narrow(1, 0, 6).mean(0);
  std::vector<int64_t> sizes(n, 1);
  auto cfg = comm_config("directed_time_varying", 2, n, 3);
  {
    auto U = X0.clone();
    auto s = comm_session(cfg, U, sizes);
    PushSum ps(s, kBody);
    for (int64_t t = 0; t < 150; ++t) communicate(ps, ps.participants(t), t);
    const auto& mu = ps.mu();
    auto Z = ps.models();
    EXPECT_TRUE(torch::equal(Z, push_sum_debias(U, mu, kBody)));
    EXPECT_LT((Z.narrow(1, 0, 6) - target).abs().max().item<double>(), 1e-8);
    EXPECT_NEAR(mu.sum().item<double>(), n, 1e-9);  // column-stochastic P conserves Σμ
    EXPECT_TRUE(torch::equal(U.narrow(1, 6, 4), X0.narrow(1, 6, 4)));
  }
  {
    auto Y = X0.clone();
    auto s = comm_session(cfg, Y, sizes);
    GossipColumns pull(s, kBody, /*always_pull=*/true);
    for (int64_t t = 0; t < 150; ++t) communicate(pull, pull.participants(t), t);
    const auto& mu = pull.mu();
    auto body = Y.narrow(1, 0, 6);
    EXPECT_LT((body - body[0]).abs().max().item<double>(), 1e-8);   // consensus...
    EXPECT_GT((body[0] - target).abs().max().item<double>(), 1e-3);  // ...at a biased point
    EXPECT_TRUE(torch::equal(mu, torch::ones({n}, torch::kFloat64)));
  }
}

// Server averaging of the body is the sample-weighted mean of the sampled clients, written to every client.
TEST(PflComm, ServerAveragesSampledBodiesByHand) {
  auto cfg = comm_config("ring", 1, 3, 0);
  auto X = torch::tensor({1.0, 10.0, 2.0, 20.0, 4.0, 40.0}, torch::kFloat64).reshape({3, 2});
  auto s = comm_session(cfg, X, {1, 5, 3});
  ServerColumns comm(s, {{0, 1}});
  communicate(comm, {0, 2}, 0);  // (1·1 + 3·4)/4 = 3.25
  for (int64_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(X[i][0].item<double>(), 3.25);
  EXPECT_DOUBLE_EQ(X[1][1].item<double>(), 20.0);
}

// Issue 12 #8: clients that hold no samples average with equal weights (not 0/0 = NaN), and a round with no
// participant leaves the model as it was (averaging nothing would zero it), on the server path and the
// personalized server path alike.
TEST(ServerAverage, ZeroSampleClientsAverageEquallyAndAnEmptyRoundKeepsTheModel) {
  EXPECT_EQ(averaging_weights({3, 1, 0}, {0, 1}), (std::vector<double>{0.75, 0.25}));
  EXPECT_EQ(averaging_weights({0, 0, 0}, {0, 2}), (std::vector<double>{0.5, 0.5}));
  auto cfg = comm_config("ring", 1, 3, 0);
  auto X = torch::tensor({1.0, 10.0, 2.0, 20.0, 4.0, 40.0}, torch::kFloat64).reshape({3, 2});
  auto s = comm_session(cfg, X, {0, 0, 0});
  ServerAverage avg(s);
  communicate(avg, {}, 0);
  EXPECT_DOUBLE_EQ(X[0][0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(X[2][1].item<double>(), 40.0);
  communicate(avg, {0, 2}, 1);  // (1 + 4)/2, (10 + 40)/2 on every client
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(X[i][0].item<double>(), 2.5);
    EXPECT_DOUBLE_EQ(X[i][1].item<double>(), 25.0);
  }
  auto Y = torch::tensor({1.0, 10.0, 2.0, 20.0, 4.0, 40.0}, torch::kFloat64).reshape({3, 2});
  auto s2 = comm_session(cfg, Y, {0, 0, 0});
  ServerColumns cols(s2, {{0, 1}});
  communicate(cols, {0, 2}, 0);
  EXPECT_DOUBLE_EQ(Y[1][0].item<double>(), 2.5);
}

namespace {

struct TinyModel {
  std::shared_ptr<nn::Model> model;
  nn::ParamLayout layout;
  data::Dataset data;
  std::vector<int64_t> idx;
};

TinyModel tiny_model(int64_t n) {
  TinyModel t;
  torch::manual_seed(11);
  nn::ModelOptions mo;
  mo.name = "mlp";
  mo.hidden = {5};
  t.model = nn::make_model(mo, {1, 1, 4}, 3);
  t.layout = nn::ParamLayout::of(*t.model, {t.model->head_prefix()});
  t.data.x = torch::randn({n, 1, 1, 4});
  t.data.y = torch::randint(0, 3, {n}, torch::kInt64);
  t.data.num_classes = 3;
  for (int64_t i = 0; i < n; ++i) t.idx.push_back(i);
  return t;
}

}  // namespace

// DFedSalt's body step equals the SAM step computed by hand with the perturbation on the body only; the head
// plan is plain SGD on the head.
TEST(PflTrainer, DFedSaltPerturbsOnlyTheSharedBody) {
  auto tm = tiny_model(12);
  LocalTrainer trainer(tm.model, tm.layout, torch::kCPU);
  auto cols = pfl_columns(tm.layout, /*personal_head=*/true);
  LocalOptions o;
  o.batch_size = 12;  // one full batch per step: the step is deterministic
  o.rho = 0.5;
  PersonalizationOptions p;
  p.head_epochs = 1;
  p.body_epochs = 1;
  p.lr_head = 0.05;
  p.lr_body = 0.2;
  o.lr_decay = 1.0;
  auto plans = alternating_plans(p, o, cols, 12, /*round=*/0, /*scale=*/1.0, /*body_sam=*/true);
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_FALSE(plans[0].sam);
  EXPECT_EQ(plans[0].update, cols.head);
  EXPECT_TRUE(plans[1].sam);
  EXPECT_EQ(plans[1].update, cols.body);
  EXPECT_EQ(plans[1].perturb, cols.body);

  auto x0 = tm.layout.flatten(*tm.model).detach().clone();
  // Hand computation: g = ∇F(x); e = ρ g_body/||g_body||; x' = x − η ∇F(x + e) on the body.
  trainer.loss_and_grad(x0.clone(), tm.data.x, tm.data.y);
  auto g = trainer.grad().clone();
  auto e = torch::zeros_like(x0);
  double norm = std::sqrt(range_norm_sq(g, cols.body));
  for (auto [b, end] : cols.body) e.narrow(0, b, end - b).copy_(g.narrow(0, b, end - b) * (o.rho / norm));
  trainer.loss_and_grad((x0 + e).contiguous(), tm.data.x, tm.data.y);
  auto expected = x0.clone();
  for (auto [b, end] : cols.body) expected.narrow(0, b, end - b).sub_(trainer.grad().narrow(0, b, end - b) * 0.2);

  auto x = x0.clone();
  auto m = torch::zeros_like(x);
  Rng rng(0, "test");
  trainer.train(x, m, tm.data, tm.idx, o, plans[1], rng);
  EXPECT_LT((x - expected).abs().max().item<double>(), 1e-5);
  for (auto [b, end] : cols.head) EXPECT_TRUE(torch::equal(x.narrow(0, b, end - b), x0.narrow(0, b, end - b)));
  // Perturbing every column gives a different step, so the check above can tell them apart.
  auto e_all = g * (o.rho / g.norm().item<double>());
  trainer.loss_and_grad((x0 + e_all).contiguous(), tm.data.x, tm.data.y);
  auto other = x0.clone();
  for (auto [b, end] : cols.body) other.narrow(0, b, end - b).sub_(trainer.grad().narrow(0, b, end - b) * 0.2);
  EXPECT_GT((other - expected).abs().max().item<double>(), 1e-6);
}

// Head-only training leaves the body bit-for-bit, body-only the head; step counts follow epochs and s_i.
TEST(PflTrainer, AlternatingMovesOnlyPlannedColumnsAndHeterogeneityScalesSteps) {
  auto tm = tiny_model(20);
  LocalTrainer trainer(tm.model, tm.layout, torch::kCPU);
  auto cols = pfl_columns(tm.layout, /*personal_head=*/true);
  LocalOptions o;
  o.batch_size = 4;
  PersonalizationOptions p;
  p.head_epochs = 2;
  p.body_epochs = 0;
  auto x0 = tm.layout.flatten(*tm.model).detach().clone();
  auto x = x0.clone();
  auto m = torch::zeros_like(x);
  Rng rng(1, "batch", 0, 0);
  for (const auto& plan : alternating_plans(p, o, cols, 20, 0, 1.0, /*body_sam=*/false)) {
    trainer.train(x, m, tm.data, tm.idx, o, plan, rng);
  }
  for (auto [b, e] : cols.body) EXPECT_TRUE(torch::equal(x.narrow(0, b, e - b), x0.narrow(0, b, e - b)));
  EXPECT_GT((x - x0).abs().max().item<double>(), 0.0);
  auto plans = alternating_plans(p, o, cols, 20, 0, 1.0, false);
  ASSERT_EQ(plans.size(), 1u);  // the zero-epoch body plan is dropped
  EXPECT_EQ(plans[0].steps, 10);  // 2 epochs × ⌈20/4⌉

  auto y = x0.clone();
  StepPlan body_only;  // FedBABU's rule: the body only
  body_only.update = cols.body;
  body_only.steps = 5;
  trainer.train(y, m, tm.data, tm.idx, o, body_only, rng);
  for (auto [b, e] : cols.head) EXPECT_TRUE(torch::equal(y.narrow(0, b, e - b), x0.narrow(0, b, e - b)));

  EXPECT_EQ(scaled_steps(10, 0.25), 3);
  EXPECT_EQ(scaled_steps(10, 1.0), 10);
  EXPECT_EQ(scaled_steps(3, 0.01), 1);
  EXPECT_EQ(scaled_steps(0, 0.5), 0);
  PersonalizationOptions het;
  het.steps_min_fraction = 0.2;
  double lo = 1, hi = 0;
  for (int64_t i = 0; i < 50; ++i) {
    double s = step_scale(het, 5, i);
    EXPECT_EQ(s, step_scale(het, 5, i));
    lo = std::min(lo, s), hi = std::max(hi, s);
  }
  EXPECT_GE(lo, 0.2);
  EXPECT_LE(hi, 1.0);
  EXPECT_LT(lo, 0.4);  // 50 draws from U[0.2, 1] spread out
  EXPECT_GT(hi, 0.8);
  EXPECT_EQ(step_scale(PersonalizationOptions{}, 5, 3), 1.0);
}

namespace {

toml::table pfl_config(const std::string& algorithm, const std::string& name) {
  auto root = test::synthetic_config(algorithm, name, "pfl", R"(
[topology]
kind = "directed_time_varying"
neighbors = 2
[personalization]
head_epochs = 1
body_epochs = 1
lr_head = 0.05
lr_body = 0.1
)");
  apply_override(root, "data.dirichlet_alpha=0.5");
  apply_override(root, "fl.rounds=5");
  if (algorithm == "dfedalt" || algorithm == "dfedsalt" || algorithm == "pfl_dfedavgm") {
    apply_override(root, "topology.kind=\"time_varying\"");
  }
  if (algorithm == "pfl_dfedavgm") apply_override(root, "train.momentum=0.9");
  return root;
}

}  // namespace

// Ditto's personal step by hand, v' = v − η (∇F(v) + λ (v − w)) twice on one full batch, through the registered
// algorithm's rule (the personal models V come back through the rule's checkpoint hook).
TEST(PflRule, DittoPersonalStepMatchesTheProximalRule) {
  set_log_level(LogLevel::Warn);
  auto root = pfl_config("ditto", "ditto_rule");
  for (const char* o : {"train.batch_size=1000", "train.local_steps=2", "train.lr=0.3", "run.threads=1",
                        "personalization.ditto_lambda=2.0"}) {
    apply_override(root, o);  // one full batch per step: the steps are deterministic
  }
  auto cfg = FlConfig::parse(root);
  Session s = open_session(cfg);
  Parts parts = find_algorithm("ditto").build(s);
  auto personal = [&] {
    Checkpoint ck;
    parts.rule->save(ck);
    return ck.tensors.at("V")[0].clone();
  };
  auto& tr = s.trainers[0];
  auto idx = torch::tensor(s.data.client_train[0], torch::kInt64);
  auto inputs = s.data.train.x.index_select(0, idx), labels = s.data.train.y.index_select(0, idx);
  auto grad = [&](const torch::Tensor& x) {
    tr.loss_and_grad(x.clone(), inputs, labels);
    return tr.grad().clone();
  };
  // Round 0 moves v away from w (v = w = x^0 before it); round 1 is checked by hand.
  parts.rule->train(tr, 0, 0, s.fed.X[0], s.fed.M[0]);
  auto v = personal(), w = s.fed.X[0].clone();
  ASSERT_GT((v - w).abs().max().item<double>(), 1e-5);
  auto v1 = v - 0.3 * (grad(v) + 2.0 * (v - w));
  auto v2 = v1 - 0.3 * (grad(v1) + 2.0 * (v1 - w));
  parts.rule->train(tr, 0, 1, s.fed.X[0], s.fed.M[0]);
  // Float32 steps on a permuted full batch: the mean loss sums in another order, ~1e-7 relative.
  EXPECT_LT((personal() - v2).abs().max().item<double>(), 1e-5);
  auto plain = v - 0.3 * grad(v);
  EXPECT_GT((v1 - plain).abs().max().item<double>(), 1e-6);  // λ matters
}

class EveryPflAlgorithm : public ::testing::TestWithParam<std::string> {};

// Round 1's "before" value is the untrained initial model on every client's test set (near 0.25 for 4
// balanced classes); after 5 rounds each algorithm's personalized accuracy must be well above it.
TEST_P(EveryPflAlgorithm, BeatsItsUntrainedStart) {
  set_log_level(LogLevel::Warn);
  auto cfg = FlConfig::parse(pfl_config(GetParam(), "learn_" + GetParam()));
  auto r = run_fl(cfg, false);
  double acc0 = r.rows.front()["before_acc_mean"].get<double>();
  double acc = r.summary["final_local_acc_mean"].get<double>();
  EXPECT_LT(acc0, 0.45) << GetParam();
  EXPECT_GT(acc, acc0 + 0.2) << GetParam() << " before " << acc0 << " after " << acc;
  EXPECT_GE(r.summary["best_local_acc_mean"].get<double>(), acc);
  EXPECT_TRUE(r.summary.contains("best_before_acc_mean"));
}

INSTANTIATE_TEST_SUITE_P(Pfl, EveryPflAlgorithm, ::testing::ValuesIn(algorithm_names(Family::Personalized)),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(PflRunner, PushSumWeightsMoveAndResumeIsBitIdentical) {
  set_log_level(LogLevel::Warn);
  auto base = pfl_config("dfedpgp", "pgp_full");
  apply_override(base, "personalization.steps_min_fraction=0.3");
  auto full = FlConfig::parse(base);
  auto rf = run_fl(full, false);
  EXPECT_LT(rf.rows.back()["mu_min"].get<double>(), 0.999);  // directed graphs: μ is not constant
  EXPECT_GT(rf.rows.back()["mu_max"].get<double>(), 1.001);

  auto part_root = base;
  apply_override(part_root, "run.name=\"pgp_part\"");
  apply_override(part_root, "fl.rounds=2");
  apply_override(part_root, "run.checkpoint_every=1");
  run_fl(FlConfig::parse(part_root), false);
  auto rest_root = part_root;
  apply_override(rest_root, "fl.rounds=5");
  auto rr = run_fl(FlConfig::parse(rest_root), true);
  ASSERT_EQ(rr.rows.size(), rf.rows.size());
  for (std::size_t k = 0; k < rf.rows.size(); ++k) {
    for (const char* key : {"train_loss", "local_acc_mean", "before_acc_mean", "consensus_distance", "mu_min"}) {
      EXPECT_EQ(rr.rows[k][key], rf.rows[k][key]) << key << " round " << k + 1;
    }
  }
}

TEST(PflConfig, ErrorsNameTheirKey) {
  auto err = [](toml::table root) -> std::string {
    try {
      FlConfig::parse(root);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      return e.what();
    }
    return "";
  };
  auto a = pfl_config("dfedpgp", "e");
  apply_override(a, "personalization.push_sum=\"pull\"");
  EXPECT_NE(err(a).find("push_sum"), std::string::npos);
  auto b = pfl_config("dfedalt", "e");
  apply_override(b, "personalization.lr_head=0");
  EXPECT_NE(err(b).find("lr_head"), std::string::npos);
  auto c = pfl_config("dfedsam", "e");  // [personalization] with a non-personalized algorithm
  EXPECT_NE(err(c).find("personalization"), std::string::npos);
  auto d = pfl_config("dfedalt", "e");
  apply_override(d, "personalization.head=[\"nope\"]");
  auto cfg = FlConfig::parse(d);
  try {
    run_fl(cfg, false);
    ADD_FAILURE() << "a head prefix that matches no parameter must be rejected";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
  }
}
