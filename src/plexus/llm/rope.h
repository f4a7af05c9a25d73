// Rotary position embedding on adjacent pairs, with the YaRN frequency correction.
//
// f_i = θ^(-2i/d_r), i < d_r/2. Pair (x_2i, x_2i+1) at position p is rotated by the angle p·f_i, i.e. treated
// as the complex number x_2i + i·x_2i+1 and multiplied by e^{i p f_i} (interleaved RoPE, not rotate-half).
// YaRN (only when max_seq_len > original_seq_len): with corr(r) = d_r·ln(L_orig/(2π r))/(2 ln θ),
// low = max(⌊corr(β_fast)⌋, 0), high = min(⌈corr(β_slow)⌉, d_r-1), ramp_i = clamp((i-low)/(high-low), 0, 1),
// f_i' = f_i·(1-ramp_i) + (f_i/s)·ramp_i.
// Source: DeepSeek-V3 inference/model.py precompute_freqs_cis / apply_rotary_emb; V3 report §4.3.
#pragma once

#include <torch/torch.h>

#include "plexus/llm/config.h"

namespace plexus::llm {

/// cos and sin tables of the rotation angles.
struct RopeTables {
  torch::Tensor cos;  ///< [max_seq_len, d_r/2] f32
  torch::Tensor sin;  ///< [max_seq_len, d_r/2] f32
};

/// The (possibly YaRN-corrected) frequencies f_i. Shapes: → [d_r/2] f64. Source: model.py.
torch::Tensor rope_frequencies(const ModelArgs& a);

/// Angle tables for positions 0..max_seq_len-1. Shapes: → 2 × [max_seq_len, d_r/2] f32.
RopeTables precompute_rope(const ModelArgs& a);

/// Rotate adjacent pairs of the last dim of `x` by position. `cos`/`sin` are already sliced to x's T
/// positions. Computed in f32, returned in x's dtype.
/// Shapes: x [B,T,H,d_r] (H may be 1), cos/sin [T, d_r/2] → [B,T,H,d_r].
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace plexus::llm
