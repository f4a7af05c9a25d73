#include "plexus/fl/local_trainer.h"

#include <cmath>

#include "plexus/core/error.h"

namespace plexus::fl {

const OptionSchema<LocalOptions>& LocalOptions::schema() {
  using L = LocalOptions;
  static const auto s =
      OptionSchema<L>("train")
          .key("batch_size", &L::batch_size, "minibatch size B", "[1, 65536]")
          .key("local_epochs", &L::local_epochs, "epochs per round when `local_steps = 0`", "[1, 10000]")
          .key("local_steps", &L::local_steps, "K > 0: exactly K minibatch steps per round (0 = use local_epochs)",
               "[0, 10000000]")
          .key("lr", &L::lr, "η at round 0", "(0, 100]")
          .key("lr_decay", &L::lr_decay, "η_t = η·lr_decay^t", "(0, 1]")
          .key("momentum", &L::momentum, "heavy-ball β (reset each round; dfedavgm requires > 0)", "[0, 1)")
          .key("weight_decay", &L::weight_decay, "L2 weight decay λ", "[0, 1000]")
          .key("grad_clip", &L::grad_clip, "gradient-norm clipping threshold (0 = off)", "[0, 1e6]")
          .key("rho", &L::rho, "SAM/ASAM radius ρ (SAM-based algorithms)", "[0, 100]")
          .key("adaptive", &L::adaptive, "ASAM (element-wise |w| scaling) instead of SAM")
          .key("prox_mu", &L::prox_mu, "FedProx: local objective F_i(y) + (μ/2)‖y − x^t‖² (fedprox only)", "[0, 1e6]");
  return s;
}

LocalOptions LocalOptions::parse(ConfigTable& t) { return schema().parse(t); }

double LocalOptions::lr_at(int64_t round) const { return lr * std::pow(lr_decay, static_cast<double>(round)); }

int64_t local_step_count(const LocalOptions& o, int64_t n) {
  if (o.local_steps > 0) return o.local_steps;
  return o.local_epochs * ((n + o.batch_size - 1) / o.batch_size);
}

double range_norm_sq(const torch::Tensor& v, const std::vector<ColumnRange>& ranges) {
  if (ranges.empty()) return v.pow(2).sum().item<double>();
  double s = 0;
  for (auto [b, e] : ranges) s += v.narrow(0, b, e - b).pow(2).sum().item<double>();
  return s;
}

namespace {

// Parameters with no column in `update` ∪ `perturb` do not require grad while a plan trains, so backward stops
// where they begin: personalized FL's head phase (body frozen) backpropagates through the head only, as the
// papers' code does with requires_grad_(False). Exact: a parameter's gradient never depends on whether another
// parameter's is computed, and the frozen columns' gradients are read by nothing (the update, SAM's norm and
// the clip cover update ∪ perturb; their entries of G stay at the step's zero). Restored on scope exit.
class FrozenParams {
 public:
  FrozenParams(torch::nn::Module& model, const nn::ParamLayout& layout, const std::vector<ColumnRange>& update,
               const std::vector<ColumnRange>& perturb) {
    auto params = model.parameters();
    const auto& entries = layout.entries();
    auto touches = [](const std::vector<ColumnRange>& ranges, int64_t b, int64_t e) {
      for (auto [rb, re] : ranges)
        if (rb < e && b < re) return true;
      return false;
    };
    for (std::size_t k = 0; k < params.size(); ++k) {
      const int64_t b = entries[k].offset, e = b + entries[k].numel;
      if (params[k].requires_grad() && !touches(update, b, e) && !touches(perturb, b, e)) {
        params[k].requires_grad_(false);
        frozen_.push_back(params[k]);
      }
    }
  }
  ~FrozenParams() {
    for (auto& p : frozen_) p.requires_grad_(true);
  }
  FrozenParams(const FrozenParams&) = delete;
  FrozenParams& operator=(const FrozenParams&) = delete;

 private:
  std::vector<torch::Tensor> frozen_;
};

}  // namespace

LocalTrainer::LocalTrainer(std::shared_ptr<nn::Model> model, const nn::ParamLayout& layout, torch::Device device)
    : model_(std::move(model)), layout_(layout), device_(device) {
  model_->to(device_);
  grad_ = torch::zeros({layout_.size()}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
}

double LocalTrainer::forward_backward(const torch::Tensor& inputs, const torch::Tensor& labels) {
  grad_.zero_();
  auto loss = torch::nn::functional::cross_entropy(model_->forward(inputs), labels);
  loss.backward();
  return loss.item<double>();
}

double LocalTrainer::loss_and_grad(const torch::Tensor& x, const torch::Tensor& inputs, const torch::Tensor& labels) {
  layout_.bind(*model_, x, grad_);
  return forward_backward(inputs, labels);
}

double LocalTrainer::train(torch::Tensor x, torch::Tensor m, const data::Dataset& data,
                           const std::vector<int64_t>& idx, const LocalOptions& o, const StepPlan& plan, Rng& rng) {
  if (idx.empty() || plan.steps == 0) return 0.0;
  layout_.bind(*model_, x, grad_);
  const auto& update = plan.update.empty() ? layout_.all_ranges() : plan.update;
  const auto& perturb = plan.perturb.empty() ? update : plan.perturb;
  FrozenParams frozen(*model_, layout_, update, perturb);  // no backward into what this plan never reads
  const int64_t n = static_cast<int64_t>(idx.size());
  std::vector<int64_t> order = idx;
  int64_t cursor = n;  // forces a shuffle before the first batch
  double loss_sum = 0;
  torch::Tensor e;  // SAM perturbation, same shape as x
  for (int64_t step = 0; step < plan.steps; ++step) {
    if (cursor >= n) rng.shuffle(order), cursor = 0;
    int64_t b = std::min(o.batch_size, n - cursor);
    auto bidx = torch::from_blob(order.data() + cursor, {b}, torch::kInt64).to(device_);
    cursor += b;
    auto inputs = data.x.index_select(0, bidx), labels = data.y.index_select(0, bidx);
    inputs = data::augment_batch(inputs, data.augment, rng);  // [data] crop_padding / horizontal_flip; no-op if off

    double loss = forward_backward(inputs, labels);
    if (!std::isfinite(loss)) {
      throw Error::infeasible("local training diverged (loss = {}); lower train.lr or set train.grad_clip", loss);
    }
    loss_sum += loss;
    torch::NoGradGuard no_grad;
    if (plan.sam && o.rho > 0) {
      // Ascent step e = ρ T²g/||Tg|| (T = |x| for ASAM, 1 for SAM) on the perturbed columns, then the
      // descent gradient is taken at x + e on the same minibatch and x is restored.
      if (!e.defined()) e = torch::zeros_like(x);
      double norm_sq = 0;
      for (auto [b0, e0] : perturb) {
        auto g = grad_.narrow(0, b0, e0 - b0);
        auto tg = o.adaptive ? g * x.narrow(0, b0, e0 - b0).abs() : g;
        norm_sq += tg.pow(2).sum().item<double>();
      }
      double scale = o.rho / (std::sqrt(norm_sq) + 1e-12);
      for (auto [b0, e0] : perturb) {
        auto xs = x.narrow(0, b0, e0 - b0);
        auto es = e.narrow(0, b0, e0 - b0);
        es.copy_(grad_.narrow(0, b0, e0 - b0) * scale);
        if (o.adaptive) es.mul_(xs.pow(2));
        xs.add_(es);
      }
      {
        torch::AutoGradMode enable(true);
        forward_backward(inputs, labels);
      }
      for (auto [b0, e0] : perturb) x.narrow(0, b0, e0 - b0).sub_(e.narrow(0, b0, e0 - b0));
    }
    if (o.grad_clip > 0) {
      double norm = std::sqrt(range_norm_sq(grad_, update));
      if (norm > o.grad_clip) grad_.mul_(o.grad_clip / norm);
    }
    if (plan.correct) plan.correct(grad_, x);
    for (auto [b0, e0] : update) {
      auto xs = x.narrow(0, b0, e0 - b0);
      auto g = grad_.narrow(0, b0, e0 - b0);
      if (o.weight_decay > 0) g.add_(xs, o.weight_decay);
      if (o.momentum > 0) {
        auto ms = m.narrow(0, b0, e0 - b0);
        ms.mul_(o.momentum).add_(g);
        xs.sub_(ms, plan.lr);
      } else {
        xs.sub_(g, plan.lr);
      }
    }
  }
  return loss_sum / static_cast<double>(plan.steps);
}

EvalStats LocalTrainer::evaluate(const torch::Tensor& x, const data::Dataset& data, const std::vector<int64_t>& idx,
                                 int64_t batch) {
  EvalStats s;
  if (idx.empty()) return s;
  torch::NoGradGuard no_grad;
  layout_.bind(*model_, x, grad_);
  const int64_t n = static_cast<int64_t>(idx.size());
  auto all = torch::from_blob(const_cast<int64_t*>(idx.data()), {n}, torch::kInt64).to(device_);
  for (int64_t start = 0; start < n; start += batch) {
    auto bidx = all.narrow(0, start, std::min(batch, n - start));
    auto logits = model_->forward(data.x.index_select(0, bidx));
    auto labels = data.y.index_select(0, bidx);
    s.loss_sum += torch::nn::functional::cross_entropy(
                      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
    s.correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    s.count += bidx.size(0);
  }
  return s;
}

std::pair<torch::Tensor, torch::Tensor> LocalTrainer::evaluate_examples(const torch::Tensor& x, const data::Dataset& data,
                                                                        int64_t start, int64_t count) {
  torch::NoGradGuard no_grad;
  layout_.bind(*model_, x, grad_);
  auto logits = model_->forward(data.x.narrow(0, start, count));
  auto labels = data.y.narrow(0, start, count);
  auto loss = torch::nn::functional::cross_entropy(
      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return {logits.argmax(1).eq(labels).to(torch::kInt64).cpu(), loss.to(torch::kFloat64).cpu()};
}

}  // namespace plexus::fl
