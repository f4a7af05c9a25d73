// AdamW from bf16 gradients with bf16 copies written in the same pass. See adamw.h.
//
// Memory-bound: per element 28 bytes move and ~20 flops run. Each launch takes up to kSlicesPerLaunch slices as
// a kernel argument (no device-side table, so a CUDA graph captures it as it is); blockIdx.y picks the slice
// and the blocks along x stride over it, 8 elements per thread per iteration with 16-byte loads and stores.
#include "plexus/llm/kernels/adamw.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

namespace plexus::llm::kernels {

namespace {

constexpr int kSlicesPerLaunch = 32;  // 32 × 48 bytes of slices: well inside the 4 KB of kernel arguments
constexpr int kThreads = 256;
constexpr int kMaxBlocksPerSlice = 1024;

struct Batch {
  AdamWSlice s[kSlicesPerLaunch];
};

struct Coeffs {
  float lr_decay;   // lr·λ
  float step_size;  // lr / (1 − β1^t)
  float bc2_sqrt;   // sqrt(1 − β2^t)
  float inv_div;    // 1 / s
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps;  // 1 − β formed in f64, then rounded
};

__device__ __forceinline__ float adam_one(float p, float g, float& m, float& v, const Coeffs& c) {
  g *= c.inv_div;
  p -= c.lr_decay * p;
  m = c.beta1 * m + c.one_minus_beta1 * g;
  v = c.beta2 * v + c.one_minus_beta2 * g * g;
  return p - c.step_size * m / (sqrtf(v) / c.bc2_sqrt + c.eps);
}

__global__ void __launch_bounds__(kThreads) adamw_bf16_kernel(Batch b, const float* __restrict__ lr_p,
                                                              const float* __restrict__ step_p,
                                                              const float* __restrict__ div_p, double beta1,
                                                              double beta2, double eps, double wd) {
  const AdamWSlice s = b.s[blockIdx.y];
  // The scalars once per thread, in f64 as torch.optim's fused kernel forms them.
  const double lr = *lr_p, t = *step_p;
  Coeffs c;
  c.lr_decay = static_cast<float>(lr * wd);
  c.step_size = static_cast<float>(lr / (1.0 - pow(beta1, t)));
  c.bc2_sqrt = static_cast<float>(sqrt(1.0 - pow(beta2, t)));
  c.inv_div = div_p ? 1.f / *div_p : 1.f;
  c.beta1 = static_cast<float>(beta1), c.beta2 = static_cast<float>(beta2), c.eps = static_cast<float>(eps);
  c.one_minus_beta1 = static_cast<float>(1.0 - beta1), c.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  auto* g = static_cast<const __nv_bfloat16*>(s.g);
  auto* w = static_cast<__nv_bfloat16*>(s.w);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool aligned = ((reinterpret_cast<uintptr_t>(s.p) | reinterpret_cast<uintptr_t>(s.g) |
                         reinterpret_cast<uintptr_t>(s.m) | reinterpret_cast<uintptr_t>(s.v) |
                         reinterpret_cast<uintptr_t>(s.w)) & 15) == 0;
  const int64_t n8 = aligned ? s.n / 8 : 0;
  for (int64_t i = first; i < n8; i += stride) {
    float4 p4[2], m4[2], v4[2];
    p4[0] = reinterpret_cast<const float4*>(s.p)[2 * i], p4[1] = reinterpret_cast<const float4*>(s.p)[2 * i + 1];
    m4[0] = reinterpret_cast<const float4*>(s.m)[2 * i], m4[1] = reinterpret_cast<const float4*>(s.m)[2 * i + 1];
    v4[0] = reinterpret_cast<const float4*>(s.v)[2 * i], v4[1] = reinterpret_cast<const float4*>(s.v)[2 * i + 1];
    const uint4 graw = reinterpret_cast<const uint4*>(g)[i];
    const auto* g8 = reinterpret_cast<const __nv_bfloat16*>(&graw);
    float* pf = reinterpret_cast<float*>(p4);
    float* mf = reinterpret_cast<float*>(m4);
    float* vf = reinterpret_cast<float*>(v4);
    uint4 wraw;
    auto* w8 = reinterpret_cast<__nv_bfloat16*>(&wraw);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      pf[j] = adam_one(pf[j], __bfloat162float(g8[j]), mf[j], vf[j], c);
      w8[j] = __float2bfloat16_rn(pf[j]);
    }
    reinterpret_cast<float4*>(s.p)[2 * i] = p4[0], reinterpret_cast<float4*>(s.p)[2 * i + 1] = p4[1];
    reinterpret_cast<float4*>(s.m)[2 * i] = m4[0], reinterpret_cast<float4*>(s.m)[2 * i + 1] = m4[1];
    reinterpret_cast<float4*>(s.v)[2 * i] = v4[0], reinterpret_cast<float4*>(s.v)[2 * i + 1] = v4[1];
    reinterpret_cast<uint4*>(w)[i] = wraw;
  }
  for (int64_t i = n8 * 8 + first; i < s.n; i += stride) {  // the tail (or all of an unaligned slice)
    float m = s.m[i], v = s.v[i];
    const float p = adam_one(s.p[i], __bfloat162float(g[i]), m, v, c);
    s.p[i] = p, s.m[i] = m, s.v[i] = v;
    w[i] = __float2bfloat16_rn(p);
  }
}

}  // namespace

int adamw_bf16(const AdamWSlice* slices, int count, const float* lr, const float* step, const float* divisor,
               double beta1, double beta2, double eps, double weight_decay, void* stream) {
  for (int first = 0; first < count; first += kSlicesPerLaunch) {
    const int k = std::min(kSlicesPerLaunch, count - first);
    Batch b{};
    int64_t widest = 1;
    for (int i = 0; i < k; ++i) b.s[i] = slices[first + i], widest = std::max(widest, slices[first + i].n);
    const int64_t per_block = static_cast<int64_t>(kThreads) * 8;
    const auto bx = static_cast<unsigned>(std::min<int64_t>((widest + per_block - 1) / per_block, kMaxBlocksPerSlice));
    adamw_bf16_kernel<<<dim3(bx, static_cast<unsigned>(k)), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        b, lr, step, divisor, beta1, beta2, eps, weight_decay);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return static_cast<int>(e);
  }
  return 0;
}

}  // namespace plexus::llm::kernels
