// The DeepSeek-V3 Transformer with MTP and training losses. See model.h.
#include "plexus/llm/model.h"

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/fused_ops.h"

namespace plexus::llm {

TransformerImpl::TransformerImpl(const ModelArgs& a) : a_(a) {
  a.validate();
  embed = register_parameter("embed", torch::empty({a.vocab_size, a.dim}));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < a.n_layers; ++l) layers->push_back(Block(a, l));
  norm = register_module("norm", RMSNorm(a.dim, a.norm_eps));
  head = register_parameter("head", torch::empty({a.vocab_size, a.dim}));
  mtp = register_module("mtp", torch::nn::ModuleList());
  for (int64_t k = 0; k < a.n_mtp_modules; ++k) mtp->push_back(Mtp(a, a.n_layers + k));
  rope_cpu_ = precompute_rope(a);
  rope_dev_ = rope_cpu_;
  init_weights(0);
}

void TransformerImpl::pack_parameters() {
  // MLPs first: a MoE layer's packing then moves its experts' pairs once more, keeping each pair consecutive.
  for (auto& m : modules(/*include_self=*/false))
    if (auto mlp = std::dynamic_pointer_cast<MlpImpl>(m)) mlp->pack();
  for (auto& m : moe_layers()) m->pack();
}

std::vector<torch::Tensor> TransformerImpl::matmul_weights() const {
  std::vector<torch::Tensor> out;
  auto covered = [&](const torch::Tensor& t) {  // t's storage lies inside one already listed (an expert's slice)
    const auto* p = static_cast<const char*>(t.data_ptr());
    for (const auto& o : out) {
      const auto* b = static_cast<const char*>(o.data_ptr());
      if (p >= b && p < b + o.numel() * o.element_size()) return true;
    }
    return false;
  };
  std::vector<const void*> skip = {embed.data_ptr(), head.data_ptr()};
  for (auto& m : moe_layers()) {
    skip.push_back(m->gate->weight.data_ptr());
    for (auto& w : m->expert_masters()) out.push_back(w);
  }
  for (auto& m : modules(/*include_self=*/false))
    if (auto mlp = std::dynamic_pointer_cast<MlpImpl>(m))
      if (mlp->packed() && !covered(mlp->w1)) out.push_back(mlp->w13().detach());
  for (auto& p : parameters())  // the MLPs' W2, MLA and MTP matrices; unpacked W1/W3 one by one
    if (p.dim() == 2 && std::find(skip.begin(), skip.end(), p.data_ptr()) == skip.end() && !covered(p))
      out.push_back(p.detach());
  return out;
}

void TransformerImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(device, dtype, non_blocking);
  pack_parameters();
}

void TransformerImpl::to(torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(dtype, non_blocking);
  pack_parameters();
}

void TransformerImpl::to(torch::Device device, bool non_blocking) {
  torch::nn::Module::to(device, non_blocking);
  pack_parameters();
}

void TransformerImpl::init_weights(uint64_t seed) {
  torch::NoGradGuard ng;
  auto gen = torch_generator(stream_key(seed, "llm.init"));
  for (auto& p : named_parameters()) {
    auto& t = p.value();
    if (t.dim() >= 2) {
      auto w = torch::empty(t.sizes(), torch::kFloat32).normal_(0.0, a_.init_std, gen);
      t.copy_(w);
    } else {
      t.fill_(1.0);  // RMSNorm gains
    }
  }
  for (auto& b : named_buffers()) b.value().zero_();  // gate biases
}

std::pair<torch::Tensor, torch::Tensor> TransformerImpl::rope(int64_t start, int64_t T, torch::Device dev) {
  if (start + T > a_.max_seq_len)
    throw Error::config("sequence of {} tokens exceeds model.max_seq_len = {} (raise max_seq_len)", start + T,
                        a_.max_seq_len);
  if (rope_dev_.cos.device() != dev) rope_dev_ = {rope_cpu_.cos.to(dev), rope_cpu_.sin.to(dev)};
  return {rope_dev_.cos.narrow(0, start, T), rope_dev_.sin.narrow(0, start, T)};
}

torch::Tensor TransformerImpl::head_product(const torch::Tensor& h, RMSNorm n) {
  return project(n->forward_to(h, matmul_dtype()), head);
}

torch::Tensor TransformerImpl::logits_of(const torch::Tensor& h, RMSNorm n) {
  return cast(head_product(h, n), torch::kFloat32);
}

torch::Tensor TransformerImpl::hidden(const torch::Tensor& tokens) { return blocks(torch::embedding(embed, tokens)); }

torch::Tensor TransformerImpl::blocks(torch::Tensor h) {
  auto [cos, sin] = rope(0, h.size(1), h.device());
  MatmulDtypeGuard guard(compute_dtype_);
  // Each block leaves its FFN branch pending; the next block adds it in its attention norm's kernel.
  torch::Tensor pending;
  for (auto& l : *layers) std::tie(h, pending) = l->as<Block>()->forward_pending(h, pending, cos, sin);
  return pending.defined() ? residual_add(h, pending) : h;
}

torch::Tensor TransformerImpl::forward_embedded(const torch::Tensor& h0) {
  MatmulDtypeGuard guard(compute_dtype_);
  return logits_of(blocks(h0), norm);
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& tokens) {
  MatmulDtypeGuard guard(compute_dtype_);
  return logits_of(hidden(tokens), norm);
}

std::vector<MlaCache> TransformerImpl::make_caches(int64_t batch, int64_t max_len) {
  std::vector<MlaCache> c;
  for (int64_t l = 0; l < a_.n_layers; ++l)
    c.push_back(MlaCache::allocate(a_, batch, max_len, embed.device(), compute_dtype_));
  return c;
}

torch::Tensor TransformerImpl::forward_cached(const torch::Tensor& tokens, int64_t start_pos,
                                              std::vector<MlaCache>& caches) {
  PLEXUS_CHECK(static_cast<int64_t>(caches.size()) == a_.n_layers, "need one cache per layer");
  auto [cos, sin] = rope(start_pos, tokens.size(1), tokens.device());
  MatmulDtypeGuard guard(compute_dtype_);
  auto h = torch::embedding(embed, tokens);
  for (int64_t l = 0; l < a_.n_layers; ++l)
    h = layers[l]->as<Block>()->forward_cached(h, start_pos, cos, sin, caches[static_cast<size_t>(l)]);
  return logits_of(h, norm);
}

LossParts TransformerImpl::loss(const torch::Tensor& inputs, const torch::Tensor& targets) {
  const auto B = inputs.size(0), T = inputs.size(1);
  MatmulDtypeGuard guard(compute_dtype_);
  auto h = hidden(inputs);
  // The heads' logits stay in the matmul dtype: cross_entropy_rows reads bf16 logits directly (fused_ops.h).
  auto logits = head_product(h, norm);                                  // [B,T,V]
  LossParts out;
  out.main = cross_entropy_rows(logits.view({B * T, a_.vocab_size}), targets.reshape({-1})).mean();
  out.mtp = torch::zeros({}, out.main.options());
  for (int64_t k = 1; k <= a_.n_mtp_modules && k < T; ++k) {
    auto [in_k, tgt_k] = mtp_slices(inputs, targets, k);
    const auto Tk = T - k;
    auto [cos, sin] = rope(0, Tk, inputs.device());
    auto emb = torch::embedding(embed, in_k);
    auto m = mtp[k - 1]->as<Mtp>();
    h = m->forward(h.narrow(1, 0, Tk), emb, cos, sin);                   // h^k [B,T-k,C]
    auto lk = head_product(h, m->norm).view({B * Tk, a_.vocab_size});
    auto ce_sum = cross_entropy_rows(lk, tgt_k.reshape({-1})).sum();
    out.mtp = out.mtp + ce_sum / static_cast<double>(B * T);              // eq.24: divisor T
  }
  if (a_.n_mtp_modules > 0) out.mtp = out.mtp * (a_.mtp_loss_weight / static_cast<double>(a_.n_mtp_modules));
  out.balance = torch::zeros({}, out.main.options());
  if (is_training())
    for (auto& m : moe_layers()) out.balance = out.balance + m->balance_loss().to(torch::kFloat32);
  out.total = out.main + out.mtp + out.balance;
  return out;
}

std::vector<Moe> TransformerImpl::moe_layers() const {
  std::vector<Moe> v;
  for (auto& l : *layers)
    if (auto m = l->as<Block>()->moe()) v.push_back(m);
  for (auto& k : *mtp)
    if (auto m = k->as<Mtp>()->block->moe()) v.push_back(m);
  return v;
}

std::vector<LoadStats> TransformerImpl::end_step_balance(double gamma,
                                                        const std::function<void(torch::Tensor&)>& reduce_load) {
  auto layers_moe = moe_layers();
  if (layers_moe.empty()) return {};
  // All layers at once on the model's device: the bias update needs no host value, and the statistics
  // cross to the host in one copy (one synchronisation per step instead of three per layer).
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> loads;
  for (auto& m : layers_moe) loads.push_back(m->take_load());
  auto L = torch::stack(loads);                                   // [layers, E] f64
  if (reduce_load) reduce_load(L);
  if (gamma > 0) {
    // sign(mean − load) is 0 for a layer that routed nothing, so such a layer's bias stays.
    auto step = bias_update_step(L, gamma).to(layers_moe[0]->gate->bias.options());
    for (size_t i = 0; i < layers_moe.size(); ++i) layers_moe[i]->gate->bias.add_(step[static_cast<int64_t>(i)]);
  }
  auto summary = torch::stack({L.mean(1), std::get<0>(L.max(1)), std::get<0>(L.min(1))}, 1).to(torch::kCPU);
  auto h = summary.accessor<double, 2>();
  std::vector<LoadStats> stats(layers_moe.size());
  for (size_t i = 0; i < stats.size(); ++i) {
    const double mean = h[static_cast<int64_t>(i)][0];
    if (mean > 0) stats[i] = {h[static_cast<int64_t>(i)][1] / mean, h[static_cast<int64_t>(i)][2] / mean};
  }
  return stats;
}

}  // namespace plexus::llm
