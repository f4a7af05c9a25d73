// Fused forms of the training step's elementwise chains: MLA's RoPE and query/key assembly, the SwiGLU hidden
// layer, the f32 + bf16 residual add, RMSNorm (alone or fused with the residual add before it), the f32 ↔ bf16
// cast, the group-limited expert selection, the MoE gather-sum and the cross-entropy of the head's rows. Each
// function computes one expression. On CUDA tensors of the dtypes it names, when plexus was built with its kernels
// (src/plexus/llm/kernels/fused.h), it runs one kernel each way (inside an autograd function where gradients
// flow). Everywhere else (the CPU, f32 matmuls, LibTorch builds without a CUDA compiler) it runs the composite
// LibTorch expression it replaces, so CPU results are unchanged.
//
// Why: on a 1B-preset step on the H200 the GEMMs, attention and AdamW took 63 ms and the rest 79 ms, much of
// it RoPE on strided halves of q and k, the concatenations that rebuild q and k, SwiGLU's separate products,
// casts around the norms, top-k routing and mixed-dtype residual adds (docs/results.md, issue 19). Forward values
// of the fused RoPE and residual add equal the composite bit for bit (same f32 products, no FMA contraction); the
// others round once where the composite rounds at every step, so they agree within bf16 resolution (tests
// LlmFusedOps.*).
#pragma once

#include <functional>

#include <torch/torch.h>

namespace plexus::llm {

/// Whether this build has plexus's fused CUDA kernels (a CUDA LibTorch and a CUDA compiler at configure time).
bool have_fused_kernels();

/// MLA query with RoPE on its last d_r columns: [q_nope | rope(q_pe)] (DeepSeek-V3 report eq. 6–8).
/// q [B,T,H,d_n+d_r] (the wq_b product, any strides with a contiguous last dim), cos, sin [T, d_r/2] f32
/// → [B,T,H,d_n+d_r] in q's dtype, contiguous.
torch::Tensor rope_queries(const torch::Tensor& q, int64_t rope_dim, const torch::Tensor& cos,
                           const torch::Tensor& sin);

/// MLA keys: k[b,t,h] = [k_nope[b,t,h] | rope(k_pe[b,t])], the rotary key shared by all heads (eq. 3–4).
/// k_nope [B,T,H,d_n], k_pe [B,T,d_r] (before RoPE), cos, sin [T, d_r/2] f32 → [B,T,H,d_n+d_r] contiguous.
torch::Tensor rope_keys(const torch::Tensor& k_nope, const torch::Tensor& k_pe, const torch::Tensor& cos,
                        const torch::Tensor& sin);

/// RMSNorm y = x / sqrt(mean(x²) + ε) ⊙ g in f32, returned in out_dtype (Zhang & Sennrich 2019; model.py
/// RMSNorm). x [..., C] f32 or bf16 (rows may be strided, e.g. a split view), weight g [C] f32 → [..., C].
/// The fused path (C ≤ 1024) reads x once and writes y in out_dtype, so a bf16 consumer needs no cast kernel,
/// and its backward sums dg per warp in a fixed order instead of LibTorch's separate γ-gradient reduction.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::Dtype out_dtype);

/// x.to(dtype), whose gradient is the reverse cast. Between f32 and bf16 on the fused path, the bf16 → f32
/// direction (the forward of a widening, the backward of a narrowing such as every weight's cast to the matmul
/// dtype) runs a vectorised kernel instead of LibTorch's unvectorised casting copy; values are identical (both
/// directions are exact or round the same way).
torch::Tensor cast(const torch::Tensor& x, torch::Dtype dtype);

/// rms_norm(x, weight, eps, f32) and the same values in low_dtype, for a consumer that needs both (the MoE: its
/// gate scores in f32, its experts multiply in the matmul dtype). x [..., C] → ([..., C] f32, [..., C] low_dtype;
/// the same tensor when low_dtype is f32). Composite ops only: the training step gets both from add_rms_norm's
/// one kernel; this is its fallback for inputs that kernel does not take.
std::pair<torch::Tensor, torch::Tensor> rms_norm_both(const torch::Tensor& x, const torch::Tensor& weight,
                                                      double eps, torch::Dtype low_dtype);

/// The residual stream after a branch and its norm for the next sublayer: h = x + y, n = RMSNorm(h)·γ in
/// low_dtype, and with with_f32 also n_f32 in f32 (as rms_norm_both). x [..., C] f32, y [..., C] (the branch,
/// bf16 or f32) → h f32, n, n_f32 (undefined without with_f32). The fused path (CUDA, contiguous, bf16 low_dtype,
/// C ≤ 1024) is one kernel each way: the forward writes h and the norm in one pass, and the backward adds h's
/// gradient from the next residual to the norm's input gradient inside the norm's backward (no separate add,
/// no separate cast of the branch's gradient). Elsewhere: residual_add, then rms_norm / rms_norm_both.
struct AddNorm {
  torch::Tensor h, n, n_f32;
};
AddNorm add_rms_norm(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& weight, double eps,
                     torch::Dtype low_dtype, bool with_f32);

/// The residual stream plus a branch: x + y (x f32, y bf16 on the fused path; any dtypes elsewhere, promoted).
torch::Tensor residual_add(const torch::Tensor& x, const torch::Tensor& y);

/// product(x, W): x [..., C] times the weight W [..., out, C] (a matrix or per-expert stack) → [..., out].
using Product = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;

/// SwiGLU hidden layer h = silu(x W1ᵀ) ⊙ (x W3ᵀ) [⊙ w_row] (model.py MLP; the routed experts' gate weight
/// g_p when row_weight [R] is given). w13 = [W1; W3] [..., 2I, C] (W1 the first I rows; packed.h keeps it a
/// view) → h [..., I]. The fused path multiplies by w13 in one product and runs one kernel each way on its
/// [R, 2I] output; the composite path multiplies by each half.
torch::Tensor swiglu_hidden(const torch::Tensor& x, const torch::Tensor& w13, const torch::Tensor& row_weight,
                            const Product& product);

/// Sums of K gathered rows, out[t] = Σ_k y[slot[t·K + k]] accumulated in f32 and returned in out_dtype (no
/// autograd: the MoE combine's forward and the dispatch's backward, grouped_dispatch.cpp). y [R, C], slot [N·K]
/// int64 → [N, C]. The fused path reads each row once instead of writing the [N·K, C] gather and reducing it.
torch::Tensor gather_sum(const torch::Tensor& y, const torch::Tensor& slot, int64_t k, torch::Dtype out_dtype);

/// Group-limited top-K expert selection (DeepSeek-V3 report §2.1.2, node-limited routing; model.py Gate):
/// the E experts form G groups, a group scores the sum of its two largest selection values (top_two_sum,
/// sigmoid gates) or its largest (softmax gates), only the topk_groups best groups stay eligible, and each token
/// takes its K largest eligible values. sel [N, E] f32 (scores + bias, no gradient) → indices [N, K] int64 in
/// descending order of sel. The fused path (E ≤ 64) is one thread per token in place of five topk/scatter ops.
torch::Tensor select_experts(const torch::Tensor& sel, int64_t groups, int64_t topk_groups, int64_t k,
                             bool top_two_sum);

/// One tensor of an adamw_bf16 update: the f32 master p, its bf16 gradient g, the f32 moments m and v, and the
/// bf16 copy w written after the update. All contiguous, of one numel, on one CUDA device.
struct AdamWBf16Slice {
  torch::Tensor p, g, m, v, w;
};

/// AdamW from bf16 gradients that also writes each master's bf16 copy (kernels/adamw.h; shadow.h says why):
/// g ← g/s, p ← p − lr·λ·p, m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g², p ← p − lr/(1−β1^t) · m/(sqrt(v)/sqrt(1−β2^t) + ε),
/// w ← bf16(p), the formulas of torch.optim.AdamW. lr and the step count t ([] f32, t already advanced) and the
/// divisor s ([] f32 or undefined = 1) are read on the device, so the update can be captured in a CUDA graph.
/// Throws: Error(Internal) without the fused kernels (have_fused_kernels) or with a slice that breaks the above.
void adamw_bf16(const std::vector<AdamWBf16Slice>& slices, const torch::Tensor& lr, const torch::Tensor& step,
                const torch::Tensor& divisor, double beta1, double beta2, double eps, double weight_decay);

/// Cross-entropy of each row: loss[r] = −log softmax(logits[r])[target[r]] = lse[r] − logits[r, target[r]] with
/// lse[r] = log Σ_c exp(logits[r, c]), in f32; differentiable in logits, whose gradient is
/// (softmax(logits[r]) − onehot(target[r])) · dloss[r].
/// Shapes: logits [M, V] bf16 or f32, targets [M] int64 in [0, V) → loss [M] f32 (reduce it as the loss needs).
/// The fused path (CUDA bf16 logits with a contiguous last dim and plexus's kernels, kernels/cross_entropy.h)
/// reads the bf16 logits directly, one kernel each way, and returns the logits' gradient in bf16. Elsewhere (the
/// CPU, f32 logits, builds without the kernels): torch::nn::functional::cross_entropy(logits.to(f32), targets,
/// reduction none), whose target −100 (LibTorch's ignore_index) gives loss 0 and no gradient, as the kernel does.
/// Why: on the H200 a 1B-preset step (M = 16384, V = 8192) spent ~2.3 of 87 ms in the two heads' cast to f32,
/// log_softmax, nll, their backward passes, a zero fill and the gradient's cast back to bf16.
torch::Tensor cross_entropy_rows(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace plexus::llm
