// AdamW on f32 master weights from bf16 gradients, writing the bf16 working copy of each master in the same
// pass (llm/shadow.h). Plain C++ header, like fused.h: the .cu file needs no LibTorch headers.
//
// Why: LibTorch's fused AdamW (torch.optim.AdamW(fused=True)) reads f32 gradients, and with a grad_scale it
// writes every gradient back as well; the bf16 forward then cast each master to bf16 again. For the 1B preset
// that was 10.2 ms of optimizer plus 4.9 ms of casts per 93 ms step on the H200 (docs/results.md, issue 19).
// Here each parameter costs 14 bytes read (p, m, v f32; g bf16) and 14 written (p, m, v; w bf16).
#pragma once

#include <cstdint>

namespace plexus::llm::kernels {

/// One tensor's update: n elements of each, contiguous, on the device.
struct AdamWSlice {
  float* p;        ///< f32 master weights (updated)
  const void* g;   ///< bf16 gradient
  float* m;        ///< f32 first moment (updated)
  float* v;        ///< f32 second moment (updated)
  void* w;         ///< bf16 copy of p, written after the update (round to nearest even)
  int64_t n;
};

/// AdamW (Loshchilov & Hutter 2019; the formulas of torch.optim.AdamW) on `count` slices, with the learning
/// rate, the step count t (already advanced to this step) and an optional gradient divisor s (the clip,
/// AdamW::clip_divisor; null = 1) read from device memory (f32 scalars), so a CUDA graph can replay it:
///   g ← g / s;  p ← p − lr·λ·p;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
///   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + ε);  w ← bf16(p).
/// λ = weight_decay for every slice. Vectorised 8 elements per thread where all five pointers are 16-byte
/// aligned. Returns the CUDA error code of the last launch (0 = success).
int adamw_bf16(const AdamWSlice* slices, int count, const float* lr, const float* step, const float* divisor,
               double beta1, double beta2, double eps, double weight_decay, void* stream);

}  // namespace plexus::llm::kernels
