#include "plexus/fl/pfl/alternating_trainer.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::fl {

PflColumns pfl_columns(const PflSpec& spec, const nn::ParamLayout& layout) {
  PflColumns c;
  c.body = layout.shared_ranges();
  c.head = layout.personal_ranges();
  if (c.head.empty() || c.body.empty()) {
    throw Error::config("[personalization] head: the head must be a proper part of the model (head {} columns, "
                        "body {} columns); name the final layer's prefix, e.g. head = [\"output_layer\"]",
                        layout.size() - layout.shared_size(), layout.shared_size());
  }
  c.communicated = spec.personal_head ? c.body : layout.all_ranges();
  return c;
}

double step_scale(const PersonalizationOptions& p, uint64_t seed, int64_t client) {
  if (p.steps_min_fraction >= 1.0) return 1.0;
  Rng rng(seed, "compute_heterogeneity", static_cast<uint64_t>(client), 0);
  return p.steps_min_fraction + (1.0 - p.steps_min_fraction) * rng.uniform();
}

int64_t scaled_steps(int64_t steps, double scale) {
  if (steps <= 0) return 0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(scale * static_cast<double>(steps) - 1e-9)));
}

namespace {
int64_t epoch_steps(const LocalOptions& o, int64_t n) { return (n + o.batch_size - 1) / o.batch_size; }
double decayed(double lr, const LocalOptions& o, int64_t round) {
  return lr * std::pow(o.lr_decay, static_cast<double>(round));
}
}  // namespace

std::vector<StepPlan> client_plans(const PflSpec& spec, const PersonalizationOptions& p, const LocalOptions& o,
                                   const PflColumns& cols, int64_t n, const ClientRound& cr) {
  std::vector<StepPlan> plans;
  switch (spec.training) {
    case PflTraining::Alternating: {
      StepPlan head;
      head.update = cols.head;
      head.steps = scaled_steps(p.head_epochs * epoch_steps(o, n), cr.scale);
      head.lr = decayed(p.lr_head, o, cr.round);
      StepPlan body;
      body.sam = spec.body_sam;
      body.update = cols.body;
      body.perturb = cols.body;  // SAM's ascent step never touches the head (DFedSalt)
      body.steps = scaled_steps(p.body_epochs * epoch_steps(o, n), cr.scale);
      body.lr = decayed(p.lr_body, o, cr.round);
      plans = {head, body};
      break;
    }
    case PflTraining::Joint:
    case PflTraining::BodyOnly: {
      StepPlan all;
      all.update = spec.training == PflTraining::Joint ? std::vector<ColumnRange>{} : cols.body;
      all.steps = scaled_steps(local_step_count(o, n), cr.scale);
      all.lr = o.lr_at(cr.round);
      plans = {all};
      break;
    }
  }
  std::vector<StepPlan> kept;
  for (auto& s : plans) {
    if (s.steps > 0) kept.push_back(std::move(s));
  }
  return kept;
}

double train_client(LocalTrainer& trainer, const PflSpec& spec, const PersonalizationOptions& p,
                    const LocalOptions& o, const PflColumns& cols, torch::Tensor x, torch::Tensor m,
                    const data::Dataset& data, const std::vector<int64_t>& idx, const ClientRound& cr) {
  Rng rng(cr.seed, "batch", static_cast<uint64_t>(cr.client), static_cast<uint64_t>(cr.round));
  double loss = 0;
  for (const auto& plan : client_plans(spec, p, o, cols, static_cast<int64_t>(idx.size()), cr)) {
    m.zero_();
    loss = trainer.train(x, m, data, idx, o, plan, rng);
  }
  return loss;
}

double train_ditto_personal(LocalTrainer& trainer, const PersonalizationOptions& p, const LocalOptions& o,
                            torch::Tensor v, const torch::Tensor& w, const data::Dataset& data,
                            const std::vector<int64_t>& idx, int64_t steps, const ClientRound& cr) {
  if (idx.empty() || steps <= 0) return 0.0;
  Rng rng(cr.seed, "ditto", static_cast<uint64_t>(cr.client), static_cast<uint64_t>(cr.round));
  const double lr = o.lr_at(cr.round);
  const int64_t n = static_cast<int64_t>(idx.size());
  std::vector<int64_t> order = idx;
  int64_t cursor = n;
  auto m = torch::zeros_like(v);
  double loss_sum = 0;
  for (int64_t step = 0; step < steps; ++step) {
    if (cursor >= n) rng.shuffle(order), cursor = 0;
    int64_t b = std::min(o.batch_size, n - cursor);
    auto bidx = torch::from_blob(order.data() + cursor, {b}, torch::kInt64).to(v.device());
    cursor += b;
    auto inputs = data::augment_batch(data.x.index_select(0, bidx), data.augment, rng);  // no-op unless [data] asks
    double loss = trainer.loss_and_grad(v, inputs, data.y.index_select(0, bidx));
    if (!std::isfinite(loss)) {
      throw Error::infeasible("Ditto personal training diverged (loss = {}); lower train.lr", loss);
    }
    loss_sum += loss;
    torch::NoGradGuard no_grad;
    auto g = trainer.grad().clone();
    if (o.grad_clip > 0) {
      double norm = g.norm().item<double>();
      if (norm > o.grad_clip) g.mul_(o.grad_clip / norm);
    }
    g.add_(v - w, p.ditto_lambda);
    if (o.weight_decay > 0) g.add_(v, o.weight_decay);
    if (o.momentum > 0) {
      m.mul_(o.momentum).add_(g);
      v.sub_(m, lr);
    } else {
      v.sub_(g, lr);
    }
  }
  return loss_sum / static_cast<double>(steps);
}

EvalStats personalized_eval(LocalTrainer& trainer, const PflSpec& spec, const PersonalizationOptions& p,
                            const LocalOptions& o, const PflColumns& cols, const torch::Tensor& x,
                            const data::Dataset& train, const std::vector<int64_t>& train_idx,
                            const data::Dataset& test, const std::vector<int64_t>& test_idx, const ClientRound& cr,
                            bool finetune) {
  if (!finetune || spec.finetune == PflFinetune::None || train_idx.empty()) {
    return trainer.evaluate(x, test, test_idx);
  }
  torch::NoGradGuard no_grad;
  auto copy = x.clone();
  auto m = torch::zeros_like(copy);
  StepPlan plan;
  plan.update = spec.finetune == PflFinetune::Head ? cols.head : std::vector<ColumnRange>{};
  plan.steps = std::max<int64_t>(1, p.head_epochs * epoch_steps(o, static_cast<int64_t>(train_idx.size())));
  plan.lr = decayed(p.lr_head, o, cr.round);
  Rng rng(cr.seed, "finetune", static_cast<uint64_t>(cr.client), static_cast<uint64_t>(cr.round));
  {
    torch::AutoGradMode enable(true);
    trainer.train(copy, m, train, train_idx, o, plan, rng);
  }
  return trainer.evaluate(copy, test, test_idx);
}

}  // namespace plexus::fl
