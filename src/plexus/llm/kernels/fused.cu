// Fused CUDA kernels of the DeepSeek-V3 training step. See fused.h for what each computes.
//
// The elementwise ones are memory-bound: a thread moves bf16 pairs (RoPE, keys; one block per token) or 8 bf16
// (SwiGLU, gather-sum, bf16 → f32 cast; 16-byte loads) and does the arithmetic in f32; RMSNorm (optionally after a
// residual add) and the SwiGLU backward use a warp per row, RMSNorm with 8 columns per lane where the width allows,
// expert selection a thread per token. The RoPE products are written with __fmul_rn/__fadd_rn/__fsub_rn so
// that nvcc does not fuse them into FMAs: the forward then rounds exactly as LibTorch's separate mul/sub kernels do
// (the composite path in fused_ops.cpp), so the fused and composite forwards are bit-identical on the GPU.
#include "plexus/llm/kernels/fused.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

namespace plexus::llm::kernels {

namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n, int per_block = kThreads) {
  return static_cast<unsigned>((n + per_block - 1) / per_block);
}

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

__device__ __forceinline__ float2 rotate(float x0, float x1, float c, float s) {
  // (x0 + i x1)(c + i s); s < 0 is the inverse rotation.
  return make_float2(__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)), __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c)));
}

__device__ __forceinline__ __nv_bfloat162 load2(const __nv_bfloat16* base, int64_t off) {
  return *reinterpret_cast<const __nv_bfloat162*>(base + off);
}

// One block per token (b, t): its threads walk the token's H·D/2 column pairs with 32-bit index arithmetic
// (64-bit division per element made the first version 3–4× slower than the memory allows).
__global__ void rope_tail_kernel(const __nv_bfloat16* __restrict__ x, int64_t sb, int64_t st, int64_t sh,
                                 __nv_bfloat16* __restrict__ out, int64_t T, int H, int D, int dr,
                                 const float* __restrict__ cos, const float* __restrict__ sin, float sign) {
  const int64_t bt = blockIdx.x, b = bt / T, t = bt % T;
  const int half = D / 2, first_rot = (D - dr) / 2;
  const __nv_bfloat16* row = x + b * sb + t * st;
  __nv_bfloat16* dst = out + bt * H * D;
  for (int i = threadIdx.x; i < H * half; i += blockDim.x) {
    const int h = i / half, j = i % half;
    const auto v = __bfloat1622float2(load2(row, h * sh + 2 * j));
    float2 y = v;
    if (j >= first_rot) {
      const int64_t k = t * (dr / 2) + (j - first_rot);
      y = rotate(v.x, v.y, cos[k], sign * sin[k]);
    }
    *reinterpret_cast<__nv_bfloat162*>(dst + 2 * i) = __floats2bfloat162_rn(y.x, y.y);
  }
}

__global__ void mla_keys_kernel(const __nv_bfloat16* __restrict__ kn, int64_t sb, int64_t st, int64_t sh,
                                const __nv_bfloat16* __restrict__ pe, int64_t pe_sb, int64_t pe_st,
                                __nv_bfloat16* __restrict__ out, int64_t T, int H, int dn, int dr,
                                const float* __restrict__ cos, const float* __restrict__ sin) {
  const int64_t bt = blockIdx.x, b = bt / T, t = bt % T;
  const int half = (dn + dr) / 2;
  const __nv_bfloat16* row = kn + b * sb + t * st;
  const __nv_bfloat16* pe_row = pe + b * pe_sb + t * pe_st;
  __nv_bfloat16* dst = out + bt * H * (dn + dr);
  for (int i = threadIdx.x; i < H * half; i += blockDim.x) {
    const int h = i / half, j = i % half;
    float2 y;
    if (2 * j < dn) {
      y = __bfloat1622float2(load2(row, h * sh + 2 * j));
    } else {
      const int p = j - dn / 2;  // rotary pair
      const auto v = __bfloat1622float2(load2(pe_row, 2 * p));
      const int64_t k = t * (dr / 2) + p;
      y = rotate(v.x, v.y, cos[k], sin[k]);
    }
    *reinterpret_cast<__nv_bfloat162*>(dst + 2 * i) = __floats2bfloat162_rn(y.x, y.y);
  }
}

// Per token: the threads copy the H·d_n/2 nope pairs, then d_r/2 of them each sum one rotary pair over the heads
// and rotate it back.
__global__ void mla_keys_backward_kernel(const __nv_bfloat16* __restrict__ dk, int64_t sb, int64_t st, int64_t sh,
                                         __nv_bfloat16* __restrict__ dkn, __nv_bfloat16* __restrict__ dpe, int64_t T,
                                         int H, int dn, int dr, const float* __restrict__ cos,
                                         const float* __restrict__ sin) {
  const int64_t bt = blockIdx.x, b = bt / T, t = bt % T;
  const __nv_bfloat16* row = dk + b * sb + t * st;
  for (int i = threadIdx.x; i < H * (dn / 2); i += blockDim.x) {
    const int h = i / (dn / 2), j = i % (dn / 2);
    *reinterpret_cast<__nv_bfloat162*>(dkn + bt * H * dn + 2 * i) = load2(row, h * sh + 2 * j);
  }
  for (int p = threadIdx.x; p < dr / 2; p += blockDim.x) {
    float g0 = 0.f, g1 = 0.f;
    for (int h = 0; h < H; ++h) {
      const auto v = __bfloat1622float2(load2(row, h * sh + dn + 2 * p));
      g0 += v.x;
      g1 += v.y;
    }
    const int64_t k = t * (dr / 2) + p;
    const float2 y = rotate(g0, g1, cos[k], -sin[k]);
    *reinterpret_cast<__nv_bfloat162*>(dpe + bt * dr + 2 * p) = __floats2bfloat162_rn(y.x, y.y);
  }
}

__global__ void add_f32_bf16_vec_kernel(const float4* __restrict__ x, const uint2* __restrict__ y,
                                        float4* __restrict__ out, int64_t n4) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n4) return;
  const float4 a = x[i];
  const uint2 raw = y[i];
  const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
  const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
  out[i] = make_float4(a.x + lo.x, a.y + lo.y, a.z + hi.x, a.w + hi.y);
}

__global__ void add_f32_bf16_kernel(const float* __restrict__ x, const __nv_bfloat16* __restrict__ y,
                                    float* __restrict__ out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = x[i] + __bfloat162float(y[i]);
}

// 8 bf16 → 8 f32 per thread (one 16-byte load, two 16-byte stores); the scalar kernel takes the tail.
__global__ void bf16_to_f32_vec_kernel(const uint4* __restrict__ x, float4* __restrict__ out, int64_t n8) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n8) return;
  const uint4 raw = x[i];
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
  const float2 a = __bfloat1622float2(h[0]), b = __bfloat1622float2(h[1]), c = __bfloat1622float2(h[2]),
               d = __bfloat1622float2(h[3]);
  out[2 * i] = make_float4(a.x, a.y, b.x, b.y);
  out[2 * i + 1] = make_float4(c.x, c.y, d.x, d.y);
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16* __restrict__ x, float* __restrict__ out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __bfloat162float(x[i]);
}

// 8 bf16 in one 16-byte word.
struct Pack8 {
  float v[8];
  __device__ __forceinline__ void load(const __nv_bfloat16* p) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const auto* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __bfloat1622float2(h[k]);
      v[2 * k] = f.x;
      v[2 * k + 1] = f.y;
    }
  }
  __device__ __forceinline__ void store(__nv_bfloat16* p) const {
    uint4 raw;
    auto* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    *reinterpret_cast<uint4*>(p) = raw;
  }
};

// One block per token; each thread sums 8 columns of the token's K rows.
template <typename TO>
__global__ void gather_sum_kernel(const __nv_bfloat16* __restrict__ y, const int64_t* __restrict__ slot,
                                  TO* __restrict__ out, int K, int C) {
  const int64_t t = blockIdx.x;
  for (int c = threadIdx.x * 8; c < C; c += blockDim.x * 8) {
    float acc[8] = {};
    for (int k = 0; k < K; ++k) {
      Pack8 v;
      v.load(y + slot[t * K + k] * C + c);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[e] += v.v[e];
    }
    if constexpr (sizeof(TO) == 2) {
      Pack8 o;
#pragma unroll
      for (int e = 0; e < 8; ++e) o.v[e] = acc[e];
      o.store(reinterpret_cast<__nv_bfloat16*>(out) + t * C + c);
    } else {
      auto* o = reinterpret_cast<float4*>(reinterpret_cast<float*>(out) + t * C + c);
      o[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
      o[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
    }
  }
}

__device__ __forceinline__ float sigmoid(float a) { return 1.f / (1.f + expf(-a)); }

__global__ void swiglu_kernel(const __nv_bfloat16* __restrict__ ab, const float* __restrict__ w,
                              __nv_bfloat16* __restrict__ h, int64_t R, int64_t I) {
  const int64_t per_row = I / 8, total = R * per_row;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= total) return;
  const int64_t r = idx / per_row, c = (idx % per_row) * 8;
  Pack8 a, b, y;
  a.load(ab + r * 2 * I + c);
  b.load(ab + r * 2 * I + I + c);
  const float wr = w ? w[r] : 1.f;
#pragma unroll
  for (int k = 0; k < 8; ++k) y.v[k] = a.v[k] * sigmoid(a.v[k]) * b.v[k] * wr;
  y.store(h + r * I + c);
}

// One warp per row: the lanes stride over the row's 8-column chunks and reduce dw with shuffles.
__global__ void swiglu_backward_kernel(const __nv_bfloat16* __restrict__ dh, const __nv_bfloat16* __restrict__ ab,
                                       const float* __restrict__ w, __nv_bfloat16* __restrict__ d_ab,
                                       float* __restrict__ dw, int64_t R, int64_t I) {
  const int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (r >= R) return;
  const float wr = w ? w[r] : 1.f;
  float acc = 0.f;
  for (int64_t c = lane * 8; c < I; c += 32 * 8) {
    Pack8 g, a, b, da, db;
    g.load(dh + r * I + c);
    a.load(ab + r * 2 * I + c);
    b.load(ab + r * 2 * I + I + c);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const float s = sigmoid(a.v[k]), silu = a.v[k] * s, gw = g.v[k] * wr;
      da.v[k] = gw * b.v[k] * s * (1.f + a.v[k] * (1.f - s));
      db.v[k] = gw * silu;
      acc += g.v[k] * silu * b.v[k];
    }
    da.store(d_ab + r * 2 * I + c);
    db.store(d_ab + r * 2 * I + I + c);
  }
  if (dw) {
    for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) dw[r] = acc;
  }
}

// One thread per token: its E ≤ 64 selection values stay in registers.
__global__ void gate_select_kernel(const float* __restrict__ sel, int64_t* __restrict__ idx, int64_t N, int E, int G,
                                   int topk_groups, int K, bool top_two_sum) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  float v[kGateMaxExperts];
  for (int e = 0; e < E; ++e) v[e] = sel[n * E + e];
  if (G > 1) {
    const int per = E / G;
    float gs[kGateMaxExperts];
    for (int g = 0; g < G; ++g) {
      float m1 = -INFINITY, m2 = -INFINITY;  // the group's largest two
      for (int e = g * per; e < (g + 1) * per; ++e) {
        if (v[e] > m1) {
          m2 = m1;
          m1 = v[e];
        } else if (v[e] > m2) {
          m2 = v[e];
        }
      }
      gs[g] = top_two_sum ? (per >= 2 ? m1 + m2 : m1) : m1;
    }
    bool keep[kGateMaxExperts] = {};
    for (int k = 0; k < topk_groups; ++k) {
      int best = -1;
      for (int g = 0; g < G; ++g)
        if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
      keep[best] = true;
    }
    for (int e = 0; e < E; ++e)
      if (!keep[e / per]) v[e] = -INFINITY;
  }
  uint64_t taken = 0;  // E ≤ 64 bits
  for (int k = 0; k < K; ++k) {
    int best = -1;
    for (int e = 0; e < E; ++e)
      if (!((taken >> e) & 1u) && (best < 0 || v[e] > v[best])) best = e;
    taken |= uint64_t{1} << best;
    idx[n * K + k] = best;
  }
}

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

constexpr int kNormPerLane = static_cast<int>(kNormMaxCols / 32);
constexpr int kNormBlocks = 264;  // backward: 2 blocks of 8 warps per H200 multiprocessor (132)

// The residual forms (add_rms_norm) pass res16 or res32 (a branch added to x first) and h (x + branch, f32).
template <typename TX, typename TY>
__global__ void rms_norm_kernel(const TX* __restrict__ x, int64_t ldx, const __nv_bfloat16* __restrict__ res16,
                                const float* __restrict__ res32, float* __restrict__ h, const float* __restrict__ g,
                                TY* __restrict__ y, __nv_bfloat16* __restrict__ y16, float* __restrict__ rstd,
                                int64_t N, int C, float eps) {
  const int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (r >= N) return;
  float v[kNormPerLane];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < kNormPerLane; ++k) {
    const int c = lane + 32 * k;
    v[k] = c < C ? to_f(x[r * ldx + c]) : 0.f;
    if (c < C && res16 != nullptr) v[k] += __bfloat162float(res16[r * C + c]);
    if (c < C && res32 != nullptr) v[k] += res32[r * C + c];
    if (c < C && h != nullptr) h[r * C + c] = v[k];
    ss += v[k] * v[k];
  }
  const float rs = rsqrtf(warp_sum(ss) / static_cast<float>(C) + eps);
  if (lane == 0) rstd[r] = rs;
#pragma unroll
  for (int k = 0; k < kNormPerLane; ++k) {
    const int c = lane + 32 * k;
    if (c < C) {
      const float out = v[k] * rs * g[c];
      y[r * C + c] = from_f<TY>(out);
      if (y16 != nullptr) y16[r * C + c] = __float2bfloat16_rn(out);
    }
  }
}

// The residual form adds dh (the gradient of h from its later use) to dx and writes a bf16 copy to dres16.
template <typename TX, typename TD>
__global__ void rms_norm_backward_kernel(const TD* __restrict__ dy, const __nv_bfloat16* __restrict__ dy16,
                                         const TX* __restrict__ x, int64_t ldx, const float* __restrict__ g,
                                         const float* __restrict__ rstd, const float* __restrict__ dh,
                                         TX* __restrict__ dx, __nv_bfloat16* __restrict__ dres16,
                                         float* __restrict__ partial, int64_t N, int C) {
  // The output's gradient is dy, plus dy16 where the norm also wrote a bf16 copy (that copy's gradient).
  auto grad = [&](int64_t i) { return to_f(dy[i]) + (dy16 != nullptr ? __bfloat162float(dy16[i]) : 0.f); };
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  float acc[kNormPerLane];
#pragma unroll
  for (int k = 0; k < kNormPerLane; ++k) acc[k] = 0.f;
  // Two passes over each row (the second reads it back from L1): only the γ sums stay in registers.
  for (int64_t r = warp; r < N; r += warps) {
    float s = 0.f;
    for (int c = lane; c < C; c += 32) s += grad(r * C + c) * g[c] * to_f(x[r * ldx + c]);
    const float rs = rstd[r], coef = rs * rs * rs * warp_sum(s) / static_cast<float>(C);
#pragma unroll
    for (int k = 0; k < kNormPerLane; ++k) {
      const int c = lane + 32 * k;
      if (c < C) {
        const float v = to_f(x[r * ldx + c]), d = grad(r * C + c);
        const float out = rs * g[c] * d - v * coef + (dh != nullptr ? dh[r * C + c] : 0.f);
        dx[r * C + c] = from_f<TX>(out);
        if (dres16 != nullptr) dres16[r * C + c] = __float2bfloat16_rn(out);
        acc[k] += d * v * rs;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < kNormPerLane; ++k) {
    const int c = lane + 32 * k;
    if (c < C) partial[warp * C + c] = acc[k];
  }
}

// ---- RMSNorm, vectorised: each lane moves 8 consecutive columns per 16-byte (bf16) or 2×16-byte (f32) access
// and keeps its whole share of the row in registers, so the backward reads every input once. Used when C is a
// multiple of 256 (32 lanes × 8) and every row starts 16-byte aligned; the kernels above take the rest.
constexpr int kVecChunks = static_cast<int>(kNormMaxCols / 256);

__device__ __forceinline__ void load8(const float* p, float* v) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float* v) {
  Pack8 t;
  t.load(p);
#pragma unroll
  for (int j = 0; j < 8; ++j) v[j] = t.v[j];
}
__device__ __forceinline__ void store8(float* p, const float* v) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void store8(__nv_bfloat16* p, const float* v) {
  Pack8 t;
#pragma unroll
  for (int j = 0; j < 8; ++j) t.v[j] = v[j];
  t.store(p);
}

template <typename TX, typename TY>
__global__ void rms_norm_vec_kernel(const TX* __restrict__ x, int64_t ldx, const __nv_bfloat16* __restrict__ res16,
                                    const float* __restrict__ res32, float* __restrict__ h,
                                    const float* __restrict__ g, TY* __restrict__ y, __nv_bfloat16* __restrict__ y16,
                                    float* __restrict__ rstd, int64_t N, int C, float eps) {
  const int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32, chunks = C / 256;
  if (r >= N) return;
  float v[kVecChunks][8];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < kVecChunks; ++k) {
    if (k >= chunks) break;
    const int c = k * 256 + lane * 8;
    load8(x + r * ldx + c, v[k]);
    float t[8];
    if (res16 != nullptr) {
      load8(res16 + r * C + c, t);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[k][j] += t[j];
    }
    if (res32 != nullptr) {
      load8(res32 + r * C + c, t);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[k][j] += t[j];
    }
    if (h != nullptr) store8(h + r * C + c, v[k]);
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[k][j] * v[k][j];
  }
  const float rs = rsqrtf(warp_sum(ss) / static_cast<float>(C) + eps);
  if (lane == 0) rstd[r] = rs;
#pragma unroll
  for (int k = 0; k < kVecChunks; ++k) {
    if (k >= chunks) break;
    const int c = k * 256 + lane * 8;
    float gg[8], o[8];
    load8(g + c, gg);
#pragma unroll
    for (int j = 0; j < 8; ++j) o[j] = v[k][j] * rs * gg[j];
    store8(y + r * C + c, o);
    if (y16 != nullptr) store8(y16 + r * C + c, o);
  }
}

template <typename TX, typename TD>
__global__ void __launch_bounds__(kThreads, 2) rms_norm_backward_vec_kernel(const TD* __restrict__ dy, const __nv_bfloat16* __restrict__ dy16,
                                             const TX* __restrict__ x, int64_t ldx, const float* __restrict__ g,
                                             const float* __restrict__ rstd, const float* __restrict__ dh,
                                             TX* __restrict__ dx, __nv_bfloat16* __restrict__ dres16,
                                             float* __restrict__ partial, int64_t N, int C) {
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int lane = threadIdx.x % 32, chunks = C / 256;
  float acc[kVecChunks][8];
#pragma unroll
  for (int k = 0; k < kVecChunks; ++k)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[k][j] = 0.f;
  for (int64_t r = warp; r < N; r += warps) {
    float v[kVecChunks][8], d[kVecChunks][8];
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < kVecChunks; ++k) {
      if (k >= chunks) break;
      const int c = k * 256 + lane * 8;
      float gg[8];
      load8(x + r * ldx + c, v[k]);
      load8(dy + r * C + c, d[k]);
      if (dy16 != nullptr) {
        float t[8];
        load8(dy16 + r * C + c, t);
#pragma unroll
        for (int j = 0; j < 8; ++j) d[k][j] += t[j];
      }
      load8(g + c, gg);
#pragma unroll
      for (int j = 0; j < 8; ++j) s += d[k][j] * gg[j] * v[k][j];
    }
    const float rs = rstd[r], coef = rs * rs * rs * warp_sum(s) / static_cast<float>(C);
#pragma unroll
    for (int k = 0; k < kVecChunks; ++k) {
      if (k >= chunks) break;
      const int c = k * 256 + lane * 8;
      float gg[8], o[8], e[8];
      load8(g + c, gg);
      if (dh != nullptr) {
        load8(dh + r * C + c, e);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) e[j] = 0.f;
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        o[j] = rs * gg[j] * d[k][j] - v[k][j] * coef + e[j];
        acc[k][j] += d[k][j] * v[k][j] * rs;
      }
      store8(dx + r * C + c, o);
      if (dres16 != nullptr) store8(dres16 + r * C + c, o);
    }
  }
#pragma unroll
  for (int k = 0; k < kVecChunks; ++k) {
    if (k >= chunks) break;
    store8(partial + warp * C + k * 256 + lane * 8, acc[k]);
  }
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

inline int launched() { return static_cast<int>(cudaGetLastError()); }

}  // namespace

int rope_tail(View4 x, void* out, int64_t B, int64_t T, int64_t H, int64_t D, int64_t dr, const float* cos,
              const float* sin, bool inverse, void* stream) {
  if (B * T * H * D == 0) return 0;
  rope_tail_kernel<<<static_cast<unsigned>(B * T), kThreads, 0, as_stream(stream)>>>(
      static_cast<const __nv_bfloat16*>(x.data), x.sb, x.st, x.sh, static_cast<__nv_bfloat16*>(out), T,
      static_cast<int>(H), static_cast<int>(D), static_cast<int>(dr), cos, sin, inverse ? -1.f : 1.f);
  return launched();
}

int mla_keys(View4 k_nope, const void* k_pe, int64_t pe_sb, int64_t pe_st, void* out, int64_t B, int64_t T,
             int64_t H, int64_t dn, int64_t dr, const float* cos, const float* sin, void* stream) {
  if (B * T * H == 0) return 0;
  mla_keys_kernel<<<static_cast<unsigned>(B * T), kThreads, 0, as_stream(stream)>>>(
      static_cast<const __nv_bfloat16*>(k_nope.data), k_nope.sb, k_nope.st, k_nope.sh,
      static_cast<const __nv_bfloat16*>(k_pe), pe_sb, pe_st, static_cast<__nv_bfloat16*>(out), T,
      static_cast<int>(H), static_cast<int>(dn), static_cast<int>(dr), cos, sin);
  return launched();
}

int mla_keys_backward(View4 dk, void* dk_nope, void* dk_pe, int64_t B, int64_t T, int64_t H, int64_t dn,
                      int64_t dr, const float* cos, const float* sin, void* stream) {
  if (B * T * H == 0) return 0;
  mla_keys_backward_kernel<<<static_cast<unsigned>(B * T), kThreads, 0, as_stream(stream)>>>(
      static_cast<const __nv_bfloat16*>(dk.data), dk.sb, dk.st, dk.sh, static_cast<__nv_bfloat16*>(dk_nope),
      static_cast<__nv_bfloat16*>(dk_pe), T, static_cast<int>(H), static_cast<int>(dn), static_cast<int>(dr), cos,
      sin);
  return launched();
}

int add_f32_bf16(const float* x, const void* y, float* out, int64_t n, void* stream) {
  if (n == 0) return 0;
  const auto aligned = [](const void* p, unsigned a) { return reinterpret_cast<uintptr_t>(p) % a == 0; };
  if (n % 4 == 0 && aligned(x, 16) && aligned(out, 16) && aligned(y, 8)) {
    add_f32_bf16_vec_kernel<<<blocks_for(n / 4), kThreads, 0, as_stream(stream)>>>(
        reinterpret_cast<const float4*>(x), static_cast<const uint2*>(y), reinterpret_cast<float4*>(out), n / 4);
  } else {
    add_f32_bf16_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(
        x, static_cast<const __nv_bfloat16*>(y), out, n);
  }
  return launched();
}

int bf16_to_f32(const void* x, float* out, int64_t n, void* stream) {
  if (n == 0) return 0;
  const auto* xb = static_cast<const __nv_bfloat16*>(x);
  int64_t done = 0;
  if (reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0) {
    done = n / 8 * 8;
    if (done > 0)
      bf16_to_f32_vec_kernel<<<blocks_for(done / 8), kThreads, 0, as_stream(stream)>>>(
          reinterpret_cast<const uint4*>(xb), reinterpret_cast<float4*>(out), done / 8);
  }
  if (done < n)
    bf16_to_f32_kernel<<<blocks_for(n - done), kThreads, 0, as_stream(stream)>>>(xb + done, out + done, n - done);
  return launched();
}

int swiglu(const void* ab, const float* w, void* h, int64_t R, int64_t I, void* stream) {
  const int64_t total = R * (I / 8);
  if (total == 0) return 0;
  swiglu_kernel<<<blocks_for(total), kThreads, 0, as_stream(stream)>>>(
      static_cast<const __nv_bfloat16*>(ab), w, static_cast<__nv_bfloat16*>(h), R, I);
  return launched();
}

int swiglu_backward(const void* dh, const void* ab, const float* w, void* d_ab, float* dw, int64_t R, int64_t I,
                    void* stream) {
  if (R == 0) return 0;
  swiglu_backward_kernel<<<blocks_for(R * 32), kThreads, 0, as_stream(stream)>>>(
      static_cast<const __nv_bfloat16*>(dh), static_cast<const __nv_bfloat16*>(ab), w,
      static_cast<__nv_bfloat16*>(d_ab), dw, R, I);
  return launched();
}

int gather_sum(const void* y, const int64_t* slot, void* out, bool out_bf16, int64_t N, int64_t K, int64_t C,
               void* stream) {
  if (N == 0) return 0;
  const unsigned threads = static_cast<unsigned>(std::min<int64_t>(kThreads, (C / 8 + 31) / 32 * 32));
  const auto* yb = static_cast<const __nv_bfloat16*>(y);
  if (out_bf16)
    gather_sum_kernel<<<static_cast<unsigned>(N), threads, 0, as_stream(stream)>>>(
        yb, slot, static_cast<__nv_bfloat16*>(out), static_cast<int>(K), static_cast<int>(C));
  else
    gather_sum_kernel<<<static_cast<unsigned>(N), threads, 0, as_stream(stream)>>>(
        yb, slot, static_cast<float*>(out), static_cast<int>(K), static_cast<int>(C));
  return launched();
}

int rms_norm(const void* x, int64_t ldx, bool x_bf16, const float* gamma, void* y, bool y_bf16, void* y16,
             float* rstd, int64_t N, int64_t C, float eps, void* stream, const void* res, bool res_bf16,
             float* h) {
  if (N == 0) return 0;
  if (C > kNormMaxCols || (res != nullptr && x_bf16)) return static_cast<int>(cudaErrorInvalidValue);
  const unsigned blocks = blocks_for(N * 32);
  const auto st = as_stream(stream);
  const int c = static_cast<int>(C);
  using bf = __nv_bfloat16;
  auto* y2 = static_cast<bf*>(y16);
  const auto* r16 = res_bf16 ? static_cast<const bf*>(res) : nullptr;
  const auto* r32 = res_bf16 ? nullptr : static_cast<const float*>(res);
  const bool vec = C % 256 == 0 && aligned16(x) && (ldx * (x_bf16 ? 2 : 4)) % 16 == 0 && aligned16(gamma) &&
                   aligned16(y) && aligned16(y16) && aligned16(res) && aligned16(h);
  if (vec) {
    if (x_bf16 && y_bf16)
      rms_norm_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(x), ldx, r16, r32, h, gamma,
                                                       static_cast<bf*>(y), y2, rstd, N, c, eps);
    else if (x_bf16)
      rms_norm_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(x), ldx, r16, r32, h, gamma,
                                                       static_cast<float*>(y), y2, rstd, N, c, eps);
    else if (y_bf16)
      rms_norm_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(x), ldx, r16, r32, h, gamma,
                                                       static_cast<bf*>(y), y2, rstd, N, c, eps);
    else
      rms_norm_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(x), ldx, r16, r32, h, gamma,
                                                       static_cast<float*>(y), y2, rstd, N, c, eps);
    return launched();
  }
  if (x_bf16 && y_bf16)
    rms_norm_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(x), ldx, r16, r32, h, gamma,
                                                 static_cast<bf*>(y), y2, rstd, N, c, eps);
  else if (x_bf16)
    rms_norm_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(x), ldx, r16, r32, h, gamma,
                                                 static_cast<float*>(y), y2, rstd, N, c, eps);
  else if (y_bf16)
    rms_norm_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(x), ldx, r16, r32, h, gamma,
                                                 static_cast<bf*>(y), y2, rstd, N, c, eps);
  else
    rms_norm_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(x), ldx, r16, r32, h, gamma,
                                                 static_cast<float*>(y), y2, rstd, N, c, eps);
  return launched();
}

int64_t rms_norm_partials(int64_t N) {
  return std::min<int64_t>(kNormBlocks, static_cast<int64_t>(blocks_for(N * 32))) * (kThreads / 32);
}

int rms_norm_backward(const void* dy, bool dy_bf16, const void* dy16, const void* x, int64_t ldx, bool x_bf16,
                      const float* gamma, const float* rstd, void* dx, float* dgamma_partial, int64_t N, int64_t C,
                      void* stream, const float* dh, void* dres16) {
  if (N == 0) return 0;
  if (C > kNormMaxCols || ((dh != nullptr || dres16 != nullptr) && x_bf16))
    return static_cast<int>(cudaErrorInvalidValue);
  const auto blocks = static_cast<unsigned>(rms_norm_partials(N) / (kThreads / 32));
  const auto st = as_stream(stream);
  const int c = static_cast<int>(C);
  using bf = __nv_bfloat16;
  const auto* d2 = static_cast<const bf*>(dy16);
  auto* dr = static_cast<bf*>(dres16);
  const bool vec = C % 256 == 0 && aligned16(x) && (ldx * (x_bf16 ? 2 : 4)) % 16 == 0 && aligned16(gamma) &&
                   aligned16(dy) && aligned16(dy16) && aligned16(dh) && aligned16(dx) && aligned16(dres16) &&
                   aligned16(dgamma_partial);
  if (vec) {
    if (x_bf16 && dy_bf16)
      rms_norm_backward_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(dy), d2,
                                                                static_cast<const bf*>(x), ldx, gamma, rstd, dh,
                                                                static_cast<bf*>(dx), dr, dgamma_partial, N, c);
    else if (x_bf16)
      rms_norm_backward_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(dy), d2,
                                                                static_cast<const bf*>(x), ldx, gamma, rstd, dh,
                                                                static_cast<bf*>(dx), dr, dgamma_partial, N, c);
    else if (dy_bf16)
      rms_norm_backward_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(dy), d2,
                                                                static_cast<const float*>(x), ldx, gamma, rstd, dh,
                                                                static_cast<float*>(dx), dr, dgamma_partial, N, c);
    else
      rms_norm_backward_vec_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(dy), d2,
                                                                static_cast<const float*>(x), ldx, gamma, rstd, dh,
                                                                static_cast<float*>(dx), dr, dgamma_partial, N, c);
    return launched();
  }
  if (x_bf16 && dy_bf16)
    rms_norm_backward_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(dy), d2, static_cast<const bf*>(x),
                                                          ldx, gamma, rstd, dh, static_cast<bf*>(dx), dr,
                                                          dgamma_partial, N, c);
  else if (x_bf16)
    rms_norm_backward_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(dy), d2, static_cast<const bf*>(x),
                                                          ldx, gamma, rstd, dh, static_cast<bf*>(dx), dr,
                                                          dgamma_partial, N, c);
  else if (dy_bf16)
    rms_norm_backward_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const bf*>(dy), d2,
                                                          static_cast<const float*>(x), ldx, gamma, rstd, dh,
                                                          static_cast<float*>(dx), dr, dgamma_partial, N, c);
  else
    rms_norm_backward_kernel<<<blocks, kThreads, 0, st>>>(static_cast<const float*>(dy), d2,
                                                          static_cast<const float*>(x), ldx, gamma, rstd, dh,
                                                          static_cast<float*>(dx), dr, dgamma_partial, N, c);
  return launched();
}

int gate_select(const float* sel, int64_t* idx, int64_t N, int64_t E, int64_t G, int64_t topk_groups, int64_t K,
                bool top_two_sum, void* stream) {
  if (N == 0) return 0;
  if (E > kGateMaxExperts || G > E || K > E) return static_cast<int>(cudaErrorInvalidValue);
  gate_select_kernel<<<blocks_for(N, 128), 128, 0, as_stream(stream)>>>(sel, idx, N, static_cast<int>(E),
                                                                       static_cast<int>(G),
                                                                       static_cast<int>(topk_groups),
                                                                       static_cast<int>(K), top_two_sum);
  return launched();
}

}  // namespace plexus::llm::kernels
