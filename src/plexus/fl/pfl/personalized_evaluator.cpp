#include "plexus/fl/pfl/personalized_evaluator.h"

#include "plexus/core/rng.h"
#include "plexus/fl/batched_eval.h"
#include "plexus/fl/gossip.h"

namespace plexus::fl {

PersonalizedEvaluator::PersonalizedEvaluator(Session& s, std::function<torch::Tensor()> models,
                                             std::vector<ColumnRange> communicated,
                                             std::optional<std::vector<ColumnRange>> finetune)
    : s_(s), models_(std::move(models)), communicated_(std::move(communicated)), finetune_(std::move(finetune)) {}

EvalStats PersonalizedEvaluator::evaluate_client(LocalTrainer& trainer, int64_t client, int64_t round,
                                                 const torch::Tensor& x, bool finetune) const {
  const auto& train_idx = s_.data.client_train[client];
  const auto& test_idx = s_.data.client_test[client];
  if (!finetune || !finetune_ || train_idx.empty()) return trainer.evaluate(x, s_.data.test, test_idx);
  const auto& p = s_.cfg.personalization;
  const auto& o = s_.cfg.train;
  torch::NoGradGuard no_grad;
  auto copy = x.clone();
  auto m = torch::zeros_like(copy);
  StepPlan plan;
  plan.update = *finetune_;
  const int64_t n = static_cast<int64_t>(train_idx.size());
  plan.steps = std::max<int64_t>(1, p.head_epochs * ((n + o.batch_size - 1) / o.batch_size));
  plan.lr = p.lr_head * std::pow(o.lr_decay, static_cast<double>(round));
  Rng rng(s_.seed, "finetune", static_cast<uint64_t>(client), static_cast<uint64_t>(round));
  {
    torch::AutoGradMode enable(true);
    trainer.train(copy, m, s_.data.train, train_idx, o, plan, rng);
  }
  return trainer.evaluate(copy, s_.data.test, test_idx);
}

MeanStd PersonalizedEvaluator::measure(int64_t round, bool finetune) const {
  // Across ranks each rank measures its own clients, whose rows it holds fresh (it trained them, and the
  // communicator leaves its own rows exact); rank 0 gets every client's result (eval_ranks.h).
  const EvalRanks& ranks = s_.eval_ranks;
  const int64_t n = s_.clients();
  auto Z = models_();
  std::vector<EvalStats> stats;
  if (finetune && finetune_) {
    stats = ranks.clients(n, s_.workers, [&](int64_t w, int64_t i) {
      return evaluate_client(s_.trainers[w], i, round, Z[i], finetune);
    });
  } else {  // every model on its own test set at once (batched when the session has the batched engine)
    stats = ranks.rows(Z, s_.data.test, s_.data.client_test, s_.trainers, s_.workers, s_.batched.get());
  }
  if (!ranks.lead()) return {};
  std::vector<double> acc(n);
  for (int64_t i = 0; i < n; ++i) acc[i] = stats[i].accuracy();
  return mean_std(acc);
}

void PersonalizedEvaluator::before_training(int64_t round, bool evaluate) {
  round_ = round;
  before_ = evaluate ? measure(round, false) : MeanStd{};
}

void PersonalizedEvaluator::after_training(int64_t round, bool evaluate) {
  after_ = evaluate ? measure(round, true) : MeanStd{};
}

void PersonalizedEvaluator::columns(Row& row) const {
  const auto& p = s_.cfg.personalization;
  const double decay = std::pow(s_.cfg.train.lr_decay, static_cast<double>(round_));
  row["lr_head"] = p.lr_head * decay;
  row["lr_body"] = p.lr_body * decay;
  row["local_acc_mean"] = after_.mean;  // personalized accuracy after local training
  row["local_acc_std"] = after_.std;
  row["before_acc_mean"] = before_.mean;  // after aggregation, before local training (reference code's number)
  row["before_acc_std"] = before_.std;
  row["consensus_distance"] = consensus_distance(models_(), communicated_);
}

void PersonalizedEvaluator::summary(Row& sum, const Rows& rows) const {
  const auto& last = rows.back();
  Best after = best_of(rows, "local_acc_mean"), before = best_of(rows, "before_acc_mean");
  sum["personal_parameters"] = s_.layout.size() - s_.layout.shared_size();
  sum["final_local_acc_mean"] = last["local_acc_mean"];
  sum["final_local_acc_std"] = last["local_acc_std"];
  sum["final_before_acc_mean"] = last["before_acc_mean"];
  sum["final_before_acc_std"] = last["before_acc_std"];
  sum["best_local_acc_mean"] = after.value;
  sum["best_round"] = after.round;
  sum["best_before_acc_mean"] = before.value;
  sum["best_before_round"] = before.round;
  sum["final_consensus_distance"] = last["consensus_distance"];
}

std::string PersonalizedEvaluator::progress(bool evaluated) const {
  if (!evaluated) return {};
  return fmt::format("  acc {:.4f} ± {:.4f}  before {:.4f}", after_.mean, after_.std, before_.mean);
}

}  // namespace plexus::fl
