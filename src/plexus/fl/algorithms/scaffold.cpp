// SCAFFOLD — Karimireddy, Kale, Mohri, Reddi, Stich, Suresh, ICML 2020, "SCAFFOLD: Stochastic Controlled
// Averaging for Federated Learning", arXiv 1910.06378, Algorithm 1 with option II control variates.
// State: server control variate c [P], client control variates c_i [N,P] (all 0 at the start; checkpointed).
// Round t, sampled clients S (|S| = m of N), global model x:
//   client i ∈ S:  y ← x;  K steps  y ← y − η (g_i(y; ξ) − c_i + c)                     (corrected SGD)
//                  c_i⁺ = c_i − c + (x − y)/(K η)                                          (option II)
//                  Δy_i = y − x,  Δc_i = c_i⁺ − c_i,  c_i ← c_i⁺
//   server:        x ← x + η_g · (1/m) Σ_{i∈S} Δy_i                                        (η_g = fl.server_lr)
//                  c ← c + (m/N) · (1/m) Σ_{i∈S} Δc_i
// Notation: η = η_t = train.lr · lr_decay^t, K = train.local_steps or epochs · ⌈n_i/B⌉ (per client), η_g = 1
// by default (then x^{t+1} is the plain mean of the y_i). The correction c − c_i is added to the minibatch
// gradient after train.grad_clip and before weight decay and momentum (the paper uses plain SGD). Invariant
// with full participation: c = mean_i c_i after every round.
// Parts: ScaffoldRule (StepRule with the correction; owns c, c_i) + ScaffoldServer (the server step above, on
// ServerAverage's client sampling) + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

class ScaffoldRule : public StepRule {
 public:
  explicit ScaffoldRule(Session& s)
      : StepRule(s, {}), ci_(torch::zeros_like(s.fed.X)), dc_(torch::zeros_like(s.fed.X)),
        c_(torch::zeros({s.fed.X.size(1)}, s.fed.X.options())) {}

  StepPlan plan(int64_t client, int64_t round, const torch::Tensor& x) const override {
    StepPlan p = StepRule::plan(client, round, x);
    p.correct = [corr = (c_ - ci_[client]).contiguous()](torch::Tensor& g, const torch::Tensor&) { g.add_(corr); };
    return p;
  }

  double train(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor x, torch::Tensor m) override {
    auto x0 = x.detach().clone();
    const double loss = StepRule::train(trainer, client, round, x, m);
    torch::NoGradGuard no_grad;
    const int64_t K = s_.data.client_train[client].empty() ? 0 : steps(client);
    auto dc = dc_[client];
    if (K == 0) {
      dc.zero_();
      return loss;
    }
    // Option II: c_i⁺ = c_i − c + (x − y)/(Kη);  Δc_i = c_i⁺ − c_i = (x − y)/(Kη) − c.
    const double eta = s_.cfg.train.lr_at(round);
    dc.copy_((x0 - x) / (static_cast<double>(K) * eta) - c_);
    ci_[client].add_(dc);
    return loss;
  }

  /// The server's control-variate step c ← c + (1/N) Σ_{i∈S} Δc_i.
  void update_server(const std::vector<int64_t>& who) {
    if (who.empty()) return;
    auto idx = torch::tensor(who, torch::kInt64).to(dc_.device());
    c_.add_(dc_.index_select(0, idx).sum(0) / static_cast<double>(ci_.size(0)));
  }

  // Across ranks: the server step reads every participant's Δc_i; rank 0 checkpoints every c_i.
  ClientState client_state() const override { return {.to_all = {dc_}, .to_lead = {ci_}}; }

  void save(Checkpoint& ck) const override {
    ck.tensors["scaffold_c"] = c_;
    ck.tensors["scaffold_ci"] = ci_;
  }
  void load(const Checkpoint& ck, const std::string& path) override {
    for (auto [name, t] : {std::pair{"scaffold_c", c_}, std::pair{"scaffold_ci", ci_}}) {
      auto it = ck.tensors.find(name);
      if (it == ck.tensors.end() || it->second.sizes() != t.sizes()) {
        throw Error::data("checkpoint '{}' lacks SCAFFOLD's control variates '{}'", path, name);
      }
      t.copy_(it->second);
    }
  }

 private:
  torch::Tensor ci_;  // [N,P] client control variates c_i
  torch::Tensor dc_;  // [N,P] this round's Δc_i (rows of the participants)
  torch::Tensor c_;   // [P] server control variate c
};

/// x ← x + η_g · mean_{i∈S}(y_i − x), then the rule's control-variate step; sampling as ServerAverage.
class ScaffoldServer : public ServerAverage {
 public:
  ScaffoldServer(Session& s, ScaffoldRule* rule) : ServerAverage(s), rule_(rule) {}
  void before_training(const std::vector<int64_t>& who, int64_t round) override { x_ = s_.fed.X[0].clone(); }
  void communicate(const std::vector<int64_t>& who, int64_t round) override {
    torch::NoGradGuard no_grad;
    participants_ = static_cast<int64_t>(who.size());
    if (who.empty()) return;
    auto& X = s_.fed.X;
    auto idx = torch::tensor(who, torch::kInt64).to(X.device());
    auto x = x_ + (X.index_select(0, idx) - x_.unsqueeze(0)).mean(0) * s_.cfg.fl.server_lr;
    X.copy_(x.unsqueeze(0).expand_as(X));
    rule_->update_server(who);
  }
  std::string describe() const override {
    return "SCAFFOLD server step (η_g = fl.server_lr) on " + ServerAverage::describe();
  }

 private:
  ScaffoldRule* rule_;
  torch::Tensor x_;  // [P] the global model before this round's training
};

const AlgorithmRegistrar kScaffold({
    .name = "scaffold", .title = "SCAFFOLD", .source = "Karimireddy et al. ICML 2020, arXiv 1910.06378",
    .family = Family::Server,
    .build = [](Session& s) {
      auto rule = std::make_unique<ScaffoldRule>(s);
      auto comm = std::make_unique<ScaffoldServer>(s, rule.get());
      return global_parts(s, std::move(rule), std::move(comm));
    }});

}  // namespace

}  // namespace plexus::fl
