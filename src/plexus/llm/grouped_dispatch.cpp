// Sync-free MoE dispatch through grouped GEMMs. See grouped_dispatch.h.
#include "plexus/llm/grouped_dispatch.h"

#include "plexus/core/error.h"
#include "plexus/llm/fused_ops.h"

// at::_grouped_mm appeared in PyTorch 2.8 (CUDA, sm90+). Debian's LibTorch 1.13 (CPU builds) lacks it and
// takes the loop below.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8))
#define PLEXUS_HAVE_GROUPED_MM 1
#else
#define PLEXUS_HAVE_GROUPED_MM 0
#endif

// Set by CMake on this file and fused_ops.cpp: 1 when src/plexus/llm/kernels/ is compiled and linked.
#ifndef PLEXUS_FUSED_KERNELS
#define PLEXUS_FUSED_KERNELS 0
#endif
#if PLEXUS_FUSED_KERNELS
#include <c10/cuda/CUDAStream.h>

#include "plexus/llm/kernels/grouped.h"
#endif

namespace plexus::llm {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool have_grouped_mm() { return PLEXUS_HAVE_GROUPED_MM != 0; }

torch::Tensor grouped_mm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& offs) {
  PLEXUS_CHECK(x.dim() == 2 && w.dim() == 3 && offs.dim() == 1 && offs.size(0) == w.size(0) &&
                   x.size(1) == w.size(1),
               "grouped_mm: x must be [R,k], w [E,k,n] and offs [E] (got dims {}, {}, {})", x.dim(), w.dim(),
               offs.dim());
#if PLEXUS_HAVE_GROUPED_MM
  if (x.is_cuda() && x.scalar_type() == torch::kBFloat16 && w.scalar_type() == torch::kBFloat16 &&
      x.size(1) % 8 == 0 && w.size(2) % 8 == 0) {
    return at::_grouped_mm(x, w, offs);
  }
#endif
  // Reference: one product per group, the group ends read on the host.
  auto ends = offs.to(torch::kCPU, torch::kInt64);
  auto e_ = ends.accessor<int64_t, 1>();
  std::vector<torch::Tensor> pieces;
  int64_t start = 0;
  for (int64_t e = 0; e < w.size(0); ++e) {
    if (e_[e] > start) pieces.push_back(torch::matmul(x.narrow(0, start, e_[e] - start), w[e]));
    start = e_[e];
  }
  if (start < x.size(0)) pieces.push_back(torch::zeros({x.size(0) - start, w.size(2)}, x.options()));
  return torch::cat(pieces, 0);
}

WgradChunks wgrad_chunks(const torch::Tensor& offs, int64_t rows, int64_t length) {
  PLEXUS_CHECK(length > 0 && offs.dim() == 1 && offs.size(0) > 0, "wgrad_chunks: need groups and a positive length");
  const int64_t E = offs.size(0), G = (rows + length - 1) / length + E;
  auto ends = offs.to(torch::kInt64);
  auto starts = torch::cat({torch::zeros({1}, ends.options()), ends.narrow(0, 0, E - 1)});
  WgradChunks w;
  w.length = length;
  w.count = (ends - starts + (length - 1)).div(length, "floor");         // ceil(len_e / L)
  auto cum = w.count.cumsum(0);
  w.first = cum - w.count;
  auto c = torch::arange(G, ends.options());
  auto e = torch::searchsorted(cum, c, /*out_int32=*/false, /*right=*/true);  // chunk c's expert; E past the end
  auto ec = e.clamp_max(E - 1);
  auto end = torch::minimum(starts.index_select(0, ec) + (c - w.first.index_select(0, ec) + 1) * length,
                            ends.index_select(0, ec));
  w.offs = torch::where(e < E, end, ends.narrow(0, E - 1, 1)).to(torch::kInt32);  // empty chunks at the end
  return w;
}

torch::Tensor segment_sum(const torch::Tensor& p, const torch::Tensor& first, const torch::Tensor& count) {
  const int64_t E = first.size(0);
  std::vector<int64_t> shape = p.sizes().vec();
  shape[0] = E;
#if PLEXUS_FUSED_KERNELS
  if (p.is_cuda() && p.scalar_type() == torch::kBFloat16) {
    auto pc = p.contiguous();
    auto out = torch::empty(shape, pc.options());
    const int rc = kernels::segment_sum_bf16(pc.data_ptr(), first.contiguous().data_ptr<int64_t>(),
                                             count.contiguous().data_ptr<int64_t>(), out.data_ptr(), E,
                                             pc.numel() / std::max<int64_t>(pc.size(0), 1),
                                             c10::cuda::getCurrentCUDAStream().stream());
    PLEXUS_CHECK(rc == 0, "CUDA kernel segment_sum failed to launch (CUDA error {})", rc);
    return out;
  }
#endif
  auto f = first.to(torch::kCPU), n = count.to(torch::kCPU);
  auto out = torch::zeros(shape, p.options());
  for (int64_t e = 0; e < E; ++e)
    if (n[e].item<int64_t>() > 0)
      out[e].copy_(p.narrow(0, f[e].item<int64_t>(), n[e].item<int64_t>()).sum(0, false, torch::kFloat32));
  return out;
}

torch::Tensor grouped_weight_grad(const torch::Tensor& dy, const torch::Tensor& x, const WgradChunks& chunks) {
#if PLEXUS_HAVE_GROUPED_MM
  if (dy.is_cuda() && dy.scalar_type() == torch::kBFloat16 && x.scalar_type() == torch::kBFloat16)
    return segment_sum(at::_grouped_mm(dy.t(), x, chunks.offs), chunks.first, chunks.count);  // [G,n,k] → [E,n,k]
#endif
  // Reference: each chunk's product, the chunk ends read on the host.
  auto ends = chunks.offs.to(torch::kCPU, torch::kInt64);
  std::vector<torch::Tensor> p;
  int64_t start = 0;
  for (int64_t c = 0; c < ends.size(0); ++c) {
    const int64_t end = ends[c].item<int64_t>();
    p.push_back(torch::matmul(dy.narrow(0, start, end - start).t(), x.narrow(0, start, end - start)));
    start = end;
  }
  return segment_sum(torch::stack(p), chunks.first, chunks.count);
}

#if PLEXUS_HAVE_GROUPED_MM && PLEXUS_FUSED_KERNELS
namespace {
// x · W[e]ᵀ per group; dX by one M-grouped GEMM, dW by the chunked K-grouped GEMM (grouped_weight_grad).
struct GroupedLinear : torch::autograd::Function<GroupedLinear> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& offs, const torch::Tensor& chunk_offs,
                               const torch::Tensor& first, const torch::Tensor& count) {
    ctx->save_for_backward({x, w, offs, chunk_offs, first, count});
    return at::_grouped_mm(x, w.transpose(1, 2), offs);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    auto s = ctx->get_saved_variables();
    auto dy = grad[0].contiguous();                                 // [R, n]
    auto dx = at::_grouped_mm(dy, s[1], s[2]);                      // [R, n] · [E, n, k] → [R, k]
    auto dw = grouped_weight_grad(dy, s[0], WgradChunks{s[3], s[4], s[5], 0});
    return {dx, dw, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace
#endif

torch::Tensor grouped_linear(const torch::Tensor& x, const torch::Tensor& w, const GroupedLayout& g) {
#if PLEXUS_HAVE_GROUPED_MM && PLEXUS_FUSED_KERNELS  // both: segment_sum's host loop would sync the step
  if (x.is_cuda() && x.scalar_type() == torch::kBFloat16 && w.scalar_type() == torch::kBFloat16 && x.dim() == 2 &&
      w.dim() == 3 && x.size(1) == w.size(2) && x.size(1) % 8 == 0 && w.size(1) % 8 == 0)
    return GroupedLinear::apply(x, w, g.offs, g.chunks.offs, g.chunks.first, g.chunks.count);
#endif
  return grouped_mm(x, w.transpose(1, 2), g.offs);
}

GroupedLayout grouped_layout(const torch::Tensor& sorted_expert, const torch::Tensor& order,
                             const torch::Tensor& counts, int64_t k, int64_t align) {
  const int64_t NK = sorted_expert.size(0), E = counts.size(0), R = NK + E * (align - 1);
  auto padded = counts.add(align - 1).div(align, "floor").mul(align);  // ceil(count/A)·A      [E]
  auto ends = padded.cumsum(0);                                          // group ends (buffer) [E]
  auto starts = ends - padded;                                           // group starts (buffer)
  auto first = counts.cumsum(0) - counts;                                // group starts (sorted rows)
  auto j = torch::arange(NK, sorted_expert.options());
  auto pos = starts.index_select(0, sorted_expert) + (j - first.index_select(0, sorted_expert));  // [NK]
  // The last group runs to R, so every buffer row belongs to a group: the unused rows at the end are padding
  // of the last expert (weight 0, finite input) rather than rows a grouped kernel leaves unwritten.
  ends.narrow(0, E - 1, 1).fill_(R);
  GroupedLayout g;
  g.offs = ends.to(torch::kInt32);
  // Chunks of the mean group length: G ≈ 2E partial products, none longer than an evenly loaded expert's.
  g.chunks = wgrad_chunks(g.offs, R, ((R + E - 1) / E + align - 1) / align * align);
  g.slot = torch::empty_like(pos).scatter_(0, order, pos);  // pair order[j] sits at buffer row pos[j]
  g.token = torch::zeros({R}, pos.options()).scatter_(0, pos, order.div(k, "floor"));
  g.pair = torch::full({R}, NK, pos.options()).scatter_(0, pos, order);
  g.rows = R;
  g.k = k;
  return g;
}

namespace {

// out[r] = src[idx[r]] in dtype: one kernel for bf16 out (kernels/grouped.h), else a cast and an index_select.
torch::Tensor gather_rows(const torch::Tensor& src, const torch::Tensor& idx, torch::Dtype dtype) {
#if PLEXUS_FUSED_KERNELS
  if (src.is_cuda() && dtype == torch::kBFloat16 && src.dim() == 2 && src.is_contiguous() &&
      (src.scalar_type() == torch::kFloat32 || src.scalar_type() == torch::kBFloat16) &&
      idx.scalar_type() == torch::kInt64) {
    auto i = idx.contiguous();
    auto out = torch::empty({i.size(0), src.size(1)}, src.options().dtype(dtype));
    const int rc = kernels::gather_rows_bf16(src.data_ptr(), src.scalar_type() == torch::kFloat32,
                                             i.data_ptr<int64_t>(), out.data_ptr(), i.size(0), src.size(1),
                                             c10::cuda::getCurrentCUDAStream().stream());
    PLEXUS_CHECK(rc == 0, "CUDA kernel gather_rows failed to launch (CUDA error {})", rc);
    return out;
  }
#endif
  return src.to(dtype).index_select(0, idx);
}

// out = x[token]; dx[t] = Σ_k dout[slot[t·K + k]] (each token fills exactly its K slots).
struct DispatchRows : torch::autograd::Function<DispatchRows> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& token,
                               const torch::Tensor& slot, int64_t k) {
    ctx->save_for_backward({slot});
    ctx->saved_data["k"] = k;
    return gather_rows(x, token, x.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto slot = ctx->get_saved_variables()[0];
    auto dx = gather_sum(dout[0], slot, ctx->saved_data["k"].toInt(), dout[0].scalar_type());
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// out[t] = Σ_k y[slot[t·K + k]] in out_dtype; dy[r] = dout[token[r]]. On padding rows (weight 0) that is
// token 0's gradient rather than 0: the row's SwiGLU output is multiplied by its weight 0 before W2, so its
// gradient reaches no weight, no token and no gate weight that is kept (buffer_weights drops the padding
// entry), and a gather needs no zero fill.
struct CombineRows : torch::autograd::Function<CombineRows> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& y, const torch::Tensor& slot,
                               const torch::Tensor& token, int64_t k, c10::ScalarType out_dtype) {
    ctx->save_for_backward({token});
    ctx->saved_data["dtype"] = static_cast<int64_t>(y.scalar_type());
    return gather_sum(y, slot, k, out_dtype);
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto token = ctx->get_saved_variables()[0];
    const auto dt = static_cast<c10::ScalarType>(ctx->saved_data["dtype"].toInt());
    auto dy = gather_rows(dout[0].contiguous(), token, dt);
    return {dy, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor dispatch_rows(const torch::Tensor& x, const GroupedLayout& g) {
  return DispatchRows::apply(x, g.token, g.slot, g.k);
}

torch::Tensor combine_rows(const torch::Tensor& y, const GroupedLayout& g, torch::Dtype out_dtype) {
  return CombineRows::apply(y, g.slot, g.token, g.k, out_dtype);
}

torch::Tensor buffer_weights(const torch::Tensor& weights, const GroupedLayout& g) {
  // Entry N·K of the extended vector is the padding rows' 0 (its gradient is dropped with it).
  auto w = torch::cat({weights.reshape({-1}), torch::zeros({1}, weights.options())});
  return w.index_select(0, g.pair);
}

torch::Tensor grouped_swiglu(const torch::Tensor& xp, const torch::Tensor& row_weight, const GroupedLayout& g,
                             const torch::Tensor& w13, const torch::Tensor& w2) {
  // g_p multiplies the hidden layer before W2, so the token's output is a plain sum of its K rows.
  auto product = [&](const torch::Tensor& x, const torch::Tensor& w) { return grouped_linear(x, w, g); };
  return grouped_linear(swiglu_hidden(xp, w13, row_weight, product), w2, g);
}

}  // namespace plexus::llm
