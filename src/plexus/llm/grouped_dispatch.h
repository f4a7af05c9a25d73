// Sync-free MoE dispatch: all routed experts' SwiGLU as three grouped GEMMs over expert-sorted rows.
//
// The sparse dispatch of MoeImpl::forward runs one small GEMM per expert, and to know the row counts it copies
// them to the host every layer (a device synchronisation per MoE layer and step). Here the counts stay on the
// device: the N·K (token, expert) pairs, sorted by expert, are placed into a buffer of static size
// R = N·K + E·(A − 1) in which expert e's rows start at an offset aligned to A = 16 rows (the alignment the
// grouped-GEMM kernels want), and one grouped GEMM per projection multiplies each group of rows by its own
// expert's weight (torch's `_grouped_mm`, as torchtitan's MoE does on sm90):
//   H = silu(X_p W1_e^T) ⊙ (X_p W3_e^T) · g_p,   Y_p = H W2_e^T      for the rows p of expert e,
// with g_p the pair's gate weight (0 on padding rows), so that the token's output is the plain sum of its K
// rows: y_t = Σ_k Y_{slot(t,k)} (DeepSeek-V3 report, eq. 12: h'_t = u_t + Σ_i g_{i,t} FFN_i(u_t)).
//
// No atomics: moving rows into and out of the buffer is a gather both ways. Each token's row is copied to K
// buffer rows (dispatch_rows); its gradient is the sum of those K rows' gradients, gathered by the token's K
// slots. Each buffer row's output is read by exactly one (token, slot) pair or by none (combine_rows); its
// gradient is that pair's gradient, written by a scatter of unique indices. A gather whose autograd backward is
// index_add would instead sum with atomic adds, which on the GPU was the largest kernel of a 1B training step
// (docs/results.md, issue 19 profile).
//
// Every shape is static and no value leaves the device, so a step needs no host round trip here (and the
// step can be captured in a CUDA graph). The result equals the per-expert dispatch (tested on the CPU with
// the loop fallback of grouped_mm below).
#pragma once

#include <torch/torch.h>

namespace plexus::llm {

/// Whether this LibTorch has the grouped GEMM kernel (`at::_grouped_mm`, PyTorch ≥ 2.8 with CUDA).
bool have_grouped_mm();

/// Y[rows of group e] = X[rows of group e] · W[e] for groups ending at offs (cumulative, int32).
/// Shapes: x [R, k], w [E, k, n], offs [E] int32 (non-decreasing, ≤ R) → [R, n]; rows past offs[E−1] are 0
/// on the loop path and unspecified on the kernel path (no caller reads them).
/// On CUDA with have_grouped_mm(), bf16 and k, n multiples of 8: one `_grouped_mm` call (no host sync);
/// otherwise a loop over the groups that reads offs on the host (the CPU reference path).
torch::Tensor grouped_mm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& offs);

/// Row chunks of the expert groups for the weight gradient dW_e = Σ_{rows r of e} dY_rᵀ X_r. One K-grouped GEMM
/// over the expert groups runs as long as its heaviest expert allows: its tiles' loops are as long as the
/// expert's row count, and with the uneven loads of early training the two weight-gradient GEMMs of a 1B-preset
/// MoE layer took 1.5–2.6× their dgrad GEMMs of the same FLOPs (docs/results.md, issue 19). Cut into chunks of
/// at most L rows, each inside one group, every tile's loop is at most L long; dW_e is then the sum of its
/// chunks' products (segment_sum).
///
/// Chunk c covers buffer rows [offs[c−1], offs[c]) (offs[−1] = 0) of expert e(c); expert e's chunks are
/// first[e] .. first[e] + count[e] − 1, consecutive. Chunks past the last real one are empty. G = ceil(R/L) + E
/// (static: Σ_e ceil(len_e / L) < R/L + E).
struct WgradChunks {
  torch::Tensor offs;   ///< [G] int32: cumulative chunk ends
  torch::Tensor first;  ///< [E] int64: expert e's first chunk
  torch::Tensor count;  ///< [E] int64: expert e's chunk count, ceil(len_e / L)
  int64_t length = 0;   ///< L
};

/// Chunks of at most `length` rows of the groups ending at offs ([E] int32, cumulative, the last = rows).
/// Computed on the device (no host sync). length must be positive.
WgradChunks wgrad_chunks(const torch::Tensor& offs, int64_t rows, int64_t length);

/// out[e] = Σ_{c = first[e]}^{first[e]+count[e]−1} p[c], summed in f32, in p's dtype; 0 where count[e] = 0.
/// Shapes: p [G, n, k], first and count [E] int64 → [E, n, k]. A CUDA kernel for bf16 p where the fused
/// kernels are built; otherwise a loop that reads first and count on the host.
torch::Tensor segment_sum(const torch::Tensor& p, const torch::Tensor& first, const torch::Tensor& count);

/// The experts' weight gradient from their row chunks: dW[e] = Σ_{r in group e} dy[r]ᵀ x[r] as the segment_sum of
/// one K-grouped GEMM's chunk products (on the grouped-GEMM path; a loop over the chunks otherwise).
/// Shapes: dy [R, n], x [R, k] → [E, n, k].
torch::Tensor grouped_weight_grad(const torch::Tensor& dy, const torch::Tensor& x, const WgradChunks& chunks);

/// Where each (token, expert) pair lives in the expert-sorted buffer of R = N·K + E·(A−1) rows (static).
/// Pair p = t·K + k is token t's k-th selected expert (the row-major order of the gate's indices [N, K]).
struct GroupedLayout {
  torch::Tensor offs;   ///< [E] int32: cumulative group ends in the buffer
  WgradChunks chunks;   ///< the groups cut into chunks of about R/E rows, for the weight gradients
  torch::Tensor slot;   ///< [N·K] int64: buffer row of pair p
  torch::Tensor token;  ///< [R] int64: token whose row buffer row r holds (0 on padding rows, weighted by 0)
  torch::Tensor pair;   ///< [R] int64: pair held by buffer row r, or N·K on padding rows
  int64_t rows = 0;     ///< R
  int64_t k = 0;        ///< K, pairs per token
};

/// Layout of the pairs sorted by expert. Shapes: sorted_expert [N·K] int64 (non-decreasing), order [N·K]
/// int64 (order[j] = the pair at sorted position j), counts [E] int64 → layout. Group e starts at the
/// A-aligned offset Σ_{j<e} ceil(count_j / A)·A. Computed on the device (scatters of unique indices).
GroupedLayout grouped_layout(const torch::Tensor& sorted_expert, const torch::Tensor& order,
                             const torch::Tensor& counts, int64_t k, int64_t align = 16);

/// Y[rows of group e] = X[rows of group e] · W[e]ᵀ for weights kept as [E, n, k] (nn.Linear's layout, the
/// experts' stacks): grouped_mm(x, w.transpose(1, 2), g.offs), whose backward on the grouped-GEMM path forms
/// dX by one grouped GEMM and dW[e] as [E, n, k] by grouped_weight_grad over g.chunks. Same values as
/// autograd through grouped_mm up to summation order (dW in bf16 chunk sums). Shapes: x [R, k], w [E, n, k]
/// → [R, n].
torch::Tensor grouped_linear(const torch::Tensor& x, const torch::Tensor& w, const GroupedLayout& g);

/// Buffer rows of the tokens: out[r] = x[token[r]]. Backward without atomics: dx[t] = Σ_k dout[slot[t·K+k]].
/// Shapes: x [N, C] → [R, C].
torch::Tensor dispatch_rows(const torch::Tensor& x, const GroupedLayout& g);

/// Each token's output, the sum of its K buffer rows: out[t] = Σ_k y[slot[t·K+k]], summed in f32 and returned in
/// out_dtype. Backward without atomics: dy[r] = dout[token[r]] (on padding rows that is token 0's gradient,
/// harmless because those rows' weight 0 multiplies them before W2; see grouped_dispatch.cpp).
/// Shapes: y [R, C] → [N, C].
torch::Tensor combine_rows(const torch::Tensor& y, const GroupedLayout& g, torch::Dtype out_dtype);

/// The pairs' gate weights on their buffer rows, 0 on padding rows. Shapes: weights [N, K] → [R].
torch::Tensor buffer_weights(const torch::Tensor& weights, const GroupedLayout& g);

/// Weighted SwiGLU of every routed expert on its buffer rows (the H·g_p, Y_p above). Shapes: xp [R, C]
/// (dispatch_rows), row_weight [R] (buffer_weights), w13 [E, 2I, C] (each expert's [W1; W3]), w2 [E, C, I] (the
/// experts' stacked weights, in xp's dtype) → [R, C].
torch::Tensor grouped_swiglu(const torch::Tensor& xp, const torch::Tensor& row_weight, const GroupedLayout& g,
                             const torch::Tensor& w13, const torch::Tensor& w2);

}  // namespace plexus::llm
