#include "plexus/fl/batched_eval.h"

#include "plexus/fl/worker_pool.h"

namespace plexus::fl {

EvalStats PerExample::of(const std::vector<int64_t>& idx) const {
  EvalStats s;
  if (idx.empty()) return s;
  auto c = correct.accessor<int64_t, 1>();
  auto l = loss.accessor<double, 1>();
  for (int64_t j : idx) s.correct += c[j], s.loss_sum += l[j];
  s.count = static_cast<int64_t>(idx.size());
  return s;
}

EvalStats PerExample::all() const {
  EvalStats s;
  s.count = correct.numel();
  if (s.count == 0) return s;
  s.correct = correct.sum().item<int64_t>();
  s.loss_sum = loss.sum().item<double>();
  return s;
}

PerExample evaluate_per_example(const torch::Tensor& x, const data::Dataset& data, std::vector<LocalTrainer>& trainers,
                                int64_t workers, int64_t batch, int64_t first_batch, int64_t end_batch) {
  const int64_t n = data.size();
  PerExample out;
  out.correct = torch::zeros({n}, torch::kInt64);
  out.loss = torch::zeros({n}, torch::kFloat64);
  if (n == 0) return out;
  // Batches start at multiples of `batch` whatever the worker count: a forward's per-example result may depend
  // on the batch it is computed in (BLAS picks kernels by shape), so fixed batches keep the metrics independent
  // of run.threads.
  const int64_t last = end_batch < 0 ? eval_batches(n, batch) : end_batch;
  const int64_t batches = last - first_batch;
  if (batches <= 0) return out;
  auto xc = x.contiguous();
  parallel_for(batches, std::max<int64_t>(1, std::min(workers, batches)), [&](int64_t w, int64_t i) {
    const int64_t start = (first_batch + i) * batch, b = std::min(batch, n - start);
    auto r = trainers[w].evaluate_examples(xc, data, start, b);
    out.correct.narrow(0, start, b).copy_(r.first);
    out.loss.narrow(0, start, b).copy_(r.second);
  });
  return out;
}

EvalStats evaluate_model(const torch::Tensor& x, const data::Dataset& data, std::vector<LocalTrainer>& trainers,
                         int64_t workers) {
  return evaluate_per_example(x, data, trainers, workers).all();
}

std::vector<EvalStats> evaluate_rows(const torch::Tensor& X, const data::Dataset& data,
                                     const std::vector<std::vector<int64_t>>& sets, std::vector<LocalTrainer>& trainers,
                                     int64_t workers, const BatchedTrainer* batched) {
  const int64_t n = X.size(0);
  if (batched) {
    std::vector<const std::vector<int64_t>*> idx;
    for (const auto& s : sets) idx.push_back(&s);
    return batched->evaluate(X, data, idx);
  }
  std::vector<EvalStats> out(static_cast<std::size_t>(n));
  parallel_for(n, workers, [&](int64_t w, int64_t i) { out[i] = trainers[w].evaluate(X[i], data, sets[i]); });
  return out;
}

}  // namespace plexus::fl
