#include "plexus/fl/batched_trainer.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"

namespace plexus::fl {

BatchedTrainer::BatchedTrainer(const nn::ModelOptions& model, const nn::ParamLayout& layout, torch::Device device,
                               int64_t max_clients)
    : forward_(model, layout), layout_(layout), device_(device) {
  max_clients_ = max_clients > 0 ? max_clients : (device.is_cuda() ? 1024 : 32);
  eval_samples_ = device.is_cuda() ? (1 << 16) : 2048;
}

std::pair<torch::Tensor, torch::Tensor> BatchedTrainer::loss_and_grad(const torch::Tensor& W, const torch::Tensor& x,
                                                                      const torch::Tensor& y,
                                                                      const torch::Tensor& mask) const {
  torch::AutoGradMode enable(true);
  auto w = W.detach().requires_grad_(true);  // shares W's storage; the gradient is a fresh [n,P]
  auto logits = forward_(w, x);              // [n,B,K]
  const int64_t n = logits.size(0), b = logits.size(1);
  auto ce = torch::nn::functional::cross_entropy(
                logits.reshape({n * b, -1}), y.reshape({n * b}),
                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                .view({n, b});
  auto per_client = (ce * mask).sum(1) / mask.sum(1).clamp_min(1.0);  // mean loss of each client's batch
  auto grads = torch::autograd::grad({per_client.sum()}, {w});
  return {per_client.detach(), grads[0]};
}

namespace {

// Σ over `ranges` of the squared row norms of G. Shapes: G [n,P] → [n].
torch::Tensor row_norm_sq(const torch::Tensor& G, const std::vector<ColumnRange>& ranges) {
  torch::Tensor s;
  for (auto [b, e] : ranges) {
    auto part = G.narrow(1, b, e - b).pow(2).sum(1);
    s = s.defined() ? s + part : part;
  }
  return s;
}

// The per-step mini-batch state of one client (LocalTrainer::train's order/cursor).
struct BatchCursor {
  std::vector<int64_t> order;
  int64_t cursor = 0;
};

}  // namespace

std::vector<double> BatchedTrainer::train(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                                          const std::vector<ClientJob>& jobs, const LocalOptions& o,
                                          const StepPlan& plan) {
  std::vector<double> losses;
  for (std::size_t start = 0; start < jobs.size(); start += static_cast<std::size_t>(max_clients_)) {
    auto end = std::min(jobs.size(), start + static_cast<std::size_t>(max_clients_));
    std::vector<ClientJob> chunk(jobs.begin() + static_cast<std::ptrdiff_t>(start),
                                 jobs.begin() + static_cast<std::ptrdiff_t>(end));
    auto part = train_chunk(X, M, data, chunk, o, plan);
    losses.insert(losses.end(), part.begin(), part.end());
  }
  return losses;
}

std::vector<double> BatchedTrainer::train_chunk(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                                                const std::vector<ClientJob>& jobs, const LocalOptions& o,
                                                const StepPlan& plan) {
  const int64_t n = static_cast<int64_t>(jobs.size());
  const int64_t B = o.batch_size;
  std::vector<double> out(jobs.size(), 0.0);
  int64_t k_max = 0;
  std::vector<int64_t> rows_v;
  for (const auto& j : jobs) {
    if (j.idx->empty()) continue;  // as LocalTrainer::train: nothing to do without data
    k_max = std::max(k_max, j.steps);
  }
  if (n == 0 || k_max == 0) return out;
  for (const auto& j : jobs) rows_v.push_back(j.row);
  auto rows = torch::tensor(rows_v, torch::kInt64).to(device_);
  const auto& update = plan.update.empty() ? layout_.all_ranges() : plan.update;
  const auto& perturb = plan.perturb.empty() ? update : plan.perturb;
  const bool momentum = o.momentum > 0;

  torch::NoGradGuard no_grad;
  auto Wb = X.index_select(0, rows);                                 // [n,P] working copy
  auto Mb = momentum ? M.index_select(0, rows) : torch::Tensor();    // [n,P]
  auto fopt = torch::TensorOptions().dtype(torch::kFloat32);
  auto loss_sum = torch::zeros({n}, fopt.device(device_));
  std::vector<BatchCursor> cur(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    cur[i].order = *jobs[i].idx;
    cur[i].cursor = static_cast<int64_t>(cur[i].order.size());  // forces a shuffle before the first batch
  }
  // Every step's mini-batches, drawn up front from each client's stream in the order the sequential engine
  // draws them, then moved to the device in one copy each (no host round trip inside the step loop).
  std::vector<int64_t> idx_host(static_cast<std::size_t>(k_max * B * n), 0);  // [K, B, n] sample-major
  std::vector<float> mask_host(static_cast<std::size_t>(k_max * n * B), 0.0f);  // [K, n, B]
  std::vector<uint8_t> active_host(static_cast<std::size_t>(k_max * n), 0);     // [K, n]
  std::vector<bool> all_active(static_cast<std::size_t>(k_max), true);
  for (int64_t i = 0; i < n; ++i) {
    auto& c = cur[i];
    const int64_t ni = static_cast<int64_t>(c.order.size());
    for (int64_t step = 0; step < k_max; ++step) {
      const bool on = step < jobs[i].steps && ni > 0;
      active_host[step * n + i] = on;
      if (!on) {
        all_active[step] = false;
        continue;
      }
      if (c.cursor >= ni) jobs[i].rng->shuffle(c.order), c.cursor = 0;
      const int64_t b = std::min(B, ni - c.cursor);
      for (int64_t s = 0; s < b; ++s) {
        idx_host[(step * B + s) * n + i] = c.order[c.cursor + s];
        mask_host[(step * n + i) * B + s] = 1.0f;
      }
      c.cursor += b;
    }
  }
  auto idx_all = torch::from_blob(idx_host.data(), {k_max, B * n}, torch::kInt64).to(device_);
  auto mask_all = torch::from_blob(mask_host.data(), {k_max, n, B}, fopt).to(device_);
  auto active_all = torch::from_blob(active_host.data(), {k_max, n, 1}, torch::kUInt8).to(device_).to(torch::kBool);
  auto shape = data.x.sizes().vec();  // [samples, C, H, W]
  std::vector<int64_t> xs = {B, n};
  xs.insert(xs.end(), shape.begin() + 1, shape.end());
  for (int64_t step = 0; step < k_max; ++step) {
    auto idx = idx_all[step];
    auto mask = mask_all[step];
    auto xb = data.x.index_select(0, idx).view(xs);                          // [B,n,C,H,W]
    auto yb = data.y.index_select(0, idx).view({B, n}).t().contiguous();     // [n,B]
    auto [loss, G] = loss_and_grad(Wb, xb, yb, mask);
    loss_sum.add_(loss);
    const bool every = all_active[step];
    auto active = active_all[step];  // [n,1] bool
    if (plan.sam && o.rho > 0) {
      // E = ρ T² g / ||T g|| on the perturbed columns (per row), evaluated at Wb + E, then Wb restored.
      auto E = torch::zeros_like(Wb);
      torch::Tensor norm_sq;
      for (auto [b0, e0] : perturb) {
        auto g = G.narrow(1, b0, e0 - b0);
        auto tg = o.adaptive ? g * Wb.narrow(1, b0, e0 - b0).abs() : g;
        auto part = tg.pow(2).sum(1);
        norm_sq = norm_sq.defined() ? norm_sq + part : part;
      }
      auto scale = (o.rho / (norm_sq.sqrt() + 1e-12)).unsqueeze(1);  // [n,1]
      for (auto [b0, e0] : perturb) {
        auto es = E.narrow(1, b0, e0 - b0);
        es.copy_(G.narrow(1, b0, e0 - b0) * scale);
        if (o.adaptive) es.mul_(Wb.narrow(1, b0, e0 - b0).pow(2));
      }
      Wb.add_(E);
      G = loss_and_grad(Wb, xb, yb, mask).second;
      Wb.sub_(E);
    }
    if (o.grad_clip > 0) {
      auto norm = row_norm_sq(G, update).sqrt().unsqueeze(1);  // [n,1]
      G.mul_(torch::where(norm > o.grad_clip, o.grad_clip / norm, torch::ones_like(norm)));
    }
    for (auto [b0, e0] : update) {
      auto ws = Wb.narrow(1, b0, e0 - b0);
      auto g = G.narrow(1, b0, e0 - b0);
      if (o.weight_decay > 0) g.add_(ws, o.weight_decay);
      torch::Tensor step_dir = g;
      if (momentum) {
        auto ms = Mb.narrow(1, b0, e0 - b0);
        if (every) ms.mul_(o.momentum).add_(g);
        else ms.copy_(torch::where(active, ms * o.momentum + g, ms));
        step_dir = ms;
      }
      if (every) ws.sub_(step_dir, plan.lr);
      else ws.copy_(torch::where(active, ws - step_dir * plan.lr, ws));
    }
  }
  X.index_copy_(0, rows, Wb);
  if (momentum) M.index_copy_(0, rows, Mb);
  auto sums = loss_sum.to(torch::kCPU);
  for (int64_t i = 0; i < n; ++i) {
    const double s = static_cast<double>(sums[i].item<float>());
    if (!std::isfinite(s)) {
      throw Error::infeasible("local training diverged (loss = {}); lower train.lr or set train.grad_clip", s);
    }
    if (jobs[i].steps > 0 && !jobs[i].idx->empty()) out[i] = s / static_cast<double>(jobs[i].steps);
  }
  return out;
}

std::vector<EvalStats> BatchedTrainer::evaluate(const torch::Tensor& W, const data::Dataset& data,
                                                const std::vector<const std::vector<int64_t>*>& idx) const {
  torch::NoGradGuard no_grad;
  const int64_t n_all = static_cast<int64_t>(idx.size());
  std::vector<EvalStats> out(idx.size());
  auto shape = data.x.sizes().vec();
  for (int64_t start = 0; start < n_all; start += max_clients_) {
    const int64_t n = std::min(max_clients_, n_all - start);
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max<int64_t>(m, static_cast<int64_t>(idx[start + i]->size()));
    if (m == 0) continue;
    // Samples in slices of at most eval_samples_/n per model, padded with mask 0 (bounds the activations).
    const int64_t slice = std::max<int64_t>(1, eval_samples_ / n);
    for (int64_t s0 = 0; s0 < m; s0 += slice) {
      const int64_t b = std::min<int64_t>(slice, m - s0);
      std::vector<int64_t> idx_bn(static_cast<std::size_t>(b * n), 0);
      std::vector<float> mask_nb(static_cast<std::size_t>(n * b), 0.0f);
      for (int64_t i = 0; i < n; ++i) {
        const auto& v = *idx[start + i];
        for (int64_t s = 0; s < b && s0 + s < static_cast<int64_t>(v.size()); ++s) {
          idx_bn[s * n + i] = v[s0 + s];
          mask_nb[i * b + s] = 1.0f;
        }
      }
      auto bidx = torch::from_blob(idx_bn.data(), {b * n}, torch::kInt64).to(data.x.device());
      auto mask = torch::from_blob(mask_nb.data(), {n, b}, torch::kFloat32).to(data.x.device());
      std::vector<int64_t> xs = {b, n};
      xs.insert(xs.end(), shape.begin() + 1, shape.end());
      auto xb = data.x.index_select(0, bidx).view(xs);
      auto yb = data.y.index_select(0, bidx).view({b, n}).t();  // [n,b]
      auto logits = forward_(W.narrow(0, start, n), xb);           // [n,b,K]
      auto ce = torch::nn::functional::cross_entropy(
                    logits.reshape({n * b, -1}), yb.reshape({n * b}),
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                    .view({n, b});
      auto loss = (ce * mask).sum(1).to(torch::kFloat64).cpu();
      auto correct = (logits.argmax(2).eq(yb).to(torch::kFloat32) * mask).sum(1).to(torch::kInt64).cpu();
      auto count = mask.sum(1).to(torch::kInt64).cpu();
      auto l = loss.accessor<double, 1>();
      auto c = correct.accessor<int64_t, 1>(), k = count.accessor<int64_t, 1>();
      for (int64_t i = 0; i < n; ++i) {
        auto& st = out[start + i];
        st.loss_sum += l[i], st.correct += c[i], st.count += k[i];
      }
    }
  }
  return out;
}

}  // namespace plexus::fl
