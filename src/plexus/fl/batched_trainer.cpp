#include "plexus/fl/batched_trainer.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "plexus/core/cuda_graph.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/fl/batched_graphs.h"

namespace plexus::fl {

torch::Tensor upload_indices(const std::vector<int64_t>& v, torch::Device device) {
  auto h = torch::empty({static_cast<int64_t>(v.size())},
                        torch::TensorOptions().dtype(torch::kInt64).pinned_memory(device.is_cuda()));
  std::copy(v.begin(), v.end(), h.data_ptr<int64_t>());
  return h.to(device, torch::kInt64, /*non_blocking=*/true);
}

BatchedTrainer::BatchedTrainer(const nn::ModelOptions& model, const nn::ParamLayout& layout, torch::Device device,
                               int64_t max_clients, bool cuda_graphs)
    : forward_(model, layout), layout_(layout), device_(device) {
  max_clients_ = max_clients > 0 ? max_clients : (device.is_cuda() ? 1024 : 32);
  eval_samples_ = device.is_cuda() ? (1 << 16) : 2048;
  if (cuda_graphs) {
    if (!cuda_graphs_supported()) {
      throw Error::config("run.cuda_graphs = \"on\" needs plexus built against a CUDA LibTorch (this build is "
                          "CPU-only); use \"auto\" or \"off\"");
    }
    if (!device.is_cuda()) {
      throw Error::config("run.cuda_graphs = \"on\" needs run.device = \"cuda\" (got \"{}\"); use \"auto\" or \"off\"",
                          device.str());
    }
    graphs_ = std::make_shared<BatchedStepGraphs>();
  }
}

std::pair<int64_t, int64_t> BatchedTrainer::graph_counts() const {
  return graphs_ ? std::pair<int64_t, int64_t>{graphs_->captures, graphs_->replays} : std::pair<int64_t, int64_t>{0, 0};
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

std::string ranges_key(const std::vector<ColumnRange>& r) {
  std::string s;
  for (auto [b, e] : r) s += fmt::format("{}-{},", b, e);
  return s;
}

}  // namespace

std::vector<double> BatchedTrainer::train(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                                          const std::vector<ClientJob>& jobs, const LocalOptions& o,
                                          const StepPlan& plan) {
  return mean_losses(train_sums(X, M, data, jobs, o, plan), jobs);
}

torch::Tensor BatchedTrainer::train_sums(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                                         const std::vector<ClientJob>& jobs, const LocalOptions& o,
                                         const StepPlan& plan) {
  std::vector<torch::Tensor> parts;
  for (std::size_t start = 0; start < jobs.size(); start += static_cast<std::size_t>(max_clients_)) {
    auto end = std::min(jobs.size(), start + static_cast<std::size_t>(max_clients_));
    std::vector<ClientJob> chunk(jobs.begin() + static_cast<std::ptrdiff_t>(start),
                                 jobs.begin() + static_cast<std::ptrdiff_t>(end));
    parts.push_back(train_chunk(X, M, data, chunk, o, plan));
  }
  if (parts.empty()) return torch::zeros({0}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

std::vector<double> BatchedTrainer::mean_losses(const torch::Tensor& sums, const std::vector<ClientJob>& jobs) {
  PLEXUS_CHECK(sums.numel() == static_cast<int64_t>(jobs.size()), "mean_losses: {} sums for {} jobs", sums.numel(),
               jobs.size());
  auto h = sums.to(torch::kCPU, torch::kFloat64).contiguous();  // the one wait for the GPU (a metric)
  const double* p = h.data_ptr<double>();
  std::vector<double> out(jobs.size(), 0.0);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!std::isfinite(p[i])) {
      throw Error::infeasible("local training diverged (loss = {}); lower train.lr or set train.grad_clip", p[i]);
    }
    if (jobs[i].steps > 0 && !jobs[i].idx->empty()) out[i] = p[i] / static_cast<double>(jobs[i].steps);
  }
  return out;
}

void BatchedTrainer::step(const StepTensors& t, const data::Dataset& data, const std::vector<int64_t>& xs,
                          const LocalOptions& o, const StepPlan& plan, bool every) const {
  const auto& update = plan.update.empty() ? layout_.all_ranges() : plan.update;
  const auto& perturb = plan.perturb.empty() ? update : plan.perturb;
  const int64_t B = xs[0], n = xs[1];
  const auto& Wb = t.Wb;
  auto xb = data.x.index_select(0, t.idx).view(xs);                       // [B,n,C,H,W]
  auto yb = data.y.index_select(0, t.idx).view({B, n}).t().contiguous();  // [n,B]
  auto [loss, G] = loss_and_grad(Wb, xb, yb, t.mask);
  t.loss_sum.add_(loss);
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
    G = loss_and_grad(Wb, xb, yb, t.mask).second;
    Wb.sub_(E);
  }
  if (o.grad_clip > 0) {
    auto norm = row_norm_sq(G, update).sqrt().unsqueeze(1);  // [n,1]
    G.mul_(torch::where(norm > o.grad_clip, o.grad_clip / norm, torch::ones_like(norm)));
  }
  // Wb ← Wb − η·dir as Wb + dir·(−η) with η a device scalar (t.lr holds −η): no recapture when η decays.
  for (auto [b0, e0] : update) {
    auto ws = Wb.narrow(1, b0, e0 - b0);
    auto g = G.narrow(1, b0, e0 - b0);
    if (o.weight_decay > 0) g.add_(ws, o.weight_decay);
    torch::Tensor step_dir = g;
    if (o.momentum > 0) {
      auto ms = t.Mb.narrow(1, b0, e0 - b0);
      if (every) ms.mul_(o.momentum).add_(g);
      else ms.copy_(torch::where(t.active, ms * o.momentum + g, ms));
      step_dir = ms;
    }
    if (every) ws.addcmul_(step_dir, t.lr);
    else ws.copy_(torch::where(t.active, ws.addcmul(step_dir, t.lr), ws));
  }
}

torch::Tensor BatchedTrainer::train_chunk(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                                          const std::vector<ClientJob>& jobs, const LocalOptions& o,
                                          const StepPlan& plan) {
  const int64_t n = static_cast<int64_t>(jobs.size());
  const int64_t B = o.batch_size;
  auto fopt = torch::TensorOptions().dtype(torch::kFloat32);
  int64_t k_max = 0;
  std::vector<int64_t> rows_v;
  for (const auto& j : jobs) {
    if (j.idx->empty()) continue;  // as LocalTrainer::train: nothing to do without data
    k_max = std::max(k_max, j.steps);
  }
  if (n == 0 || k_max == 0) return torch::zeros({n}, fopt.device(device_));
  for (const auto& j : jobs) rows_v.push_back(j.row);
  const bool momentum = o.momentum > 0;

  torch::NoGradGuard no_grad;
  std::vector<BatchCursor> cur(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    cur[i].order = *jobs[i].idx;
    cur[i].cursor = static_cast<int64_t>(cur[i].order.size());  // forces a shuffle before the first batch
  }
  // Every step's mini-batches, drawn up front from each client's stream in the order the sequential engine
  // draws them, written into (pinned, on CUDA) host tensors and moved to the device in one non-blocking copy
  // each: no host round trip inside the step loop, and the host may run ahead of the GPU.
  const bool pin = device_.is_cuda();
  auto idx_h = torch::zeros({k_max, B * n}, torch::TensorOptions().dtype(torch::kInt64).pinned_memory(pin));  // [K,B,n]
  auto mask_h = torch::zeros({k_max, n, B}, fopt.pinned_memory(pin));                                      // [K,n,B]
  auto active_h = torch::zeros({k_max, n, 1}, torch::TensorOptions().dtype(torch::kBool).pinned_memory(pin));  // [K,n]
  int64_t* idx_p = idx_h.data_ptr<int64_t>();
  float* mask_p = mask_h.data_ptr<float>();
  bool* active_p = active_h.data_ptr<bool>();
  std::vector<bool> all_active(static_cast<std::size_t>(k_max), true);
  for (int64_t i = 0; i < n; ++i) {
    auto& c = cur[i];
    const int64_t ni = static_cast<int64_t>(c.order.size());
    for (int64_t step = 0; step < k_max; ++step) {
      const bool on = step < jobs[i].steps && ni > 0;
      active_p[step * n + i] = on;
      if (!on) {
        all_active[step] = false;
        continue;
      }
      if (c.cursor >= ni) jobs[i].rng->shuffle(c.order), c.cursor = 0;
      const int64_t b = std::min(B, ni - c.cursor);
      for (int64_t s = 0; s < b; ++s) {
        idx_p[(step * B + s) * n + i] = c.order[c.cursor + s];
        mask_p[(step * n + i) * B + s] = 1.0f;
      }
      c.cursor += b;
    }
  }
  auto idx_all = idx_h.to(device_, torch::kInt64, /*non_blocking=*/true);
  auto mask_all = mask_h.to(device_, torch::kFloat32, /*non_blocking=*/true);
  auto active_all = active_h.to(device_, torch::kBool, /*non_blocking=*/true);
  auto rows = upload_indices(rows_v, device_);
  auto shape = data.x.sizes().vec();  // [samples, C, H, W]
  std::vector<int64_t> xs = {B, n};
  xs.insert(xs.end(), shape.begin() + 1, shape.end());

  if (!graphs_) {
    StepTensors t;
    t.Wb = X.index_select(0, rows);                           // [n,P] working copy
    t.Mb = momentum ? M.index_select(0, rows) : torch::Tensor();  // [n,P]
    t.loss_sum = torch::zeros({n}, fopt.device(device_));
    t.lr = torch::full({1}, -plan.lr, fopt.device(device_));
    for (int64_t s = 0; s < k_max; ++s) {
      t.idx = idx_all[s], t.mask = mask_all[s], t.active = active_all[s];
      step(t, data, xs, o, plan, all_active[static_cast<std::size_t>(s)]);
    }
    X.index_copy_(0, rows, t.Wb);
    if (momentum) M.index_copy_(0, rows, t.Mb);
    return t.loss_sum;
  }

  // CUDA graphs: the entry's tensors keep their addresses; everything the step depends on that is not in them
  // (shapes, options, column plan, dataset addresses) is in the key.
  const auto& update = plan.update.empty() ? layout_.all_ranges() : plan.update;
  const auto& perturb = plan.perturb.empty() ? update : plan.perturb;
  const std::string key = fmt::format(
      "n{} B{} P{} sam{} ad{} rho{} clip{} wd{} mom{} u{} p{} x{} y{}", n, B, X.size(1), plan.sam, o.adaptive, o.rho,
      o.grad_clip, o.weight_decay, o.momentum, ranges_key(update), ranges_key(perturb),
      reinterpret_cast<std::uintptr_t>(data.x.data_ptr()), reinterpret_cast<std::uintptr_t>(data.y.data_ptr()));
  auto& e = graphs_->get(key, [&](StepGraphEntry& g) {
    auto dev = fopt.device(device_);
    g.Wb = torch::empty({n, X.size(1)}, dev);
    if (momentum) g.Mb = torch::empty({n, X.size(1)}, dev);
    g.loss_sum = torch::zeros({n}, dev);
    g.idx = torch::zeros({B * n}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
    g.mask = torch::zeros({n, B}, dev);
    g.active = torch::zeros({n, 1}, torch::TensorOptions().dtype(torch::kBool).device(device_));
    g.lr = torch::zeros({1}, dev);
  });
  StepTensors t{e.Wb, e.Mb, e.loss_sum, e.idx, e.mask, e.active, e.lr};
  torch::index_select_out(e.Wb, X, 0, rows);
  if (momentum) torch::index_select_out(e.Mb, M, 0, rows);
  e.loss_sum.zero_();
  e.lr.fill_(-plan.lr);
  for (int64_t s = 0; s < k_max; ++s) {
    const bool every = all_active[static_cast<std::size_t>(s)];
    e.idx.copy_(idx_all[s]);
    e.mask.copy_(mask_all[s]);
    e.active.copy_(active_all[s]);
    if (graphs_->failed) {  // a capture failed earlier in this run: eager steps on the same buffers
      step(t, data, xs, o, plan, every);
      continue;
    }
    auto& g = e.graph[every ? 1 : 0];
    if (g) {
      g->replay();
      ++graphs_->replays;
      continue;
    }
    // First step of this kind: one eager warm-up call (this step, for real) on the capture stream, then capture.
    g = std::make_unique<CudaGraph>();
    bool warmed = false;  // the warm-up call returned: this step has run
    try {
      int calls = 0;
      g->capture(
          [&] {
            const int k = calls++;
            step(t, data, xs, o, plan, every);
            if (k == 0) warmed = true;
          },
          /*warmup=*/1);
      ++graphs_->captures;
    } catch (const std::exception& err) {
      g.reset();
      if (!warmed) throw;  // the step itself failed (e.g. out of memory): not a graph problem
      // The capture failed after a good eager step (a plexus bug: an op that cannot be captured). The results
      // do not depend on graphs, so the run goes on with eager steps and says so once.
      log_warn("fl: CUDA graph capture of the batched step failed, continuing without graphs "
               "(run.cuda_graphs = \"off\" silences this): {}", err.what());
      graphs_->failed = true;
    }
  }
  X.index_copy_(0, rows, e.Wb);
  if (momentum) M.index_copy_(0, rows, e.Mb);
  return e.loss_sum.clone();  // the entry's buffer is reused by the next chunk
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
