// DeepSeekMoE gate, batched expert dispatch and balancing. See moe.h for the equations.
#include "plexus/llm/moe.h"

#include "plexus/llm/fused_ops.h"
#include "plexus/llm/grouped_dispatch.h"

namespace plexus::llm {

GateImpl::GateImpl(const ModelArgs& a) : a_(a) {
  weight = register_parameter("weight", torch::empty({a.n_routed_experts, a.dim}));
  bias = register_buffer("bias", torch::zeros({a.n_routed_experts}));
}

Routing GateImpl::forward(const torch::Tensor& x) {
  const int64_t G = a_.n_expert_groups, K = a_.n_activated_experts;
  auto logits = torch::nn::functional::linear(x.to(torch::kFloat32), weight);      // [N,E] f32
  auto s = a_.score_func == "sigmoid" ? torch::sigmoid(logits) : torch::softmax(logits, -1);
  auto sel = (s + bias).detach();                                                   // selection only
  auto idx = select_experts(sel, G, a_.n_limited_groups, K, a_.score_func == "sigmoid");  // [N,K]
  auto w = s.gather(1, idx);                                                        // unbiased affinities
  // Normalise the selected sigmoid affinities. When every one underflows to 0 in f32 (logits below about
  // −104) the plain ratio is 0/0 = NaN; the 1e-20 floor (as HF transformers' DeepseekV3 gate) makes those
  // weights 0 instead and leaves every other case unchanged (1e-20 is below f32 resolution of any sum ≥ 1e-12).
  if (a_.score_func == "sigmoid") w = w / (w.sum(-1, true) + 1e-20);
  w = w * a_.route_scale;
  return {w, idx, s};
}

MoeImpl::MoeImpl(const ModelArgs& a) : a_(a) {
  gate = register_module("gate", Gate(a));
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < a.n_routed_experts; ++e) experts->push_back(Expert(a.dim, a.moe_inter_dim));
  if (a.n_shared_experts > 0) shared = register_module("shared", Mlp(a.dim, a.n_shared_experts * a.moe_inter_dim));
  std::vector<torch::Tensor> w13, w2;
  for (const auto& m : *experts) {
    auto e = m->as<Expert>();
    w13.push_back(e->w1), w13.push_back(e->w3), w2.push_back(e->w2);
  }
  w13_ = PackedParams(w13), w2_ = PackedParams(w2);
  pack();
  load_ = torch::zeros({a.n_routed_experts}, torch::kFloat64);
  balance_loss_ = torch::zeros({});
}

torch::Tensor sequence_balance_loss(const torch::Tensor& scores, const torch::Tensor& indices, int64_t n_experts,
                                    double alpha) {
  const auto B = scores.size(0), T = scores.size(1), K = indices.size(2);
  auto counts = torch::zeros({B, n_experts}, scores.options());
  counts.scatter_add_(1, indices.reshape({B, T * K}), torch::ones({B, T * K}, scores.options()));
  auto f = counts * (static_cast<double>(n_experts) / static_cast<double>(K * T));  // [B,E], no gradient
  auto P = (scores / (scores.sum(-1, true) + 1e-20)).mean(1);                       // [B,E]; 1e-20: see gate
  return alpha * (f * P).sum(-1).mean();
}

torch::Tensor MoeImpl::forward(const torch::Tensor& x) { return forward_normed(x, cast(x, matmul_dtype())); }

torch::Tensor MoeImpl::forward_normed(const torch::Tensor& x, const torch::Tensor& x_mm) {
  const auto B = x.size(0), T = x.size(1), C = x.size(2);
  const int64_t E = a_.n_routed_experts, K = a_.n_activated_experts;
  auto flat = x.reshape({B * T, C});
  auto flat_mm = x_mm.reshape({B * T, C});
  auto r = gate->forward(flat);
  // Dispatch: sort the N·K (token, expert) pairs by expert id; rows of one expert become contiguous.
  auto pair_expert = r.indices.reshape({-1});                                        // [N·K]
  auto [sorted_expert, order] = pair_expert.sort(/*stable=*/true, 0, false);         // [N·K]
  // Rows per expert [E]. CUDA's bincount reads the input's min and max on the host (a sync that also breaks
  // CUDA-graph capture); the sorted ids give the same integers from E+1 binary searches on the device.
  auto counts = x.is_cuda() ? [&] {
    auto bounds = torch::searchsorted(sorted_expert, torch::arange(E + 1, sorted_expert.options()));  // [E+1]
    return (bounds.narrow(0, 1, E) - bounds.narrow(0, 0, E)).contiguous();
  }()
                            : torch::bincount(pair_expert, {}, E);
  const auto out_dtype = flat.scalar_type();
  auto y = use_grouped(x) ? routed_grouped(flat_mm, r.weights, sorted_expert, order, counts, out_dtype)
                          : routed_per_expert(flat_mm, r.weights, order, counts, out_dtype);
  if (shared) y = residual_add(y, shared->forward(flat_mm));
  if (is_training()) {
    if (load_.device() != counts.device()) load_ = load_.to(counts.device());
    load_ += counts.to(torch::kFloat64);  // stays on the device: read once per step by end_step_balance
    balance_loss_ = a_.aux_loss_alpha > 0
                        ? sequence_balance_loss(r.scores.view({B, T, E}), r.indices.view({B, T, K}), E,
                                                a_.aux_loss_alpha)
                        : torch::zeros({}, x.options().dtype(torch::kFloat32));
  }
  return y.view({B, T, C});
}

bool MoeImpl::use_grouped(const torch::Tensor& x) const {
  if (dispatch == MoeDispatch::Grouped) return true;
  if (dispatch == MoeDispatch::PerExpert) return false;
  // Auto: the grouped kernel exists only in CUDA LibTorch ≥ 2.8, for bf16 with 16-byte-aligned widths.
  return x.is_cuda() && have_grouped_mm() && matmul_dtype() == torch::kBFloat16 && a_.dim % 8 == 0 &&
         a_.moe_inter_dim % 8 == 0;
}

torch::Tensor MoeImpl::routed_per_expert(const torch::Tensor& flat, const torch::Tensor& weights,
                                         const torch::Tensor& order, const torch::Tensor& counts,
                                         torch::Dtype out_dtype) {
  const int64_t K = a_.n_activated_experts;
  auto token = order.div(K, "floor");        // source token of each sorted row
  auto xs = flat.index_select(0, token);     // gather [N·K, C] (already in the matmul dtype: no cast per expert)
  // One GEMM per expert on its contiguous rows; the row counts are read on the host (a device sync).
  auto cpu = counts.to(torch::kCPU);
  auto cnt = cpu.accessor<int64_t, 1>();
  std::vector<torch::Tensor> outs;
  int64_t off = 0;
  for (int64_t e = 0; e < a_.n_routed_experts; ++e) {
    if (cnt[e] == 0) continue;
    outs.push_back(experts[e]->as<Expert>()->forward(xs.narrow(0, off, cnt[e])));
    off += cnt[e];
  }
  auto ws = weights.reshape({-1}).index_select(0, order).to(out_dtype).unsqueeze(1);
  auto ys = torch::cat(outs, 0) * ws;                                                          // [N·K, C]
  return torch::zeros_like(flat, flat.options().dtype(out_dtype)).index_add_(0, token, ys.to(out_dtype));
}

torch::Tensor MoeImpl::routed_grouped(const torch::Tensor& flat, const torch::Tensor& weights,
                                      const torch::Tensor& sorted_expert, const torch::Tensor& order,
                                      const torch::Tensor& counts, torch::Dtype out_dtype) {
  auto g = grouped_layout(sorted_expert, order, counts, a_.n_activated_experts);
  auto xp = dispatch_rows(flat, g);  // [R, C]
  auto [W13, W2] = stacked_expert_weights(xp.scalar_type());
  auto yp = grouped_swiglu(xp, buffer_weights(weights, g), g, W13, W2);  // [R, C], gate weights applied
  return combine_rows(yp, g, out_dtype);                                       // [N, C]
}

std::vector<torch::Tensor> MoeImpl::expert_masters() const {
  if (!w13_.packed() || !w2_.packed()) return {};
  const int64_t E = a_.n_routed_experts, I = a_.moe_inter_dim, C = a_.dim;
  return {w13_.stacked().detach().view({E, 2 * I, C}), w2_.stacked().detach()};
}

void MoeImpl::pack() {
  w13_.pack();
  w2_.pack();
}

std::pair<torch::Tensor, torch::Tensor> MoeImpl::stacked_expert_weights(torch::Dtype dt) const {
  const int64_t E = a_.n_routed_experts, I = a_.moe_inter_dim, C = a_.dim;
  return {weight_in(w13_.stacked().view({E, 2 * I, C}), dt), weight_in(w2_.stacked(), dt)};
}

torch::Tensor MoeImpl::forward_dense(const torch::Tensor& x) {
  const auto B = x.size(0), T = x.size(1), C = x.size(2);
  const int64_t E = a_.n_routed_experts;
  auto flat = x.reshape({B * T, C});
  auto r = gate->forward(flat);
  auto dense_w = torch::zeros({B * T, E}, r.weights.options()).scatter(1, r.indices, r.weights);  // [N,E]
  auto dt = matmul_dtype();
  auto xs = flat.to(dt).unsqueeze(0);                                                   // [1,N,C]
  auto [W13, W2] = stacked_expert_weights(dt);                                          // [E,2I,C], [E,C,I]
  const int64_t I = a_.moe_inter_dim;
  auto h = torch::silu(torch::matmul(xs, W13.narrow(1, 0, I).transpose(1, 2))) *
           torch::matmul(xs, W13.narrow(1, I, I).transpose(1, 2));                       // [E,N,I]
  auto ys = torch::matmul(h, W2.transpose(1, 2));                                        // [E,N,C]
  auto y = (ys.to(flat.scalar_type()) * dense_w.t().unsqueeze(-1).to(flat.scalar_type())).sum(0);  // [N,C]
  if (shared) y = y + shared->forward(flat);
  return y.view({B, T, C});
}

torch::Tensor MoeImpl::take_load() {
  auto l = load_.clone();
  load_.zero_();
  return l;
}

torch::Tensor bias_update_step(const torch::Tensor& load, double gamma) {
  auto l = load.to(torch::kFloat64);
  return torch::sign(l.mean(-1, true) - l) * gamma;  // underloaded (+γ), overloaded (−γ); per row
}

}  // namespace plexus::llm
