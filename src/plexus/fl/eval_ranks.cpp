#include "plexus/fl/eval_ranks.h"

#include "plexus/dist/group.h"
#include "plexus/fl/rank_blocks.h"
#include "plexus/fl/worker_pool.h"

namespace plexus::fl {

namespace {

// Rows [begin(k), end(k)) of T [n, c] (contiguous, CPU) from every rank k ≠ 0 to rank 0, in place; `range(k)`
// gives each rank's half-open row range (the same on every rank). One batch of transfers, so every rank makes
// exactly one exchange() call whatever its share (the calls are numbered across ranks). For the test set's
// examples, whose ranges follow the evaluation batches rather than client blocks (clients use exchange_rows).
template <class Range>
void gather_on_lead(dist::Group& group, torch::Tensor& T, Range range, const std::string& what) {
  std::vector<dist::Group::Transfer> sends, recvs;
  const int me = group.rank();
  if (me == 0) {
    for (int k = 1; k < group.size(); ++k) {
      auto [b, e] = range(k);
      if (e > b) recvs.push_back({k, T.narrow(0, b, e - b)});  // a contiguous row block of a contiguous T
    }
  } else {
    auto [b, e] = range(me);
    if (e > b) sends.push_back({0, T.narrow(0, b, e - b)});
  }
  group.exchange(sends, recvs, what);
}

}  // namespace

EvalRanks::EvalRanks(dist::Group& group, const RankBlocks& blocks) : group_(&group), blocks_(blocks) {}

bool EvalRanks::lead() const { return group_ == nullptr || group_->rank() == 0; }

int64_t EvalRanks::begin(int64_t /*n*/) const { return group_ ? blocks_.begin(group_->rank()) : 0; }

int64_t EvalRanks::end(int64_t n) const { return group_ ? blocks_.end(group_->rank()) : n; }

namespace {

// Stats [N,3] f64 (correct, count, loss sum) ↔ EvalStats; the counts are integers far below 2^53, exact in f64.
torch::Tensor pack(const std::vector<EvalStats>& stats) {
  auto t = torch::zeros({static_cast<int64_t>(stats.size()), 3}, torch::kFloat64);
  auto a = t.accessor<double, 2>();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    a[i][0] = static_cast<double>(stats[i].correct);
    a[i][1] = static_cast<double>(stats[i].count);
    a[i][2] = stats[i].loss_sum;
  }
  return t;
}

std::vector<EvalStats> unpack(const torch::Tensor& t) {
  auto a = t.accessor<double, 2>();
  std::vector<EvalStats> stats(static_cast<std::size_t>(t.size(0)));
  for (std::size_t i = 0; i < stats.size(); ++i) {
    stats[i].correct = static_cast<int64_t>(a[i][0]);
    stats[i].count = static_cast<int64_t>(a[i][1]);
    stats[i].loss_sum = a[i][2];
  }
  return stats;
}

}  // namespace

std::vector<EvalStats> EvalRanks::clients(int64_t n, int64_t workers,
                                          const std::function<EvalStats(int64_t w, int64_t i)>& eval) const {
  const int64_t b = begin(n), e = end(n);
  std::vector<EvalStats> stats(static_cast<std::size_t>(n));
  parallel_for(e - b, workers, [&](int64_t w, int64_t k) { stats[b + k] = eval(w, b + k); });
  if (!group_) return stats;
  auto t = pack(stats);  // every rank's block of rows to rank 0, as the models are gathered (rank_blocks.h)
  exchange_rows(*group_, t, gather_plan(blocks_), "gathering the clients' evaluation results on rank 0");
  return unpack(t);
}

std::vector<EvalStats> EvalRanks::rows(const torch::Tensor& X, const data::Dataset& data,
                                       const std::vector<std::vector<int64_t>>& sets,
                                       std::vector<LocalTrainer>& trainers, int64_t workers,
                                       const BatchedTrainer* batched) const {
  const int64_t n = X.size(0);
  if (!group_) return evaluate_rows(X, data, sets, trainers, workers, batched);
  if (batched) {  // this rank's rows in one batched pass (bit-identity is not claimed with batching: ranked.h)
    const int64_t b = begin(n), e = end(n);
    std::vector<std::vector<int64_t>> mine(sets.begin() + b, sets.begin() + e);
    auto got = evaluate_rows(X.narrow(0, b, e - b), data, mine, trainers, workers, batched);
    return clients(n, 1, [&](int64_t, int64_t i) { return got[static_cast<std::size_t>(i - b)]; });
  }
  return clients(n, workers, [&](int64_t w, int64_t i) { return trainers[w].evaluate(X[i], data, sets[i]); });
}

PerExample EvalRanks::per_example(const torch::Tensor& x, const data::Dataset& data,
                                  std::vector<LocalTrainer>& trainers, int64_t workers) const {
  if (!group_) return evaluate_per_example(x, data, trainers, workers);
  const int64_t n = data.size(), B = eval_batches(n), R = group_->size();
  const auto batches = [&](int k) { return std::pair{k * B / R, (k + 1) * B / R}; };
  const auto [first, last] = batches(group_->rank());
  auto out = evaluate_per_example(x, data, trainers, workers, kEvalBatch, first, last);
  // [n,2] f64: correctness (0/1, exact) and loss per example; rank k's examples are its batches' rows.
  auto both = torch::stack({out.correct.to(torch::kFloat64), out.loss}, 1).contiguous();
  gather_on_lead(*group_, both, [&](int k) {
    auto [b0, b1] = batches(k);
    return std::pair{std::min(n, b0 * kEvalBatch), std::min(n, b1 * kEvalBatch)};
  }, "gathering the test examples' evaluation results on rank 0");
  out.correct = both.select(1, 0).to(torch::kInt64).contiguous();
  out.loss = both.select(1, 1).contiguous();
  return out;
}

bool EvalRanks::from_lead(bool value) const {
  if (!group_) return value;
  // Only rank 0 contributes: the sum is its value.
  auto t = torch::tensor({group_->rank() == 0 && value ? int64_t{1} : int64_t{0}}, torch::kInt64);
  group_->allreduce_sum(t, "sharing rank 0's evaluation plan");
  return t.item<int64_t>() != 0;
}

torch::Tensor EvalRanks::from_lead(const torch::Tensor& x) const {
  if (!group_) return x;
  auto row = x.to(torch::kCPU).contiguous().clone();
  std::vector<dist::Group::Transfer> sends, recvs;
  if (group_->rank() == 0) {
    for (int k = 1; k < group_->size(); ++k) sends.push_back({k, row});
  } else {
    recvs.push_back({0, row});
  }
  group_->exchange(sends, recvs, "sending the average model from rank 0");
  return row.to(x.device());
}

}  // namespace plexus::fl
