// Small building blocks shared by the DeepSeek-V3 modules: RMSNorm, the SwiGLU MLP and a linear map that
// runs in the activation's dtype (so one f32 master copy of the weights serves f32 CPU training and bf16 CUDA
// training, the way autocast does). No biases anywhere (model.py).
#pragma once

#include <torch/torch.h>

#include "plexus/llm/fused_ops.h"
#include "plexus/llm/packed.h"
#include "plexus/llm/shadow.h"

namespace plexus::llm {

/// The dtype matrix products run in on this thread (default f32). Like autocast: x and W are cast to it,
/// the product comes out in it, and norms, softmax, the gate and losses stay f32.
torch::Dtype matmul_dtype();

/// Sets matmul_dtype() for a scope (the model's forward sets it from its compute dtype).
class MatmulDtypeGuard {
 public:
  explicit MatmulDtypeGuard(torch::Dtype dtype);
  ~MatmulDtypeGuard();
  MatmulDtypeGuard(const MatmulDtypeGuard&) = delete;
  MatmulDtypeGuard& operator=(const MatmulDtypeGuard&) = delete;

 private:
  torch::Dtype prev_;
};

/// y = x W^T computed in matmul_dtype() (f32 master weights, bf16 compute on CUDA).
/// Shapes: x [..., in], weight [out, in] → [..., out].
torch::Tensor project(const torch::Tensor& x, const torch::Tensor& weight);

/// A bias-free weight matrix [out, in] registered on `m` under `name` (filled later by the model's init).
torch::Tensor register_linear(torch::nn::Module& m, const std::string& name, int64_t in, int64_t out);

/// RMSNorm: y = x / sqrt(mean(x²) + ε) ⊙ g, computed in f32, returned in x's dtype (or out_dtype, which
/// lets a bf16 consumer skip a cast; see fused_ops.h rms_norm).
/// Shapes: x [..., C] → [..., C]. Source: Zhang & Sennrich 2019; model.py RMSNorm (ε = 1e-6).
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor forward_to(const torch::Tensor& x, torch::Dtype out_dtype);
  /// The norm of x + y after a residual branch y (fused_ops.h add_rms_norm): h = x + y, the norm in low_dtype
  /// and, with with_f32, in f32 too.
  AddNorm forward_added(const torch::Tensor& x, const torch::Tensor& y, torch::Dtype low_dtype, bool with_f32);
  torch::Tensor weight;  ///< g [C], initialised to ones

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

/// SwiGLU feed-forward: y = W2 (silu(W1 x) ⊙ W3 x). Used for the dense FFN of the first n_dense_layers, the
/// shared experts and every routed expert (model.py MLP / Expert).
/// Shapes: x [..., C] → [..., C].
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t inter_dim);
  torch::Tensor forward(const torch::Tensor& x);
  /// [W1; W3] [2I, C] with gradients to w1 and w3: a view when they are packed (packed.h), else a copy.
  torch::Tensor w13() const;
  /// Keep w1 and w3 side by side in one tensor (after a device move; see packed.h).
  void pack() { w13_.pack(); }
  /// Whether w1 and w3 are packed (w13() is then a view of their storage).
  bool packed() const { return w13_.packed(); }
  torch::Tensor w1, w2, w3;  ///< [I,C], [C,I], [I,C]

 private:
  PackedParams w13_;
};
TORCH_MODULE(Mlp);

}  // namespace plexus::llm
