// bf16 working copies ("shadows") of the f32 master weights, read by the bf16 forward in place of a cast.
//
// bf16 training on CUDA keeps f32 master weights and f32 AdamW moments (V3 report §3.3.2: the master weights,
// weight gradients and optimizer states stay in higher precision) and runs every product in bf16. Casting each
// matrix from f32 to bf16 in every forward, and each bf16 weight gradient back to f32 for AdamW, passed over
// the weights twice per step: 4.9 ms of a 93 ms 1B-preset step on the H200 (docs/results.md, issue 19). With
// shadows, the optimizer writes bf16(master) right after it updates a master (kernels/adamw.h; fused_ops.h adamw_bf16),
// the forward multiplies by that bf16 tensor directly, and since the shadow is itself the autograd leaf its
// gradient arrives in bf16 and is read by the optimizer as it is. Values are those of the cast path: the
// shadow holds exactly cast(master) (round to nearest even), and a bf16 gradient widened to f32 is exact.
// Mixed precision with bf16 model copies is the scheme of NVIDIA apex's O2 level and Megatron-LM's bf16
// optimizer (Micikevicius et al. 2018, "Mixed Precision Training", §3.1, with bf16 in place of fp16).
//
// Which weights: those a bf16 forward multiplies once per step (TransformerImpl::matmul_weights). A weight
// used more than once per step (the output head, shared by the main and the MTP outputs) stays on the cast
// path so its gradients still sum in f32.
#pragma once

#include <torch/torch.h>

#include <map>
#include <vector>

namespace plexus::llm {

class ShadowWeights {
 public:
  struct Entry {
    torch::Tensor master;  ///< f32, contiguous: a parameter, or a view over packed parameters (packed.h)
    torch::Tensor shadow;  ///< bf16 leaf of the same shape (requires grad); its .grad() is the bf16 gradient
  };

  ShadowWeights() = default;
  /// One shadow per master. Throws: Error(Internal) when a master is not a contiguous f32 tensor or two overlap.
  explicit ShadowWeights(const std::vector<torch::Tensor>& masters);

  /// shadow ← bf16(master) for every entry (no autograd). After loading weights, before the first step.
  void refresh();

  /// The shadow of `w` when w is a contiguous f32 piece of a master (the master itself, or a view inside it such as
  /// one expert's W1 in the experts' stack or the W1 half of an MLP's [W1; W3]): that piece of the shadow, shaped
  /// like w, whose gradient reaches the shadow through autograd. Undefined otherwise.
  torch::Tensor shadow_of(const torch::Tensor& w) const;

  /// Drop every shadow's gradient (set to none, as AdamW::zero_grad does for the masters).
  void zero_grad();

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
  std::map<const char*, size_t> by_start_;  // a master's first byte → its entry
};

/// Makes `s` the shadows weight_in() reads on this thread for the guard's scope (nullptr: none).
class ShadowGuard {
 public:
  explicit ShadowGuard(const ShadowWeights* s);
  ~ShadowGuard();
  ShadowGuard(const ShadowGuard&) = delete;
  ShadowGuard& operator=(const ShadowGuard&) = delete;

 private:
  const ShadowWeights* prev_;
};

/// The weight `w` in dtype `dt` for a product: its shadow (ShadowWeights::shadow_of) when a ShadowGuard is active
/// and dt is bf16, else cast(w, dt) (fused_ops.h). Shapes: w [...] → [...].
torch::Tensor weight_in(const torch::Tensor& w, torch::Dtype dt);

}  // namespace plexus::llm
