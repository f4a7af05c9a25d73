// Sync-free MoE dispatch through grouped GEMMs. See grouped_dispatch.h.
#include "plexus/llm/grouped_dispatch.h"

#include "plexus/core/error.h"

// at::_grouped_mm appeared in PyTorch 2.8 (CUDA, sm90+). Debian's LibTorch 1.13 (CPU builds) lacks it and
// takes the loop below.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8))
#define PLEXUS_HAVE_GROUPED_MM 1
#else
#define PLEXUS_HAVE_GROUPED_MM 0
#endif

namespace plexus::llm {

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

GroupedLayout grouped_layout(const torch::Tensor& sorted_expert, const torch::Tensor& counts, int64_t align) {
  const int64_t NK = sorted_expert.size(0), E = counts.size(0);
  auto padded = counts.add(align - 1).div(align, "floor").mul(align);  // ceil(count/A)·A      [E]
  auto ends = padded.cumsum(0);                                          // group ends (buffer) [E]
  auto starts = ends - padded;                                           // group starts (buffer)
  auto first = counts.cumsum(0) - counts;                                // group starts (sorted rows)
  auto j = torch::arange(NK, sorted_expert.options());
  auto pos = starts.index_select(0, sorted_expert) + (j - first.index_select(0, sorted_expert));
  return {pos, ends.to(torch::kInt32), NK + E * (align - 1)};
}

torch::Tensor grouped_swiglu(const torch::Tensor& xs, const GroupedLayout& g, const torch::Tensor& w1,
                             const torch::Tensor& w2, const torch::Tensor& w3) {
  const int64_t NK = xs.size(0);
  // src[p] = the sorted row that buffer row p holds, or NK (an appended zero row) for padding.
  auto src = torch::full({g.rows}, NK, g.pos.options());
  src.scatter_(0, g.pos, torch::arange(NK, g.pos.options()));
  auto xp = torch::cat({xs, torch::zeros({1, xs.size(1)}, xs.options())}).index_select(0, src);  // [R, C]
  auto h = torch::silu(grouped_mm(xp, w1.transpose(1, 2), g.offs)) * grouped_mm(xp, w3.transpose(1, 2), g.offs);
  return grouped_mm(h, w2.transpose(1, 2), g.offs).index_select(0, g.pos);  // [N·K, C] in sorted order
}

}  // namespace plexus::llm
