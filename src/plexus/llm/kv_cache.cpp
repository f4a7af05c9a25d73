// Static-shape one-token decode step over the latent KV cache. See kv_cache.h.
#include "plexus/llm/kv_cache.h"

#include <limits>

#include "plexus/core/error.h"
#include "plexus/llm/layers.h"
#include "plexus/llm/rope.h"

namespace plexus::llm {

StaticDecoder::StaticDecoder(Transformer& model, int64_t batch, int64_t max_len)
    : model_(model), a_(model->args()), B_(batch), L_(max_len) {
  if (batch < 1) throw Error::config("decoder: batch = {} must be >= 1", batch);
  if (max_len < 1 || max_len > a_.max_seq_len)
    throw Error::config("decoder: {} tokens per row exceed model.max_seq_len = {}", max_len, a_.max_seq_len);
  torch::NoGradGuard ng;
  caches_ = model->make_caches(batch, max_len);  // zero rows: masked rows multiply exact zeros
  dt_ = caches_.front().kv.scalar_type();        // the model's compute dtype
  const auto dev = model->embed.device();
  const int64_t H = a_.n_heads, dn = a_.qk_nope_head_dim, dv = a_.v_head_dim, dc = a_.kv_lora_rank;
  auto cast = [&](const torch::Tensor& t) { return t.defined() ? t.detach().to(dt_) : t; };
  for (int64_t l = 0; l < a_.n_layers; ++l) {
    auto blk = model->layers[l]->as<Block>();
    auto& m = blk->attn;
    LayerWeights w;
    w.wq = cast(m->wq), w.wq_a = cast(m->wq_a), w.wq_b = cast(m->wq_b), w.wkv_a = cast(m->wkv_a), w.wo = cast(m->wo);
    auto kvb = cast(m->wkv_b).view({H, dn + dv, dc});  // [W_UK ; W_UV] per head
    w.w_uk = kvb.narrow(1, 0, dn);                      // [H,d_n,d_c]
    w.w_uv_t = kvb.narrow(1, dn, dv).transpose(1, 2);   // [H,d_c,d_v] (a view, as forward_absorbed uses it)
    if (auto moe = blk->moe()) {
      std::vector<torch::Tensor> e1, e2, e3;
      for (const auto& e : *moe->experts) {
        auto x = e->as<Expert>();
        e1.push_back(x->w1), e2.push_back(x->w2), e3.push_back(x->w3);
      }
      w.e1_t = cast(torch::stack(e1)).transpose(1, 2);  // [E,C,I]
      w.e3_t = cast(torch::stack(e3)).transpose(1, 2);  // [E,C,I]
      w.e2_t = cast(torch::stack(e2)).transpose(1, 2);  // [E,I,C]
      if (moe->shared) w.s1 = cast(moe->shared->w1), w.s2 = cast(moe->shared->w2), w.s3 = cast(moe->shared->w3);
    } else {
      // The dense FFN is registered as "ffn" (BlockImpl keeps its holder private).
      auto mlp = std::dynamic_pointer_cast<MlpImpl>(*blk->named_children().find("ffn"));
      PLEXUS_CHECK(mlp != nullptr, "dense block without an Mlp named ffn");
      w.w1 = cast(mlp->w1), w.w2 = cast(mlp->w2), w.w3 = cast(mlp->w3);
    }
    w_.push_back(std::move(w));
  }
  head_ = cast(model->head);
  auto rope = precompute_rope(a_);
  cos_ = rope.cos.to(dev), sin_ = rope.sin.to(dev);
  rows_ = torch::arange(max_len, torch::TensorOptions().dtype(torch::kInt64).device(dev));
}

torch::Tensor StaticDecoder::prefill(const torch::Tensor& tokens) {
  torch::NoGradGuard ng;
  return model_->forward_cached(tokens, 0, caches_);
}

torch::Tensor StaticDecoder::attention(int64_t l, const torch::Tensor& x_in, const torch::Tensor& pos,
                                       const torch::Tensor& cos, const torch::Tensor& sin, const torch::Tensor& mask) {
  // The operations of MlaImpl::forward_absorbed at T = 1, in the same order, over all L cache rows.
  auto& w = w_[static_cast<size_t>(l)];
  auto m = model_->layers[l]->as<Block>()->attn;
  auto& cache = caches_[static_cast<size_t>(l)];
  const int64_t H = a_.n_heads, dn = a_.qk_nope_head_dim, dr = a_.qk_rope_head_dim, dc = a_.kv_lora_rank;
  auto x = x_in.to(dt_);
  const auto B = x.size(0);
  auto q = a_.q_lora_rank == 0 ? project(x, w.wq) : project(m->q_norm(project(x, w.wq_a)), w.wq_b);
  q = q.view({B, 1, H, a_.qk_head_dim()});
  auto q_nope = q.narrow(-1, 0, dn);                                          // [B,1,H,d_n]
  auto q_pe = apply_rope(q.narrow(-1, dn, dr), cos, sin);                     // [B,1,H,d_r]
  auto kv = project(x, w.wkv_a);                                              // [B,1,d_c+d_r]
  auto c = m->kv_norm(kv.narrow(-1, 0, dc));                                  // ĉ [B,1,d_c]
  auto k_pe = apply_rope(kv.narrow(-1, dc, dr).unsqueeze(2), cos, sin).squeeze(2);  // [B,1,d_r]
  auto at = pos.view({1});
  cache.kv.index_copy_(1, at, c.to(cache.kv.scalar_type()));                 // row pos, in place
  cache.pe.index_copy_(1, at, k_pe.to(cache.pe.scalar_type()));
  auto kv_all = cache.kv.to(dt_);                                             // [B,L,d_c]
  auto pe_all = cache.pe.to(dt_);                                             // [B,L,d_r]
  // q̃_h = W_UK,hᵀ q_nope_h: [H,B,d_n] @ [H,d_n,d_c] → [H,B,d_c] → [B,H,d_c]
  auto q_lat = torch::bmm(q_nope.permute({2, 0, 1, 3}).reshape({H, B, dn}), w.w_uk);
  q_lat = q_lat.view({H, B, 1, dc}).permute({1, 2, 0, 3}).reshape({B, H, dc});
  auto scores = torch::bmm(q_lat, kv_all.transpose(1, 2)) +
                torch::bmm(q_pe.reshape({B, H, dr}), pe_all.transpose(1, 2));  // [B,H,L]
  scores = scores.to(torch::kFloat32).view({B, 1, H, L_}) * a_.softmax_scale();
  scores = scores + mask.view({1, 1, 1, L_});                                 // rows after pos: −inf
  auto p = torch::softmax(scores, -1).to(dt_).view({B, H, L_});
  auto o_lat = torch::bmm(p, kv_all);                                         // [B,H,d_c]
  // o_h = W_UV,h õ_h: [H,B,d_c] @ [H,d_c,d_v] → [H,B,d_v] → [B,1,H·d_v]
  auto o = torch::bmm(o_lat.view({B, 1, H, dc}).permute({2, 0, 1, 3}).reshape({H, B, dc}), w.w_uv_t);
  o = o.view({H, B, 1, a_.v_head_dim}).permute({1, 2, 0, 3}).reshape({B, 1, H * a_.v_head_dim});
  return project(o, w.wo);
}

namespace {
// SwiGLU y = W2 (silu(W1 x) ⊙ W3 x) with weights already in the compute dtype (MlpImpl::forward's order).
torch::Tensor swiglu(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& w2,
                     const torch::Tensor& w3) {
  auto xc = x.to(matmul_dtype());
  return project(torch::silu(project(xc, w1)) * project(xc, w3), w2);
}
}  // namespace

torch::Tensor StaticDecoder::ffn(int64_t l, const torch::Tensor& x) {
  auto& w = w_[static_cast<size_t>(l)];
  auto moe = model_->layers[l]->as<Block>()->moe();
  if (!moe) return swiglu(x, w.w1, w.w2, w.w3);
  // The CPU keeps the sparse dispatch (host-read expert counts are free there and it is forward_cached's path).
  if (!x.is_cuda()) return moe->forward(x);
  // CUDA: MoeImpl::forward_dense with the experts stacked once — every expert on every token, weighted by the
  // gate (0 for experts not selected): no expert count crosses to the host, so the step can be captured.
  const auto B = x.size(0), T = x.size(1), C = x.size(2);
  auto flat = x.reshape({B * T, C});
  auto r = moe->gate->forward(flat);
  auto dense_w = torch::zeros({B * T, a_.n_routed_experts}, r.weights.options()).scatter(1, r.indices, r.weights);
  auto xs = flat.to(dt_).unsqueeze(0);                                            // [1,N,C]
  auto h = torch::silu(torch::matmul(xs, w.e1_t)) * torch::matmul(xs, w.e3_t);  // [E,N,I]
  auto ys = torch::matmul(h, w.e2_t);                                             // [E,N,C]
  auto y = (ys.to(flat.scalar_type()) * dense_w.t().unsqueeze(-1).to(flat.scalar_type())).sum(0);  // [N,C]
  if (w.s1.defined()) y = y + swiglu(flat, w.s1, w.s2, w.s3);
  return y.view({B, T, C});
}

torch::Tensor StaticDecoder::step(const torch::Tensor& tok, const torch::Tensor& pos) {
  torch::NoGradGuard ng;
  MatmulDtypeGuard guard(dt_);
  auto at = pos.view({1});
  auto cos = cos_.index_select(0, at), sin = sin_.index_select(0, at);  // [1, d_r/2]
  auto mask = torch::zeros({L_}, cos_.options())
                  .masked_fill(rows_.gt(pos), -std::numeric_limits<float>::infinity());  // [L]
  auto h = torch::embedding(model_->embed, tok.view({B_, 1}));                          // [B,1,C] f32
  for (int64_t l = 0; l < a_.n_layers; ++l) {
    auto blk = model_->layers[l]->as<Block>();
    h = h + attention(l, blk->attn_norm(h), pos, cos, sin, mask);
    h = h + ffn(l, blk->ffn_norm(h));
  }
  return project(model_->norm(h), head_).to(torch::kFloat32).view({B_, a_.vocab_size});  // [B,V]
}

}  // namespace plexus::llm
