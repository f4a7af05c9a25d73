// Cross-entropy of N rows of V bf16 logits (the LM head's output), forward and backward, without the f32 copy of
// the logits. Plain C++ header, like fused.h: the .cu file needs no LibTorch headers; src/plexus/llm/fused_ops.cpp
// wraps the pair in an autograd function (cross_entropy_rows) and keeps the composite LibTorch expression for every
// other device and dtype.
//
// Why: on the H200 a DeepSeek-V3 1B-preset step (N = 16384 tokens, V = 8192) spent ~2.3 of its 87 ms on the two
// cross-entropy heads (main and MTP), each as a cast of the bf16 logits to f32 (210 us), log_softmax (480 us),
// nll, then in the backward a zero fill (115 us), nll's backward, log_softmax's backward (375 us) and the cast of
// the gradient back to bf16 (184 us). Here the forward reads the bf16 logits once and writes two floats per row;
// the backward reads them once more and writes the bf16 gradient.
//
// Every pointer is device memory; `stream` is the cudaStream_t to launch on. Each launcher returns the CUDA error
// code of its launch (0 = success).
#pragma once

#include <cstdint>

namespace plexus::llm::kernels {

/// Target value of a row that takes no part in the loss (LibTorch's cross_entropy default ignore_index).
constexpr int64_t kIgnoreTarget = -100;

/// Per row r of N: lse[r] = log Σ_c exp(x[r,c]) (max-subtracted, in f32) and loss[r] = lse[r] − x[r, target[r]].
/// logits x [N, V] bf16 with row stride ld (elements; the last dim contiguous), target [N] int64, loss and lse
/// [N] f32. A target of kIgnoreTarget gives loss 0; any other target outside [0, V) gives NaN. One block per
/// row, 16-byte loads of 8 bf16 where V and ld are multiples of 8 and logits is 16-byte aligned.
int cross_entropy_rows(const void* logits, int64_t ld, const int64_t* target, float* loss, float* lse, int64_t N,
                       int64_t V, void* stream);

/// Backward of cross_entropy_rows: dlogits[r,c] = (exp(x[r,c] − lse[r]) − [c == target[r]]) · dloss[r], in f32,
/// stored bf16 (round to nearest even). Rows with target kIgnoreTarget get a zero gradient. logits, ld, target,
/// lse as the forward; dloss [N] f32 (the gradient of each row's loss); dlogits [N, V] bf16 contiguous.
int cross_entropy_rows_backward(const void* logits, int64_t ld, const int64_t* target, const float* lse,
                                const float* dloss, void* dlogits, int64_t N, int64_t V, void* stream);

}  // namespace plexus::llm::kernels
