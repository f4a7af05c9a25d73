// Fused CUDA kernels of the DeepSeek-V3 training step (bf16 activations, f32 arithmetic), built only where CMake
// finds a CUDA compiler next to a CUDA LibTorch (src/plexus/llm/kernels/fused.cu). This header is plain C++ with
// no torch or CUDA types, so the .cu file needs no LibTorch headers; src/plexus/llm/fused_ops.cpp wraps each
// kernel in an autograd function and keeps the composite LibTorch expression for every other device.
//
// Why: a 1B-preset training step spent 79 of its 142 ms in elementwise, copy and concatenation kernels, many of
// them on strided views (docs/results.md, issue 19). Each launcher below replaces a chain of such kernels with
// one pass over the data.
//
// Views: a [B, T, H, D] activation is given by its pointer and element strides (sb, st, sh) of its first three
// dims; its last dim is contiguous. Every pointer is device memory; `stream` is the cudaStream_t to launch on.
// Each launcher returns the CUDA error code of its launch (0 = success).
#pragma once

#include <cstdint>

namespace plexus::llm::kernels {

/// A [B, T, H, D] bf16 view with a contiguous last dim.
struct View4 {
  const void* data;
  int64_t sb, st, sh;
};

/// RoPE on the last `dr` of D columns, a copy of the first D − dr (MLA's query [q_nope | q_pe]):
///   out[..., D−dr+2i]   = x0·cos(t,i) − x1·sin(t,i),   out[..., D−dr+2i+1] = x0·sin(t,i) + x1·cos(t,i),
/// (x0, x1) = x[..., D−dr+2i], x[..., D−dr+2i+1] (adjacent pairs as DeepSeek's model.py apply_rotary_emb).
/// inverse = true rotates by −angle (the transpose), which is the backward of the forward.
/// x [B,T,H,D] bf16 view → out [B,T,H,D] bf16 contiguous; cos, sin [T, dr/2] f32 contiguous. D and dr even.
int rope_tail(View4 x, void* out, int64_t B, int64_t T, int64_t H, int64_t D, int64_t dr, const float* cos,
              const float* sin, bool inverse, void* stream);

/// MLA's keys: k[b,t,h] = [k_nope[b,t,h] | rope(k_pe[b,t])], the one rotary key shared by every head.
/// k_nope [B,T,H,dn] bf16 view, k_pe [B,T,dr] bf16 given by (pointer, sb, st) → out [B,T,H,dn+dr] contiguous.
int mla_keys(View4 k_nope, const void* k_pe, int64_t pe_sb, int64_t pe_st, void* out, int64_t B, int64_t T,
             int64_t H, int64_t dn, int64_t dr, const float* cos, const float* sin, void* stream);

/// Backward of mla_keys: dk_nope = dk[..., :dn] (contiguous [B,T,H,dn]) and
/// dk_pe[b,t] = rope⁻¹(Σ_h dk[b,t,h,dn:]) (contiguous [B,T,dr], the head sum in f32). dk [B,T,H,dn+dr] view.
int mla_keys_backward(View4 dk, void* dk_nope, void* dk_pe, int64_t B, int64_t T, int64_t H, int64_t dn,
                      int64_t dr, const float* cos, const float* sin, void* stream);

/// out = x + y with x f32 and y bf16, in f32 (the residual stream plus a bf16 branch): n elements, contiguous.
int add_f32_bf16(const float* x, const void* y, float* out, int64_t n, void* stream);

/// out = x widened from bf16 to f32 (exact), n contiguous elements; 8 per thread where both pointers are 16-byte
/// aligned. LibTorch's bf16 → f32 copy runs an unvectorised casting loop (3.9 ms of a 1B-preset step, mostly
/// the weight gradients' casts; docs/results.md, issue 19).
int bf16_to_f32(const void* x, float* out, int64_t n, void* stream);

/// Weighted SwiGLU of the fused gate/up product: with a = ab[:, :I] and b = ab[:, I:] (ab = x [W1; W3]ᵀ),
/// h[r, c] = silu(a[r, c]) · b[r, c] · w[r] in f32, stored bf16. ab [R, 2I] bf16 contiguous, w [R] f32 or null
/// (weight 1), h [R, I] contiguous. I must be a multiple of 8 and ab 16-byte aligned (8 bf16 per load).
int swiglu(const void* ab, const float* w, void* h, int64_t R, int64_t I, void* stream);

/// Backward of swiglu for dh [R, I] contiguous: d_ab = [dh·w·b·silu'(a) | dh·w·silu(a)] (bf16 [R, 2I]) and, when
/// w is given, dw[r] = Σ_c dh·silu(a)·b (f32 [R]), with silu'(a) = σ(a)(1 + a(1 − σ(a))). Alignment as swiglu.
int swiglu_backward(const void* dh, const void* ab, const float* w, void* d_ab, float* dw, int64_t R, int64_t I,
                    void* stream);

/// Sums of K gathered rows: out[t] = Σ_k y[slot[t·K + k]] in f32, stored f32 or bf16 (out_bf16). y [R, C] bf16
/// contiguous, slot [N·K] int64, out [N, C] contiguous. C a multiple of 8 and y 16-byte aligned. The MoE
/// combine (a token's K expert outputs) and the backward of the dispatch (a token's K slot gradients).
int gather_sum(const void* y, const int64_t* slot, void* out, bool out_bf16, int64_t N, int64_t K, int64_t C,
               void* stream);

/// Widest row rms_norm handles (32 columns per lane of a warp, held in registers).
constexpr int64_t kNormMaxCols = 1024;

/// RMSNorm of N rows (Zhang & Sennrich 2019; model.py RMSNorm): y = x · r · γ with r = rsqrt(mean(x²) + eps),
/// one warp per row, in f32. x [N, C] with row stride ldx (elements), f32 or bf16 (x_bf16); γ [C] f32; y [N, C]
/// contiguous, f32 or bf16 (y_bf16); y16, when not null, a second [N, C] contiguous output receiving y in bf16
/// (for consumers that want both precisions); rstd [N] f32 receives r for the backward. C ≤ kNormMaxCols.
/// Residual form (res not null; x must be f32): the normed row is h = x + res, res [N, C] contiguous bf16
/// (res_bf16) or f32, and h [N, C] f32 contiguous receives it (the residual stream after a branch).
int rms_norm(const void* x, int64_t ldx, bool x_bf16, const float* gamma, void* y, bool y_bf16, void* y16,
             float* rstd, int64_t N, int64_t C, float eps, void* stream, const void* res = nullptr,
             bool res_bf16 = false, float* h = nullptr);

/// Rows of γ-gradient partial sums rms_norm_backward writes (its warps); their column sums are dγ.
int64_t rms_norm_partials(int64_t N);

/// Backward of rms_norm: dx = r·γ·dy − x·r³·(Σ_c dy·γ·x)/C ([N, C] contiguous, x's dtype) and
/// dγ_partial [rms_norm_partials(N), C] f32 whose column sums are dγ = Σ_rows dy·x·r (a fixed order: each warp
/// sums its own rows, so the result is deterministic). dy [N, C] contiguous, f32 or bf16 (dy_bf16); dy16, when not
/// null, the bf16 [N, C] contiguous gradient of the y16 output, added to dy. Residual form (x = h, f32): dh, when
/// not null, is h's gradient from its other use ([N, C] f32 contiguous), added to dx (which is then the gradient
/// of both x and res); dres16, when not null, receives dx in bf16 (the gradient of a bf16 res).
int rms_norm_backward(const void* dy, bool dy_bf16, const void* dy16, const void* x, int64_t ldx, bool x_bf16,
                      const float* gamma, const float* rstd, void* dx, float* dgamma_partial, int64_t N, int64_t C,
                      void* stream, const float* dh = nullptr, void* dres16 = nullptr);

/// Largest expert count gate_select handles (one thread per token keeps a token's scores in registers).
constexpr int64_t kGateMaxExperts = 64;

/// DeepSeek-V3's group-limited top-K routing of N tokens (model.py Gate): over sel [N, E] f32 contiguous
/// (scores + bias), each of G groups of E/G experts is scored by the sum of its top two (top_two_sum) or by its
/// maximum, the topk_groups best groups are kept, and idx [N, K] int64 receives the K largest selection values
/// of the kept experts in descending order (a strict ">" scan, so ties go to the lower index). E ≤ kGateMaxExperts.
int gate_select(const float* sel, int64_t* idx, int64_t N, int64_t E, int64_t G, int64_t topk_groups, int64_t K,
                bool top_two_sum, void* stream);

}  // namespace plexus::llm::kernels
