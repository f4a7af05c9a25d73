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
  g.slot = torch::empty_like(pos).scatter_(0, order, pos);  // pair order[j] sits at buffer row pos[j]
  g.token = torch::zeros({R}, pos.options()).scatter_(0, pos, order.div(k, "floor"));
  g.pair = torch::full({R}, NK, pos.options()).scatter_(0, pos, order);
  g.rows = R;
  g.k = k;
  return g;
}

namespace {

// out = x[token]; dx[t] = Σ_k dout[slot[t·K + k]] (each token fills exactly its K slots).
struct DispatchRows : torch::autograd::Function<DispatchRows> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& token,
                               const torch::Tensor& slot, int64_t k) {
    ctx->save_for_backward({slot});
    ctx->saved_data["k"] = k;
    return x.index_select(0, token);
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
    auto dy = dout[0].to(dt).index_select(0, token);
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
  auto product = [&](const torch::Tensor& x, const torch::Tensor& w) {
    return grouped_mm(x, w.transpose(1, 2), g.offs);
  };
  return grouped_mm(swiglu_hidden(xp, w13, row_weight, product), w2.transpose(1, 2), g.offs);
}

}  // namespace plexus::llm
