#include "plexus/fl/batched_round.h"

#include "plexus/core/cuda_graph.h"
#include "plexus/core/error.h"

namespace plexus::fl {

bool batching_enabled(const std::string& client_batching, const nn::ModelOptions& model, torch::Device device) {
  if (client_batching == "on" && !nn::has_batched_forward(model)) {
    throw Error::config("run.client_batching = \"on\": model '{}' has no batched forward (mlp and cnn have one); "
                        "use \"auto\" or \"off\"", model.name);
  }
  if (client_batching == "on") return true;
  return client_batching == "auto" && device.is_cuda() && nn::has_batched_forward(model);
}

bool cuda_graphs_enabled(const std::string& cuda_graphs, bool batched, torch::Device device) {
  if (cuda_graphs == "on") {
    if (!cuda_graphs_supported()) {
      throw Error::config("run.cuda_graphs = \"on\" needs plexus built against a CUDA LibTorch (this build is "
                          "CPU-only); use \"auto\" or \"off\"");
    }
    if (!batched) {
      throw Error::config("run.cuda_graphs = \"on\" graphs the batched local step, but this run trains client by "
                          "client (run.client_batching, docs/batching.md); use \"auto\" or \"off\"");
    }
    return true;  // BatchedTrainer refuses a CPU device or a CPU-only build with its own error line
  }
  return cuda_graphs == "auto" && batched && device.is_cuda() && cuda_graphs_supported();
}

namespace {
bool same_rule(const StepPlan& a, const StepPlan& b) {
  return a.sam == b.sam && a.update == b.update && a.perturb == b.perturb && a.lr == b.lr;
}
}  // namespace

std::vector<double> train_round_batched(BatchedTrainer& trainer, torch::Tensor X, torch::Tensor M,
                                        const data::Dataset& data, const std::vector<int64_t>& rows,
                                        const std::vector<const std::vector<int64_t>*>& idx,
                                        const std::vector<std::vector<StepPlan>>& plans, std::vector<Rng>& rngs,
                                        const LocalOptions& o) {
  const std::size_t n = rows.size();
  PLEXUS_CHECK(idx.size() == n && plans.size() == n && rngs.size() == n, "train_round_batched: sizes differ");
  std::vector<double> losses(n, 0.0);
  if (n == 0) return losses;
  std::size_t n_plans = 0;
  for (const auto& p : plans) n_plans = std::max(n_plans, p.size());
  auto row_t = upload_indices(rows, X.device());
  // The loss sums stay on the device until every plan is queued: one transfer per round (the metric), so the
  // host never waits for the GPU between plans or chunks.
  std::vector<torch::Tensor> sums;
  std::vector<ClientJob> all_jobs;
  std::vector<std::size_t> all_who;
  for (std::size_t j = 0; j < n_plans; ++j) {
    const StepPlan* rule = nullptr;
    std::vector<ClientJob> jobs;
    std::vector<std::size_t> who;
    for (std::size_t k = 0; k < n; ++k) {
      if (j >= plans[k].size()) continue;
      const auto& p = plans[k][j];
      if (!rule) rule = &p;
      PLEXUS_CHECK(same_rule(*rule, p), "train_round_batched: plan {} differs across clients", j);
      jobs.push_back({rows[k], idx[k], p.steps, &rngs[k]});
      who.push_back(k);
    }
    if (!rule) continue;
    {
      torch::NoGradGuard no_grad;
      if (o.momentum > 0) M.index_fill_(0, row_t, 0.0);
    }
    sums.push_back(trainer.train_sums(X, M, data, jobs, o, *rule));
    all_jobs.insert(all_jobs.end(), jobs.begin(), jobs.end());
    all_who.insert(all_who.end(), who.begin(), who.end());
  }
  if (sums.empty()) return losses;
  const auto mean = BatchedTrainer::mean_losses(sums.size() == 1 ? sums[0] : torch::cat(sums), all_jobs);
  for (std::size_t q = 0; q < all_jobs.size(); ++q) {
    if (all_jobs[q].steps > 0) losses[all_who[q]] = mean[q];  // a later plan's loss replaces an earlier one's
  }
  return losses;
}

}  // namespace plexus::fl
