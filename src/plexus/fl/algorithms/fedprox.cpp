// FedProx — Li, Sahu, Zaheer, Sanjabi, Talwalkar, Smith, MLSys 2020, "Federated Optimization in Heterogeneous
// Networks", arXiv 1812.06127, Algorithm 2. Each sampled client approximately minimizes a proximal objective
// around the global model x^t it received:
//   h_i(y; x^t) = F_i(y) + (μ/2) ||y − x^t||²                                             (paper eq. 2)
//   K local steps on minibatch ξ:  y ← y − η_t (∇F_i(y; ξ) + μ (y − x^t))      (momentum/weight decay as FedAvg)
//   x^{t+1} = Σ_{i∈S_t} (n_i / n_S) y_i                                          (aggregation exactly as FedAvg)
// Notation: μ = train.prox_mu (default 0.01; μ = 0 is FedAvg bit for bit), K = train.local_steps or epochs,
// S_t the m = max(1, round(C·N)) sampled clients. Departures: every device runs the same K steps (the paper's
// γ-inexact solutions for stragglers are not modelled; personalization.steps_min_fraction is not available
// outside personalized FL); the proximal gradient is added after train.grad_clip clips ∇F_i.
// Parts: ProximalRule (the StepRule plus the proximal gradient) + ServerAverage + GlobalEvaluator. Differs from
// fedavg.cpp in the local rule only (Flower's FedProx likewise overrides one hook).
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

/// SGD on F_i plus the proximal term: the gradient correction μ (y − x^t) with x^t the row at round start.
class ProximalRule : public StepRule {
 public:
  explicit ProximalRule(Session& s) : StepRule(s, {}) {}

  StepPlan plan(int64_t client, int64_t round, const torch::Tensor& x) const override {
    StepPlan p = StepRule::plan(client, round, x);
    const double mu = s_.cfg.train.prox_mu;
    if (mu > 0) {
      p.correct = [anchor = x.detach().clone(), mu](torch::Tensor& g, const torch::Tensor& y) {
        g.add_(y - anchor, mu);
      };
    }
    return p;
  }
};

const AlgorithmRegistrar kFedprox({
    .name = "fedprox", .title = "FedProx", .source = "Li et al. MLSys 2020, arXiv 1812.06127",
    .family = Family::Server,
    .build = [](Session& s) {
      return global_parts(s, std::make_unique<ProximalRule>(s), std::make_unique<ServerAverage>(s));
    }});

}  // namespace

}  // namespace plexus::fl
