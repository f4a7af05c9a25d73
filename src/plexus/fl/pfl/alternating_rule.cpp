#include "plexus/fl/pfl/alternating_rule.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/fl/step_rule.h"

namespace plexus::fl {

PflColumns pfl_columns(const nn::ParamLayout& layout, bool personal_head) {
  PflColumns c;
  c.body = layout.shared_ranges();
  c.head = layout.personal_ranges();
  if (c.head.empty() || c.body.empty()) {
    throw Error::config("[personalization] head: the head must be a proper part of the model (head {} columns, "
                        "body {} columns); name the final layer's prefix, e.g. head = [\"output_layer\"]",
                        layout.size() - layout.shared_size(), layout.shared_size());
  }
  c.communicated = personal_head ? c.body : layout.all_ranges();
  return c;
}

std::vector<StepPlan> alternating_plans(const PersonalizationOptions& p, const LocalOptions& o, const PflColumns& cols,
                                        int64_t n, int64_t round, double scale, bool body_sam) {
  const int64_t epoch = (n + o.batch_size - 1) / o.batch_size;
  const double decay = std::pow(o.lr_decay, static_cast<double>(round));
  StepPlan head;
  head.update = cols.head;
  head.steps = scaled_steps(p.head_epochs * epoch, scale);
  head.lr = p.lr_head * decay;
  StepPlan body;
  body.sam = body_sam;
  body.update = cols.body;
  body.perturb = cols.body;  // SAM's ascent step never touches the head (DFedSalt)
  body.steps = scaled_steps(p.body_epochs * epoch, scale);
  body.lr = p.lr_body * decay;
  std::vector<StepPlan> kept;
  for (auto* plan : {&head, &body}) {
    if (plan->steps > 0) kept.push_back(std::move(*plan));
  }
  return kept;
}

std::optional<std::vector<StepPlan>> AlternatingRule::plans(int64_t client, int64_t round, const torch::Tensor&) const {
  const auto& p = s_.cfg.personalization;
  return alternating_plans(p, s_.cfg.train, cols_, s_.sizes[client], round, step_scale(p, s_.seed, client), body_sam_);
}

double AlternatingRule::train(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor x, torch::Tensor m) {
  return train_plans(s_, trainer, client, round, *plans(client, round, x), x, m);
}

}  // namespace plexus::fl
