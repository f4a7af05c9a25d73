#include "plexus/fl/global_evaluator.h"

#include "plexus/fl/batched_eval.h"
#include "plexus/fl/run_support.h"

namespace plexus::fl {

void GlobalEvaluator::after_communication(int64_t round, bool evaluate) {
  // Across ranks (eval_ranks.h) every rank measures its own clients and its share of the test set, and rank 0,
  // which holds every row after communication (ranked.h), combines the results; it alone computes the
  // consensus distance and x̄, and decides whether every row is one model.
  const EvalRanks& ranks = s_.eval_ranks;
  const bool lead = ranks.lead();
  consensus_ = lead ? s_.fed.consensus_distance() : NAN;
  local_mean_ = local_std_ = global_acc_ = global_loss_ = NAN;
  if (!evaluate) return;
  const auto& X = s_.fed.X;
  const auto& test = s_.data.test;
  const int64_t n = s_.clients();
  std::vector<double> acc(n);
  EvalStats global;
  bool one_model = true;  // every row equals row 0 (stops at the first row that differs)
  for (int64_t i = 1; lead && i < n && one_model; ++i) one_model = torch::equal(X[i], X[0]);
  one_model = ranks.from_lead(one_model);
  if (one_model) {
    // One model for everyone (server FL after aggregation): one pass over the test set, each client's local
    // statistics gathered from the per-example results by index (batched_eval.h); x_0 is the global model.
    auto per = ranks.per_example(ranks.from_lead(X[0]), test, s_.trainers, s_.workers);
    if (!lead) return;
    for (int64_t i = 0; i < n; ++i) acc[i] = per.of(s_.data.client_test[i]).accuracy();
    global = per.all();
  } else {
    auto local = ranks.rows(X, test, s_.data.client_test, s_.trainers, s_.workers, s_.batched.get());
    auto mean = ranks.from_lead(lead ? s_.fed.mean().contiguous() : torch::empty({X.size(1)}, X.options()));
    global = ranks.per_example(mean, test, s_.trainers, s_.workers).all();
    if (!lead) return;
    for (int64_t i = 0; i < n; ++i) acc[i] = local[i].accuracy();
  }
  auto ms = mean_std(acc);
  local_mean_ = ms.mean, local_std_ = ms.std;
  global_acc_ = global.accuracy();
  global_loss_ = global.loss();
}

void GlobalEvaluator::columns(Row& row) const {
  row["local_acc_mean"] = local_mean_;
  row["local_acc_std"] = local_std_;
  row["global_acc"] = global_acc_;
  row["global_loss"] = global_loss_;
  row["consensus_distance"] = consensus_;
}

void GlobalEvaluator::summary(Row& sum, const Rows& rows) const {
  const auto& last = rows.back();
  sum["final_local_acc_mean"] = last["local_acc_mean"];
  sum["final_local_acc_std"] = last["local_acc_std"];
  sum["final_global_acc"] = last["global_acc"];
  sum["final_consensus_distance"] = last["consensus_distance"];
  // Best round over every row, resumed ones included.
  Best best = best_of(rows, "local_acc_mean");
  sum["best_local_acc_mean"] = best.value;
  sum["best_round"] = best.round;
}

std::string GlobalEvaluator::progress(bool evaluated) const {
  if (!evaluated) return {};
  return fmt::format("  acc {:.4f} ± {:.4f}  global {:.4f}  cons {:.3g}", local_mean_, local_std_, global_acc_,
                     consensus_);
}

}  // namespace plexus::fl
