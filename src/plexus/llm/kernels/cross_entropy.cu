// Cross-entropy rows from bf16 logits. See cross_entropy.h.
//
// One block per row. Forward: each thread keeps an online (max m, sum s) pair over its columns, s = Σ exp(x − m),
// rescaling s when m grows (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"), then the
// block merges the pairs (warp shuffles, then one warp over the warps' pairs): lse = m + log s. Backward: each
// thread recomputes exp(x − lse) for its columns from the saved lse, subtracts the one-hot and scales by the row's
// upstream gradient. Both read 8 bf16 per 16-byte load where the row layout allows (kVec), else one at a time.
// For [16384, 8192] on the H200 (a standalone CUDA-event timing): forward 108 us (256 MiB read, 2.5 TB/s; the
// accurate expf per element bounds it: unrolling four loads per thread gained nothing), backward 132 us (read and
// write, 4.1 TB/s), against ~1.36 ms for the composite's kernels per head.
#include "plexus/llm/kernels/cross_entropy.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

namespace plexus::llm::kernels {

namespace {

constexpr int kThreads = 256;  // 8192 columns = 1024 loads of 8: four per thread
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

inline int launched() { return static_cast<int>(cudaGetLastError()); }

// An online softmax normalizer: s = Σ exp(x − m) over the columns seen, m their maximum (−∞ before any).
struct MaxSum {
  float m, s;
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.f};  // both empty (or all −∞): avoid exp(−∞ − −∞) = NaN
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

// Adds n values to a thread's pair: one rescale per call, one exp per value.
template <int n>
__device__ __forceinline__ void absorb(MaxSum& acc, const float (&x)[n]) {
  float m = acc.m;
#pragma unroll
  for (int j = 0; j < n; ++j) m = fmaxf(m, x[j]);
  if (m == -INFINITY) return;
  float s = acc.s * expf(acc.m - m);
#pragma unroll
  for (int j = 0; j < n; ++j) s += expf(x[j] - m);
  acc = {m, s};
}

__device__ __forceinline__ MaxSum warp_merge(MaxSum v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = merge(v, MaxSum{__shfl_xor_sync(kFullMask, v.m, o), __shfl_xor_sync(kFullMask, v.s, o)});
  return v;
}

__device__ __forceinline__ void unpack8(const uint4& raw, float (&x)[8]) {
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __bfloat1622float2(h[j]);
    x[2 * j] = f.x, x[2 * j + 1] = f.y;
  }
}

// Block of kThreads per row r: (loss, lse)[r]. kVec: V and ld multiples of 8, logits 16-byte aligned.
template <bool kVec>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_kernel(const __nv_bfloat16* __restrict__ logits, int64_t ld, const int64_t* __restrict__ target,
                         float* __restrict__ loss, float* __restrict__ lse, int V) {
  const int64_t r = blockIdx.x;
  const __nv_bfloat16* row = logits + r * ld;
  MaxSum acc{-INFINITY, 0.f};
  if (kVec) {
    const auto* row8 = reinterpret_cast<const uint4*>(row);
    for (int i = threadIdx.x; i < V / 8; i += kThreads) {
      float x[8];
      unpack8(row8[i], x);
      absorb(acc, x);
    }
  } else {
    for (int c = threadIdx.x; c < V; c += kThreads) {
      const float x[1] = {__bfloat162float(row[c])};
      absorb(acc, x);
    }
  }
  __shared__ MaxSum part[kWarps];
  acc = warp_merge(acc);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = acc;
  __syncthreads();
  if (warp != 0) return;
  acc = warp_merge(lane < kWarps ? part[lane] : MaxSum{-INFINITY, 0.f});
  if (lane != 0) return;
  const float l = acc.m + logf(acc.s);
  const int64_t t = target[r];
  lse[r] = l;
  loss[r] = t == kIgnoreTarget ? 0.f : (t >= 0 && t < V) ? l - __bfloat162float(row[t]) : NAN;
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(const __nv_bfloat16* __restrict__ logits, int64_t ld,
                                  const int64_t* __restrict__ target, const float* __restrict__ lse,
                                  const float* __restrict__ dloss, __nv_bfloat16* __restrict__ dlogits, int V) {
  const int64_t r = blockIdx.x;
  const __nv_bfloat16* row = logits + r * ld;
  __nv_bfloat16* drow = dlogits + r * V;
  const int64_t t = target[r];
  const float l = lse[r], g = t == kIgnoreTarget ? 0.f : dloss[r];
  // (softmax − one-hot) · g; exp(x − lse) ≤ 1, so an ignored row's g = 0 gives exact zeros.
  const auto grad = [&](float x, int c) { return (expf(x - l) - (c == t ? 1.f : 0.f)) * g; };
  if (kVec) {
    const auto* row8 = reinterpret_cast<const uint4*>(row);
    auto* drow8 = reinterpret_cast<uint4*>(drow);
    for (int i = threadIdx.x; i < V / 8; i += kThreads) {
      float x[8];
      unpack8(row8[i], x);
      uint4 out;
      auto* o = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int c = 8 * i + 2 * j;
        o[j] = __floats2bfloat162_rn(grad(x[2 * j], c), grad(x[2 * j + 1], c + 1));
      }
      drow8[i] = out;
    }
  } else {
    for (int c = threadIdx.x; c < V; c += kThreads) drow[c] = __float2bfloat16_rn(grad(__bfloat162float(row[c]), c));
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

int cross_entropy_rows(const void* logits, int64_t ld, const int64_t* target, float* loss, float* lse, int64_t N,
                       int64_t V, void* stream) {
  if (N == 0) return 0;
  const auto* x = static_cast<const __nv_bfloat16*>(logits);
  const auto n = static_cast<unsigned>(N);
  const int v = static_cast<int>(V);
  if (V % 8 == 0 && ld % 8 == 0 && aligned16(logits))
    cross_entropy_kernel<true><<<n, kThreads, 0, as_stream(stream)>>>(x, ld, target, loss, lse, v);
  else
    cross_entropy_kernel<false><<<n, kThreads, 0, as_stream(stream)>>>(x, ld, target, loss, lse, v);
  return launched();
}

int cross_entropy_rows_backward(const void* logits, int64_t ld, const int64_t* target, const float* lse,
                                const float* dloss, void* dlogits, int64_t N, int64_t V, void* stream) {
  if (N == 0) return 0;
  const auto* x = static_cast<const __nv_bfloat16*>(logits);
  auto* dx = static_cast<__nv_bfloat16*>(dlogits);
  const auto n = static_cast<unsigned>(N);
  const int v = static_cast<int>(V);
  if (V % 8 == 0 && ld % 8 == 0 && aligned16(logits) && aligned16(dlogits))
    cross_entropy_backward_kernel<true><<<n, kThreads, 0, as_stream(stream)>>>(x, ld, target, lse, dloss, dx, v);
  else
    cross_entropy_backward_kernel<false><<<n, kThreads, 0, as_stream(stream)>>>(x, ld, target, lse, dloss, dx, v);
  return launched();
}

}  // namespace plexus::llm::kernels
