// Batched functional forward of many models at once: N clients' parameter rows W [N,P] (ParamLayout views) each
// applied to its own inputs in one computation — the reason the federation state is stacked (DESIGN.md).
//
// Letters: N models (clients), P parameters, B samples per model, C×H×W image, K classes.
// Every layer becomes one batched op over the client dimension:
//   Linear  y_n = x_n A_nᵀ + b_n           → baddbmm over [N,B,in] × [N,in,out]
//   Conv2d  y_n = conv(x_n, A_n) + b_n     → one grouped convolution with groups = N: inputs [B, N·C_in, H, W],
//                                            weights [N·C_out, C_in, k, k] (the torch.func.vmap rule for conv)
//   ReLU, max-pool                          → element-wise / per channel, so the client dimension is free
// Autograd through this forward gives every client's gradient as its row of ∂L/∂W [N,P] in one backward pass.
// Supported architectures: "mlp" and "cnn" (the papers' models); others are served by the sequential engine.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "plexus/nn/models.h"
#include "plexus/nn/param_layout.h"

namespace plexus::nn {

/// True when `o.name` has a batched functional forward (mlp, cnn).
bool has_batched_forward(const ModelOptions& o);

class BatchedForward {
 public:
  BatchedForward() = default;
  /// `layout` must be the layout of make_model(o, …) (same parameter names and order).
  /// Throws: Error(Config) if the architecture has no batched forward; Error(Internal) if `layout` lacks a
  /// parameter the architecture needs.
  BatchedForward(const ModelOptions& o, const ParamLayout& layout);

  /// Logits of model n on its samples. Shapes: W [N,P] (any row stride, last dim contiguous);
  /// x [B,N,C,H,W] (sample-major: x[b][n] is sample b of model n, so the conv input is a free view)
  /// → [N,B,K]. Numerically the same function as Model::forward on row n (up to fp summation order).
  /// Source: torch.func.vmap batching rules for linear/conv (PyTorch functorch), applied by hand.
  torch::Tensor operator()(const torch::Tensor& W, const torch::Tensor& x) const;

 private:
  struct Layer {
    int64_t w_off = 0, b_off = 0;
    std::vector<int64_t> w_shape;  // per-model weight shape
    int64_t out = 0;
  };
  torch::Tensor weight(const torch::Tensor& W, const Layer& l) const;  // [N, *w_shape]
  torch::Tensor bias(const torch::Tensor& W, const Layer& l) const;    // [N, out]
  bool cnn_ = false;
  std::vector<Layer> convs_;    // cnn: conv2d_1, conv2d_2
  std::vector<Layer> linears_;  // mlp: fc1.., output_layer; cnn: linear_1, output_layer
};

}  // namespace plexus::nn
