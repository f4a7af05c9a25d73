// CUDA kernel of the experts' chunked weight gradient (llm/grouped_dispatch.h, grouped_linear). Plain C++ header,
// like fused.h: the .cu file needs no LibTorch headers.
#pragma once

#include <cstdint>

namespace plexus::llm::kernels {

/// Sums of consecutive bf16 matrices: out[e] = Σ_{c = first[e]}^{first[e]+count[e]−1} p[c] (f32 sums, stored bf16;
/// zero where count[e] = 0). p [G, M] bf16 contiguous, first/count [E] int64 (device), out [E, M] bf16
/// contiguous. Vectorised 8 per thread where M % 8 == 0 and both pointers are 16-byte aligned. Returns the
/// CUDA error code of the launch (0 = success).
int segment_sum_bf16(const void* p, const int64_t* first, const int64_t* count, void* out, int64_t E, int64_t M,
                     void* stream);

/// Row gather into bf16: out[r] = bf16(src[idx[r]]) (round to nearest even; exact for bf16 src). src [N, C] f32
/// (src_f32) or bf16, contiguous; idx [R] int64 (device, each in [0, N)); out [R, C] bf16 contiguous. The MoE's
/// dispatch (token rows into the expert-sorted buffer) and the backward of its combine (the f32 output gradient
/// of each buffer row's token), which LibTorch ran as a cast and an index_select. 8 columns per thread where
/// C % 8 == 0 and the pointers are 16-byte aligned. Returns the CUDA error code of the launch (0 = success).
int gather_rows_bf16(const void* src, bool src_f32, const int64_t* idx, void* out, int64_t R, int64_t C,
                     void* stream);

}  // namespace plexus::llm::kernels
