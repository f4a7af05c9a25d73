// Local training rules against hand computations on a 2-parameter model.
#include <gtest/gtest.h>

#include <cmath>

#include "plexus/fl/local_trainer.h"

using namespace plexus;
using namespace plexus::fl;

namespace {

// logits = [a·x, b·x] for a scalar input x: the smallest model whose SAM step can be worked by hand.
class TwoParam : public nn::Model {
 public:
  TwoParam(double a, double b) {
    a_ = register_parameter("a", torch::tensor({static_cast<float>(a)}));
    b_ = register_parameter("b", torch::tensor({static_cast<float>(b)}));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto v = x.reshape({-1, 1});
    return torch::cat({v * a_, v * b_}, 1);
  }
  std::string head_prefix() const override { return "b"; }
  torch::Tensor a_, b_;
};

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// One example x = 1 with label 0: loss = log(1 + e^{b−a}), ∇ = (−p, p) with p = σ(b − a).
data::Dataset one_example() {
  data::Dataset d;
  d.x = torch::ones({1, 1, 1, 1});
  d.y = torch::zeros({1}, torch::kInt64);
  d.num_classes = 2;
  return d;
}

torch::Tensor train_once(double a, double b, LocalOptions o, bool sam) {
  auto model = std::make_shared<TwoParam>(a, b);
  auto layout = nn::ParamLayout::of(*model);
  LocalTrainer trainer(model, layout, torch::kCPU);
  auto x = layout.flatten(*model).clone();
  auto m = torch::zeros_like(x);
  StepPlan plan;
  plan.sam = sam;
  plan.steps = 1;
  plan.lr = o.lr;
  Rng rng(0, "test");
  trainer.train(x, m, one_example(), {0}, o, plan, rng);
  return x;
}

}  // namespace

TEST(LocalTrainer, SgdStepEqualsHandComputation) {
  LocalOptions o;
  o.lr = 0.5;
  auto x = train_once(1.0, 0.5, o, false);
  double p = sigmoid(0.5 - 1.0);
  EXPECT_NEAR(x[0].item<double>(), 1.0 + 0.5 * p, 1e-6);
  EXPECT_NEAR(x[1].item<double>(), 0.5 - 0.5 * p, 1e-6);
}

TEST(LocalTrainer, SamStepEqualsHandComputation) {
  // e = ρ g/||g|| = ρ(−1, 1)/√2, so b − a grows by √2ρ at the perturbed point; descend with g̃ = (−p̃, p̃).
  LocalOptions o;
  o.lr = 0.5;
  o.rho = 0.3;
  auto x = train_once(1.0, 0.5, o, true);
  double pt = sigmoid(0.5 - 1.0 + std::sqrt(2.0) * 0.3);
  EXPECT_NEAR(x[0].item<double>(), 1.0 + 0.5 * pt, 1e-6);
  EXPECT_NEAR(x[1].item<double>(), 0.5 - 0.5 * pt, 1e-6);
}

TEST(LocalTrainer, AsamStepEqualsHandComputation) {
  // ASAM: T = |w| = (1, 0.5); Tg = p(−1, 0.5); e = ρ T²g/||Tg|| = ρ(−1, 0.25)/√1.25.
  LocalOptions o;
  o.lr = 0.5;
  o.rho = 0.3;
  o.adaptive = true;
  auto x = train_once(1.0, 0.5, o, true);
  double ea = -0.3 / std::sqrt(1.25), eb = 0.3 * 0.25 / std::sqrt(1.25);
  double pt = sigmoid((0.5 + eb) - (1.0 + ea));
  EXPECT_NEAR(x[0].item<double>(), 1.0 + 0.5 * pt, 1e-6);
  EXPECT_NEAR(x[1].item<double>(), 0.5 - 0.5 * pt, 1e-6);
}

TEST(LocalTrainer, WeightDecayAndMomentumFollowPyTorchSgd) {
  // Two steps with β = 0.9, λ = 0.1: m1 = g1, x1 = x0 − η m1; m2 = β m1 + g2, x2 = x1 − η m2.
  LocalOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.1;
  auto model = std::make_shared<TwoParam>(1.0, 0.5);
  auto layout = nn::ParamLayout::of(*model);
  LocalTrainer trainer(model, layout, torch::kCPU);
  auto x = layout.flatten(*model).clone();
  auto m = torch::zeros_like(x);
  StepPlan plan{.sam = false, .update = {}, .perturb = {}, .steps = 2, .lr = o.lr};
  Rng rng(0, "test");
  trainer.train(x, m, one_example(), {0}, o, plan, rng);

  double a = 1.0, b = 0.5, ma = 0, mb = 0;
  for (int k = 0; k < 2; ++k) {
    double p = sigmoid(b - a);
    double ga = -p + 0.1 * a, gb = p + 0.1 * b;
    ma = 0.9 * ma + ga, mb = 0.9 * mb + gb;
    a -= 0.1 * ma, b -= 0.1 * mb;
  }
  EXPECT_NEAR(x[0].item<double>(), a, 1e-6);
  EXPECT_NEAR(x[1].item<double>(), b, 1e-6);
}

TEST(LocalTrainer, FrozenColumnsDoNotMoveAndSamPerturbsOnlyGivenColumns) {
  // Update and perturb only column 0 (a): b stays bit-identical; the SAM norm uses |g_a| alone, so
  // e = (−ρ, 0) and the descent gradient is taken at (a − ρ, b).
  LocalOptions o;
  o.lr = 0.5;
  o.rho = 0.3;
  auto model = std::make_shared<TwoParam>(1.0, 0.5);
  auto layout = nn::ParamLayout::of(*model);
  LocalTrainer trainer(model, layout, torch::kCPU);
  auto x = layout.flatten(*model).clone();
  StepPlan plan{.sam = true, .update = {{0, 1}}, .perturb = {{0, 1}}, .steps = 1, .lr = 0.5};
  Rng rng(0, "test");
  trainer.train(x, torch::zeros_like(x), one_example(), {0}, o, plan, rng);
  double pt = sigmoid(0.5 - (1.0 - 0.3));
  EXPECT_NEAR(x[0].item<double>(), 1.0 + 0.5 * pt, 1e-6);
  EXPECT_EQ(x[1].item<float>(), 0.5f);
}

TEST(LocalTrainer, GradClipBoundsTheStep) {
  LocalOptions o;
  o.lr = 1.0;
  o.grad_clip = 0.01;
  auto x = train_once(1.0, 0.5, o, false);
  double step = std::hypot(x[0].item<double>() - 1.0, x[1].item<double>() - 0.5);
  EXPECT_NEAR(step, 0.01, 1e-6);
}

TEST(ParamLayout, BindMakesParametersViewsOfTheRow) {
  auto model = std::make_shared<TwoParam>(1.0, 0.5);
  auto layout = nn::ParamLayout::of(*model, {"b"});
  auto X = torch::tensor({{3.0f, 4.0f}, {5.0f, 6.0f}});
  auto G = torch::zeros({2});
  layout.bind(*model, X[1], G);
  EXPECT_EQ(model->a_.item<float>(), 5.0f);
  X[1][0] = 7.0f;  // writing the row is seen by the module: no copy in between
  EXPECT_EQ(model->a_.item<float>(), 7.0f);
  auto loss = model->forward(torch::ones({1, 1, 1, 1})).sum();
  loss.backward();
  EXPECT_EQ(G[0].item<float>(), 1.0f);  // d(a+b)/da accumulates into the bound gradient row
  EXPECT_EQ(layout.shared_ranges(), (std::vector<nn::ColumnRange>{{0, 1}}));
  EXPECT_EQ(layout.personal_ranges(), (std::vector<nn::ColumnRange>{{1, 2}}));
  EXPECT_THROW(nn::ParamLayout::of(*model, {"head"}), Error);
}
