// Kernels of the grouped MoE dispatch (grouped.h), memory-bound, 8 bf16 per thread (16-byte loads and stores):
// - the experts' chunk sums, the last step of grouped_linear's weight gradient, where each expert's dW is the sum
//   of the partial products of its row chunks (f32 sums; an expert has few chunks: its rows over the chunk
//   length, plus one);
// - the row gather into the expert-sorted buffer, from bf16 or (the combine's backward) f32 rows.
#include "plexus/llm/kernels/grouped.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

namespace plexus::llm::kernels {

namespace {

constexpr int kThreads = 256;

struct alignas(16) Bf16x8 {
  __nv_bfloat162 h[4];
};

// blockIdx.y = expert; each thread sums 8 consecutive columns over the expert's chunks.
__global__ void segment_sum_vec_kernel(const __nv_bfloat16* __restrict__ p, const int64_t* __restrict__ first,
                                       const int64_t* __restrict__ count, __nv_bfloat16* __restrict__ out,
                                       int64_t M) {
  const int64_t e = blockIdx.y, i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * 8;
  if (i >= M) return;
  float acc[8] = {};
  const int64_t c0 = first[e], n = count[e];
  for (int64_t c = c0; c < c0 + n; ++c) {
    const Bf16x8 v = *reinterpret_cast<const Bf16x8*>(p + c * M + i);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __bfloat1622float2(v.h[k]);
      acc[2 * k] += f.x;
      acc[2 * k + 1] += f.y;
    }
  }
  Bf16x8 o;
#pragma unroll
  for (int k = 0; k < 4; ++k) o.h[k] = __floats2bfloat162_rn(acc[2 * k], acc[2 * k + 1]);
  *reinterpret_cast<Bf16x8*>(out + e * M + i) = o;
}

__global__ void segment_sum_kernel(const __nv_bfloat16* __restrict__ p, const int64_t* __restrict__ first,
                                   const int64_t* __restrict__ count, __nv_bfloat16* __restrict__ out, int64_t M) {
  const int64_t e = blockIdx.y, i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= M) return;
  float acc = 0.f;
  const int64_t c0 = first[e], n = count[e];
  for (int64_t c = c0; c < c0 + n; ++c) acc += __bfloat162float(p[c * M + i]);
  out[e * M + i] = __float2bfloat16_rn(acc);
}

inline bool aligned16(const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; }

// One block per output row; 8 columns per thread.
template <typename T>
__global__ void gather_rows_vec_kernel(const T* __restrict__ src, const int64_t* __restrict__ idx,
                                       __nv_bfloat16* __restrict__ out, int64_t C) {
  const int64_t r = blockIdx.x;
  const T* row = src + idx[r] * C;
  for (int64_t c = threadIdx.x * 8; c < C; c += blockDim.x * 8) {
    Bf16x8 o;
    if constexpr (sizeof(T) == 4) {
      const float4 a = *reinterpret_cast<const float4*>(row + c), b = *reinterpret_cast<const float4*>(row + c + 4);
      o.h[0] = __floats2bfloat162_rn(a.x, a.y), o.h[1] = __floats2bfloat162_rn(a.z, a.w);
      o.h[2] = __floats2bfloat162_rn(b.x, b.y), o.h[3] = __floats2bfloat162_rn(b.z, b.w);
    } else {
      o = *reinterpret_cast<const Bf16x8*>(row + c);
    }
    *reinterpret_cast<Bf16x8*>(out + r * C + c) = o;
  }
}

template <typename T>
__global__ void gather_rows_kernel(const T* __restrict__ src, const int64_t* __restrict__ idx,
                                   __nv_bfloat16* __restrict__ out, int64_t C) {
  const int64_t r = blockIdx.x;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    if constexpr (sizeof(T) == 4)
      out[r * C + c] = __float2bfloat16_rn(src[idx[r] * C + c]);
    else
      out[r * C + c] = src[idx[r] * C + c];
  }
}

template <typename T>
void launch_gather_rows(const T* src, const int64_t* idx, __nv_bfloat16* out, int64_t R, int64_t C,
                        cudaStream_t st) {
  if (C % 8 == 0 && aligned16(src) && aligned16(out)) {
    const unsigned threads = static_cast<unsigned>(std::min<int64_t>(kThreads, (C / 8 + 31) / 32 * 32));
    gather_rows_vec_kernel<<<static_cast<unsigned>(R), threads, 0, st>>>(src, idx, out, C);
  } else {
    gather_rows_kernel<<<static_cast<unsigned>(R), kThreads, 0, st>>>(src, idx, out, C);
  }
}

}  // namespace

int gather_rows_bf16(const void* src, bool src_f32, const int64_t* idx, void* out, int64_t R, int64_t C,
                     void* stream) {
  if (R == 0 || C == 0) return 0;
  const auto st = static_cast<cudaStream_t>(stream);
  auto* ob = static_cast<__nv_bfloat16*>(out);
  if (src_f32)
    launch_gather_rows(static_cast<const float*>(src), idx, ob, R, C, st);
  else
    launch_gather_rows(static_cast<const __nv_bfloat16*>(src), idx, ob, R, C, st);
  return static_cast<int>(cudaGetLastError());
}

int segment_sum_bf16(const void* p, const int64_t* first, const int64_t* count, void* out, int64_t E, int64_t M,
                     void* stream) {
  if (E == 0 || M == 0) return 0;
  const auto st = static_cast<cudaStream_t>(stream);
  const auto* pb = static_cast<const __nv_bfloat16*>(p);
  auto* ob = static_cast<__nv_bfloat16*>(out);
  if (M % 8 == 0 && aligned16(p) && aligned16(out)) {
    const dim3 grid(static_cast<unsigned>((M / 8 + kThreads - 1) / kThreads), static_cast<unsigned>(E));
    segment_sum_vec_kernel<<<grid, kThreads, 0, st>>>(pb, first, count, ob, M);
  } else {
    const dim3 grid(static_cast<unsigned>((M + kThreads - 1) / kThreads), static_cast<unsigned>(E));
    segment_sum_kernel<<<grid, kThreads, 0, st>>>(pb, first, count, ob, M);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace plexus::llm::kernels
