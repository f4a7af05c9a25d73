// Parameters kept side by side in one tensor, so that their stack is a view instead of a copy.
//
// The grouped MoE GEMMs multiply by every routed expert's weights at once, as [E, 2I, C] ([W1; W3] of each
// expert) and [E, C, I] (W2) tensors, and the fused SwiGLU multiplies by [W1; W3] of one MLP. Stacking the
// separate parameters for that copied about 1 GB of f32 weights per 1B-preset step on the GPU (torch.stack, then
// torch.cat of W1 and W3: 3.4 ms of a 103 ms step; docs/results.md, issue 19). pack() instead moves the
// parameters into one contiguous tensor, each parameter becoming a slice of it (its name, identity, value and
// optimizer state are kept; checkpoints are unchanged), and stacked() then returns that tensor as a view whose
// gradient is handed back to the parameters slice by slice. Anything that replaces a parameter's data
// (Module::to, set_data) undoes the packing; stacked() then falls back to torch::stack, which gives the same
// values, so packing is an optimisation only. TransformerImpl::to packs again after a move.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace plexus::llm {

class PackedParams {
 public:
  PackedParams() = default;
  /// params: n parameters of one shape and dtype, in the order of the stack.
  explicit PackedParams(std::vector<torch::Tensor> params);

  /// Move the parameters' data into one contiguous [n, shape...] tensor on their device (values unchanged).
  /// Must not run while a CUDA graph is being captured (it allocates and copies).
  void pack();

  /// Whether the parameters are consecutive contiguous slices of one storage, in order (so stacked() is a view).
  bool packed() const;

  /// torch::stack(params) [n, shape...] with gradients flowing to each parameter: a view of their storage when
  /// packed(), else a copy.
  torch::Tensor stacked() const;

 private:
  std::vector<torch::Tensor> params_;
};

}  // namespace plexus::llm
