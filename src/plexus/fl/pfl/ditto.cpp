// Ditto — Li, Hu, Beirami, Smith, ICML 2021, "Ditto: Fair and Robust Federated Learning Through
// Personalization", arXiv 2012.04641, Alg. 1. Every client keeps a personal model v_i besides the global w:
//   sampled clients S, round t, with w^t the global model received at the start of the round:
//     personal: v_i ← v_i − η (∇F_i(v_i; ξ) + λ (v_i − w^t))        (K steps, personalization.ditto_lambda)
//     global:   w_i ← K SGD steps from w^t;   w^{t+1} = Σ_{i∈S} (n_i/n_S) w_i   (all columns)
// The personalized accuracy is measured on v_i; v_i never leaves the client.
// Parts: DittoRule (the personal solve, then the StepRule on the global row) + ServerColumns (every column) +
// PersonalizedEvaluator of the personal models V.
#include <cmath>

#include "plexus/core/rng.h"
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

/// Ditto's local rule. The personal models V [N,P] (initialized to x^0, checkpointed as "V") are trained by K
/// steps of
///   g = ∇F(v; ξ) (clipped to train.grad_clip) + λ (v − w) + wd·v;  m ← βm + g;  v ← v − η m
/// with the global row w fixed, minibatches of train.batch_size from stream ("ditto", client, round), η = train
/// lr of the round; then the global row trains by the StepRule.
class DittoRule : public StepRule {
 public:
  explicit DittoRule(Session& s) : StepRule(s, {}), V_(s.fed.X.clone()) {}

  double train(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor x, torch::Tensor m) override {
    // Personal v_i first, with the proximal anchor w^t = the global model the client holds now.
    personal_step(trainer, client, round, V_[client], x.clone(), steps(client));
    return StepRule::train(trainer, client, round, x, m);
  }
  // The personal step has no StepPlan form: Ditto rounds train client by client.
  std::optional<std::vector<StepPlan>> plans(int64_t, int64_t, const torch::Tensor&) const override {
    return std::nullopt;
  }
  // Across ranks: rank 0 evaluates and checkpoints every personal model.
  ClientState client_state() const override { return {.to_lead = {V_}}; }
  void save(Checkpoint& ck) const override { ck.tensors["V"] = V_; }
  void load(const Checkpoint& ck, const std::string& path) override {
    auto v = ck.tensors.find("V");
    if (v == ck.tensors.end() || v->second.sizes() != V_.sizes()) {
      throw Error::data("checkpoint '{}' lacks Ditto's personal models V", path);
    }
    V_.copy_(v->second);
  }
  const torch::Tensor& personal() const { return V_; }

 private:
  void personal_step(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor v, const torch::Tensor& w,
                     int64_t steps) const {
    const auto& idx = s_.data.client_train[client];
    const auto& o = s_.cfg.train;
    if (idx.empty() || steps <= 0) return;
    Rng rng(s_.seed, "ditto", static_cast<uint64_t>(client), static_cast<uint64_t>(round));
    const double lr = o.lr_at(round);
    const int64_t n = static_cast<int64_t>(idx.size());
    std::vector<int64_t> order = idx;
    int64_t cursor = n;
    auto m = torch::zeros_like(v);
    for (int64_t step = 0; step < steps; ++step) {
      if (cursor >= n) rng.shuffle(order), cursor = 0;
      int64_t b = std::min(o.batch_size, n - cursor);
      auto bidx = torch::from_blob(order.data() + cursor, {b}, torch::kInt64).to(v.device());
      cursor += b;
      auto inputs = data::augment_batch(s_.data.train.x.index_select(0, bidx), s_.data.train.augment, rng);
      double loss = trainer.loss_and_grad(v, inputs, s_.data.train.y.index_select(0, bidx));
      if (!std::isfinite(loss)) {
        throw Error::infeasible("Ditto personal training diverged (loss = {}); lower train.lr", loss);
      }
      torch::NoGradGuard no_grad;
      auto g = trainer.grad().clone();
      if (o.grad_clip > 0) {
        double norm = g.norm().item<double>();
        if (norm > o.grad_clip) g.mul_(o.grad_clip / norm);
      }
      g.add_(v - w, s_.cfg.personalization.ditto_lambda);
      if (o.weight_decay > 0) g.add_(v, o.weight_decay);
      if (o.momentum > 0) {
        m.mul_(o.momentum).add_(g);
        v.sub_(m, lr);
      } else {
        v.sub_(g, lr);
      }
    }
  }

  torch::Tensor V_;  // [N,P] personal models
};

const AlgorithmRegistrar kDitto({
    .name = "ditto", .title = "Ditto", .source = "Li et al. ICML 2021, arXiv 2012.04641",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/false);
      auto rule = std::make_unique<DittoRule>(s);
      const DittoRule* r = rule.get();
      auto eval = std::make_unique<PersonalizedEvaluator>(s, [r] { return r->personal(); }, cols.communicated);
      return Parts{std::move(rule), std::make_unique<ServerColumns>(s, cols.communicated), std::move(eval)};
    }});

}  // namespace

}  // namespace plexus::fl
