// Sync-free MoE dispatch: all routed experts' SwiGLU as three grouped GEMMs over expert-sorted rows.
//
// The sparse dispatch of MoeImpl::forward runs one small GEMM per expert, and to know the row counts it copies
// them to the host every layer (a device synchronisation per MoE layer and step). Here the counts stay on the
// device: the N·K (token, expert) rows, sorted by expert, are placed into a buffer of static size
// R = N·K + E·(A − 1) in which expert e's rows start at an offset aligned to A = 16 rows (the alignment the
// grouped-GEMM kernels want), padding rows are zero, and one grouped GEMM per projection multiplies each
// group of rows by its own expert's weight (torch's `_grouped_mm`, as torchtitan's MoE does on sm90):
//   H = silu(X_p W1_e^T) ⊙ (X_p W3_e^T),   Y_p = H W2_e^T      for the rows p of expert e.
// Every shape is static and no value leaves the device, so a step needs no host round trip here (and the
// step can be captured in a CUDA graph). The result equals the per-expert dispatch (tested on the CPU with
// the loop fallback of grouped_mm below).
#pragma once

#include <torch/torch.h>

namespace plexus::llm {

/// Whether this LibTorch has the grouped GEMM kernel (`at::_grouped_mm`, PyTorch ≥ 2.8 with CUDA).
bool have_grouped_mm();

/// Y[rows of group e] = X[rows of group e] · W[e] for groups ending at offs (cumulative, int32).
/// Shapes: x [R, k], w [E, k, n], offs [E] int32 (non-decreasing, ≤ R) → [R, n]; rows past offs[E−1] are 0.
/// On CUDA with have_grouped_mm(), bf16 and k, n multiples of 8: one `_grouped_mm` call (no host sync);
/// otherwise a loop over the groups that reads offs on the host (the CPU reference path).
torch::Tensor grouped_mm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& offs);

/// Rows of the expert-sorted buffer. `pos` [N·K] is the buffer row of each sorted (token, expert) pair and
/// `offs` [E] int32 the cumulative group ends; `rows` = R = N·K + E·(A−1) (static).
struct GroupedLayout {
  torch::Tensor pos;
  torch::Tensor offs;
  int64_t rows = 0;
};

/// Layout for sorted expert ids. Shapes: sorted_expert [N·K] int64 (non-decreasing), counts [E] int64 → layout.
/// Group e starts at the A-aligned offset Σ_{j<e} ceil(count_j / A)·A. Computed on the device.
GroupedLayout grouped_layout(const torch::Tensor& sorted_expert, const torch::Tensor& counts, int64_t align = 16);

/// SwiGLU of every routed expert on its rows, through the layout. Shapes: xs [N·K, C] (rows sorted by expert),
/// w1, w3 [E, I, C], w2 [E, C, I] (the experts' stacked weights, in the dtype to compute in) → [N·K, C].
torch::Tensor grouped_swiglu(const torch::Tensor& xs, const GroupedLayout& g, const torch::Tensor& w1,
                             const torch::Tensor& w2, const torch::Tensor& w3);

}  // namespace plexus::llm
