#include "plexus/fl/step_rule.h"

#include <cmath>

#include "plexus/core/rng.h"

namespace plexus::fl {

double step_scale(const PersonalizationOptions& p, uint64_t seed, int64_t client) {
  if (p.steps_min_fraction >= 1.0) return 1.0;
  Rng rng(seed, "compute_heterogeneity", static_cast<uint64_t>(client), 0);
  return p.steps_min_fraction + (1.0 - p.steps_min_fraction) * rng.uniform();
}

int64_t scaled_steps(int64_t steps, double scale) {
  if (steps <= 0) return 0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(scale * static_cast<double>(steps) - 1e-9)));
}

int64_t StepRule::steps(int64_t client) const {
  if (o_.single_step) return 1;
  const double scale = step_scale(s_.cfg.personalization, s_.seed, client);
  return scaled_steps(local_step_count(s_.cfg.train, s_.sizes[client]), scale);
}

StepPlan StepRule::plan(int64_t client, int64_t round, const torch::Tensor& x) const {
  StepPlan p;
  p.sam = o_.sam;
  p.update = o_.update;
  p.steps = steps(client);
  p.lr = s_.cfg.train.lr_at(round);
  return p;
}

double train_plans(const Session& s, LocalTrainer& trainer, int64_t client, int64_t round,
                   const std::vector<StepPlan>& plans, torch::Tensor x, torch::Tensor m) {
  Rng rng(s.seed, "batch", static_cast<uint64_t>(client), static_cast<uint64_t>(round));
  double loss = 0;
  for (const auto& p : plans) {
    if (p.steps == 0) continue;
    m.zero_();
    loss = trainer.train(x, m, s.data.train, s.data.client_train[client], s.cfg.train, p, rng);
  }
  return loss;
}

double StepRule::train(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor x, torch::Tensor m) {
  return train_plans(s_, trainer, client, round, {plan(client, round, x)}, x, m);
}

std::optional<std::vector<StepPlan>> StepRule::plans(int64_t client, int64_t round, const torch::Tensor& x) const {
  StepPlan p = plan(client, round, x);
  if (p.correct) return std::nullopt;
  return std::vector<StepPlan>{std::move(p)};
}

}  // namespace plexus::fl
