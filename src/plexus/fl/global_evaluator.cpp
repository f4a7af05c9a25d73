#include "plexus/fl/global_evaluator.h"

#include "plexus/fl/run_support.h"
#include "plexus/fl/worker_pool.h"

namespace plexus::fl {

void GlobalEvaluator::after_communication(int64_t round, bool evaluate) {
  consensus_ = s_.fed.consensus_distance();
  local_mean_ = local_std_ = global_acc_ = global_loss_ = NAN;
  if (!evaluate) return;
  const int64_t n = s_.clients();
  std::vector<double> acc(n);
  parallel_for(n, s_.workers, [&](int64_t w, int64_t i) {
    acc[i] = s_.trainers[w].evaluate(s_.fed.X[i], s_.data.test, s_.data.client_test[i]).accuracy();
  });
  auto ms = mean_std(acc);
  local_mean_ = ms.mean, local_std_ = ms.std;
  // Global accuracy of the average model x̄, test set split over workers.
  std::vector<int64_t> all(s_.data.test.size());
  for (int64_t i = 0; i < s_.data.test.size(); ++i) all[i] = i;
  const int64_t chunks = std::max<int64_t>(1, s_.workers);
  std::vector<EvalStats> parts(chunks);
  auto xbar = s_.fed.mean().contiguous();
  parallel_for(chunks, s_.workers, [&](int64_t w, int64_t c) {
    int64_t lo = all.size() * c / chunks, hi = all.size() * (c + 1) / chunks;
    std::vector<int64_t> idx(all.begin() + lo, all.begin() + hi);
    parts[c] = s_.trainers[w].evaluate(xbar, s_.data.test, idx);
  });
  EvalStats total;
  for (auto& p : parts) total.correct += p.correct, total.count += p.count, total.loss_sum += p.loss_sum;
  global_acc_ = total.accuracy();
  global_loss_ = total.loss();
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
