// Batched clients (fl/batched_trainer.h, nn/functional_models.h) against the sequential engine (LocalTrainer):
// the same rows after training within fp tolerance, for every local rule the algorithm families use.
#include <gtest/gtest.h>

#include "plexus/fl/batched_round.h"
#include "plexus/fl/batched_trainer.h"

using namespace plexus;
using namespace plexus::fl;

namespace {

// A small image dataset (random, fixed seed) that the CNN accepts: 16×16 single-channel, 3 classes.
data::Dataset images(int64_t n, int64_t side = 16, int64_t classes = 3) {
  torch::manual_seed(7);
  data::Dataset d;
  d.x = torch::randn({n, 1, side, side});
  d.y = torch::randint(0, classes, {n}, torch::kInt64);
  d.num_classes = classes;
  return d;
}

struct Setup {
  nn::ModelOptions mo;
  std::shared_ptr<nn::Model> model;
  nn::ParamLayout layout;
  torch::Tensor X;  // [N,P], rows differ (perturbed copies of one init)
};

Setup setup(const std::string& name, int64_t clients, const std::vector<std::string>& head = {}) {
  Setup s;
  s.mo.name = name;
  s.mo.hidden = {16, 8};
  torch::manual_seed(3);
  s.model = nn::make_model(s.mo, {1, 16, 16}, 3);
  s.layout = nn::ParamLayout::of(*s.model, head);
  auto x0 = s.layout.flatten(*s.model);
  s.X = x0.unsqueeze(0).repeat({clients, 1}) + 0.01 * torch::randn({clients, x0.size(0)});
  return s;
}

// Client i holds samples [offset_i, offset_i + sizes_i) of the dataset.
std::vector<std::vector<int64_t>> client_sets(const std::vector<int64_t>& sizes) {
  std::vector<std::vector<int64_t>> out;
  int64_t at = 0;
  for (int64_t n : sizes) {
    std::vector<int64_t> v;
    for (int64_t k = 0; k < n; ++k) v.push_back(at + k);
    at += n;
    out.push_back(v);
  }
  return out;
}

// Train every client sequentially (LocalTrainer) and batched (BatchedTrainer) from the same X; return the
// largest absolute difference of the resulting rows and of the losses.
std::pair<double, double> compare(Setup& s, const LocalOptions& o, const StepPlan& plan,
                                  const std::vector<int64_t>& sizes, const std::vector<int64_t>& steps,
                                  int64_t max_clients = 0) {
  const int64_t n = static_cast<int64_t>(sizes.size());
  auto data = images(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}));
  auto sets = client_sets(sizes);
  auto Xs = s.X.clone(), Ms = torch::zeros_like(Xs);
  LocalTrainer seq(s.model, s.layout, torch::kCPU);
  std::vector<double> seq_loss(n);
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(5, "batch", static_cast<uint64_t>(i), 2);
    StepPlan p = plan;
    p.steps = steps[i];
    seq_loss[i] = seq.train(Xs[i], Ms[i], data, sets[i], o, p, rng);
  }
  auto Xb = s.X.clone(), Mb = torch::zeros_like(Xb);
  BatchedTrainer bat(s.mo, s.layout, torch::kCPU, max_clients);
  std::vector<Rng> rngs;
  for (int64_t i = 0; i < n; ++i) rngs.emplace_back(5, "batch", static_cast<uint64_t>(i), 2);
  std::vector<ClientJob> jobs;
  for (int64_t i = 0; i < n; ++i) jobs.push_back({i, &sets[i], steps[i], &rngs[i]});
  auto bat_loss = bat.train(Xb, Mb, data, jobs, o, plan);
  double dloss = 0;
  for (int64_t i = 0; i < n; ++i) dloss = std::max(dloss, std::abs(seq_loss[i] - bat_loss[i]));
  EXPECT_GT((Xs - s.X).abs().max().item<double>(), 1e-3) << "training must move the rows";
  return {(Xs - Xb).abs().max().item<double>(), dloss};
}

constexpr double kTol = 2e-5;  // float32 summation-order differences after a few steps

}  // namespace

TEST(BatchedForward, EqualsModelForwardPerRow) {
  for (const char* name : {"cnn", "mlp"}) {
    auto s = setup(name, 3);
    auto x = torch::randn({5, 3, 1, 16, 16});  // [B,N,C,H,W]
    nn::BatchedForward f(s.mo, s.layout);
    auto logits = f(s.X, x);  // [N,B,K]
    ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{3, 5, 3}));
    LocalTrainer seq(s.model, s.layout, torch::kCPU);
    for (int64_t i = 0; i < 3; ++i) {
      auto row = s.X[i].clone();
      auto grad = torch::zeros_like(row);
      s.layout.bind(*s.model, row, grad);
      torch::NoGradGuard ng;
      auto ref = s.model->forward(x.select(1, i));
      EXPECT_LT((ref - logits[i]).abs().max().item<double>(), 1e-5) << name << " row " << i;
    }
  }
}

TEST(BatchedForward, RejectsModelsWithoutBatchedForward) {
  nn::ModelOptions o;
  o.name = "vgg11";
  EXPECT_FALSE(nn::has_batched_forward(o));
  EXPECT_THROW(nn::BatchedForward(o, nn::ParamLayout{}), Error);
}

// Server / gossip FL (FedAvg, DFedAvg): SGD with momentum, weight decay and clipping, all columns.
TEST(BatchedTrainer, SgdMomentumWeightDecayClipEqualsSequential) {
  auto s = setup("cnn", 4);
  LocalOptions o;
  o.batch_size = 8, o.momentum = 0.9, o.weight_decay = 5e-4, o.grad_clip = 0.5;
  StepPlan plan;
  plan.lr = 0.05;
  auto [dx, dl] = compare(s, o, plan, {20, 20, 20, 20}, {4, 4, 4, 4});
  EXPECT_LT(dx, kTol);
  EXPECT_LT(dl, 1e-5);
}

// DFedSAM / FedSAM: SAM; clients with different sizes (short last batches) and step counts (masks).
TEST(BatchedTrainer, SamWithUnequalClientsEqualsSequential) {
  auto s = setup("cnn", 3);
  LocalOptions o;
  o.batch_size = 8, o.rho = 0.05;
  StepPlan plan;
  plan.sam = true, plan.lr = 0.1;
  auto [dx, dl] = compare(s, o, plan, {19, 8, 13}, {5, 2, 3});
  EXPECT_LT(dx, kTol);
  EXPECT_LT(dl, 1e-5);
}

// DP-FedSAM: ASAM with momentum and weight decay; the MLP; chunks of 2 clients.
TEST(BatchedTrainer, AsamMlpInChunksEqualsSequential) {
  auto s = setup("mlp", 5);
  LocalOptions o;
  o.batch_size = 6, o.rho = 0.5, o.adaptive = true, o.momentum = 0.5, o.weight_decay = 5e-4;
  StepPlan plan;
  plan.sam = true, plan.lr = 0.1;
  auto [dx, dl] = compare(s, o, plan, {12, 12, 7, 12, 9}, {3, 3, 3, 1, 2}, /*max_clients=*/2);
  EXPECT_LT(dx, kTol);
  EXPECT_LT(dl, 1e-5);
}

// Personalized FL (DFedPGP/DFedSalt): body-only SAM perturbing the body, head frozen; then head-only steps.
TEST(BatchedTrainer, HeadBodyColumnSplitsEqualSequentialAndFreezeTheRest) {
  auto s = setup("cnn", 3, {"output_layer"});
  LocalOptions o;
  o.batch_size = 8, o.momentum = 0.9, o.weight_decay = 5e-4, o.grad_clip = 10.0, o.rho = 0.05;
  StepPlan body;
  body.sam = true, body.lr = 0.05, body.update = s.layout.shared_ranges(), body.perturb = s.layout.shared_ranges();
  auto [dx, dl] = compare(s, o, body, {16, 10, 16}, {3, 2, 1});
  EXPECT_LT(dx, kTol);
  StepPlan head;
  head.lr = 0.01, head.update = s.layout.personal_ranges();
  auto [dxh, dlh] = compare(s, o, head, {16, 10, 16}, {3, 2, 1});
  EXPECT_LT(dxh, kTol);
  // The frozen columns stay bit-for-bit.
  auto data = images(42);
  auto sets = client_sets({16, 10, 16});
  auto X = s.X.clone(), M = torch::zeros_like(X);
  BatchedTrainer bat(s.mo, s.layout, torch::kCPU);
  std::vector<Rng> rngs;
  std::vector<ClientJob> jobs;
  for (int64_t i = 0; i < 3; ++i) rngs.emplace_back(1, "batch", i, 0);
  for (int64_t i = 0; i < 3; ++i) jobs.push_back({i, &sets[i], 2, &rngs[i]});
  bat.train(X, M, data, jobs, o, head);
  auto [b0, e0] = s.layout.shared_ranges().front();
  EXPECT_TRUE(torch::equal(X.narrow(1, b0, e0 - b0), s.X.narrow(1, b0, e0 - b0)));
}

// A client with 0 steps (not participating in this plan) keeps its row and momentum exactly.
TEST(BatchedTrainer, ZeroStepClientUntouched) {
  auto s = setup("mlp", 3);
  auto data = images(30);
  auto sets = client_sets({10, 10, 10});
  LocalOptions o;
  o.batch_size = 4, o.momentum = 0.5;
  StepPlan plan;
  plan.lr = 0.1;
  auto X = s.X.clone(), M = torch::ones_like(X);
  BatchedTrainer bat(s.mo, s.layout, torch::kCPU);
  std::vector<Rng> rngs;
  for (int64_t i = 0; i < 3; ++i) rngs.emplace_back(1, "batch", i, 0);
  std::vector<ClientJob> jobs = {{0, &sets[0], 3, &rngs[0]}, {1, &sets[1], 0, &rngs[1]}, {2, &sets[2], 1, &rngs[2]}};
  auto losses = bat.train(X, M, data, jobs, o, plan);
  EXPECT_TRUE(torch::equal(X[1], s.X[1]));
  EXPECT_TRUE(torch::equal(M[1], torch::ones_like(M[1])));
  EXPECT_EQ(losses[1], 0.0);
  EXPECT_GT(losses[0], 0.0);
}

// Batched evaluation: the same correct counts and (to fp) losses as LocalTrainer::evaluate per row.
TEST(BatchedTrainer, EvaluateEqualsSequentialCounts) {
  for (const char* name : {"cnn", "mlp"}) {
    auto s = setup(name, 4);
    auto data = images(50);
    auto sets = client_sets({7, 13, 0, 30});
    LocalTrainer seq(s.model, s.layout, torch::kCPU);
    BatchedTrainer bat(s.mo, s.layout, torch::kCPU, /*max_clients=*/3);
    std::vector<const std::vector<int64_t>*> idx;
    for (auto& v : sets) idx.push_back(&v);
    auto got = bat.evaluate(s.X, data, idx);
    for (int64_t i = 0; i < 4; ++i) {
      auto want = seq.evaluate(s.X[i], data, sets[i]);
      EXPECT_EQ(got[i].count, want.count);
      EXPECT_EQ(got[i].correct, want.correct) << name << " client " << i;
      EXPECT_NEAR(got[i].loss_sum, want.loss_sum, 1e-4 * (1 + want.loss_sum));
    }
  }
}

// Training that diverges is reported as Infeasible, as by the sequential engine.
TEST(BatchedTrainer, DivergenceIsInfeasible) {
  auto s = setup("mlp", 2);
  auto data = images(16);
  for (int64_t k = 0; k < 16; ++k) data.x[k].fill_(1e30);
  auto sets = client_sets({8, 8});
  LocalOptions o;
  o.batch_size = 4;
  StepPlan plan;
  plan.lr = 1e10;
  BatchedTrainer bat(s.mo, s.layout, torch::kCPU);
  std::vector<Rng> rngs;
  for (int64_t i = 0; i < 2; ++i) rngs.emplace_back(1, "batch", i, 0);
  std::vector<ClientJob> jobs = {{0, &sets[0], 3, &rngs[0]}, {1, &sets[1], 3, &rngs[1]}};
  auto X = s.X.clone(), M = torch::zeros_like(X);
  try {
    bat.train(X, M, data, jobs, o, plan);
    FAIL() << "expected Error(Infeasible)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Infeasible);
  }
}

// run.client_batching: "on" forces the batched engine (and refuses models without a batched forward),
// "auto" picks it on CUDA only, "off" never.
TEST(ClientBatching, ModesResolvePerDevice) {
  nn::ModelOptions cnn, vgg;
  vgg.name = "vgg11";
  const torch::Device cpu(torch::kCPU), cuda(torch::kCUDA, 0);
  EXPECT_TRUE(batching_enabled("on", cnn, cpu));
  EXPECT_FALSE(batching_enabled("auto", cnn, cpu));
  EXPECT_TRUE(batching_enabled("auto", cnn, cuda));
  EXPECT_FALSE(batching_enabled("auto", vgg, cuda));
  EXPECT_FALSE(batching_enabled("off", cnn, cuda));
  EXPECT_THROW(batching_enabled("on", vgg, cpu), Error);
}
