// One pretraining step of the DeepSeek-V3 model: forward with the MTP and balance losses, backward, gradient
// clipping, AdamW, and the aux-loss-free bias update (V3 §2.1.2), with its reported values kept on the device.
//
// Two paths, chosen once from the device:
//   CPU (and CUDA without PyTorch ≥ 2.2): the host-driven step of before: the clip norm and the losses are read
//     with .item(), AdamW takes a double lr. Its numbers are those of every earlier release (tests pin them).
//   CUDA ("device path"): nothing in the step reads a value on the host. The clip is a device tensor
//     s = (n > max ? (n+1e-6)/max : 1) that the fused AdamW kernel divides every gradient by as it reads it
//     (AdamW::clip_divisor, the kernel's grad_scale input; no separate pass over the gradients), AdamW is
//     the fused kernel with the learning rate in a device scalar (AdamW::step_device), and every reported number
//     (4 loss terms, the pre-clip gradient norm, per MoE layer the mean/max/min expert load) is written into one
//     f64 device vector that read() copies to the host once, after the step. The step therefore has fixed
//     shapes, fixed addresses and no host synchronisation, which is what a CUDA graph needs: with
//     `cuda_graphs` the first run() executes the step eagerly on a side stream and records it (CudaGraph), and
//     every later run() copies the batch into the static input buffers, writes lr, and replays one graph.
//     With bf16 compute and plexus's fused kernels the products read bf16 shadows of the weights that AdamW
//     rewrites (shadow.h): no weight is cast in the forward and no weight gradient in the backward.
//
// Under a graph the gradients are created by the captured backward (set to none once, before capture) and then
// live at fixed addresses in the graph's memory pool; they are never set to none again, and neither are the
// AdamW moments, the expert-load accumulators or the gate biases reallocated, so each replay updates the
// tensors that checkpoints, evaluation and generation read. Source: PyTorch, "CUDA Graphs — whole-network
// capture" (torch.cuda.graph docs); NVIDIA CUDA C++ Programming Guide §3.2.8.7.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"

namespace plexus {
class CudaGraph;
}

namespace plexus::llm {

struct TrainStepOptions {
  double grad_clip = 1.0;          ///< max global L2 gradient norm (0 = no clipping)
  double bias_update_speed = 0.0;  ///< γ of the aux-loss-free bias update (0 = off)
  bool cuda_graphs = false;        ///< capture the step once and replay it (device path only; see graph_blocker)
  /// Device path with bf16 compute and plexus's fused kernels: train through bf16 weight copies that AdamW
  /// rewrites (shadow.h) instead of casting every weight each forward and every gradient back. Same values
  /// up to the optimizer kernel's rounding; off only to compare against the cast path.
  bool bf16_shadows = true;
};

/// Host values of one step.
struct StepStats {
  double total = 0, main = 0, mtp = 0, balance = 0;  ///< loss terms (nats/token), as LossParts
  double grad_norm = 0;                              ///< global L2 gradient norm before clipping
  std::vector<LoadStats> loads;                      ///< per MoE layer (main blocks, then MTP blocks)
};

class TrainStep {
 public:
  /// `opt` must outlive this object and hold the model's parameters; the model must not move to another device
  /// while this object lives (its bf16 shadows point at the parameters' storage). Throws: Error(Config) when
  /// o.cuda_graphs is set but graph_blocker() names a reason.
  TrainStep(Transformer model, AdamW& opt, TrainStepOptions o, torch::Device dev, torch::Dtype compute_dtype);
  ~TrainStep();

  /// One training step on inputs, targets [B,T] int64 (any device; targets = inputs shifted by one) with
  /// learning rate `lr`. CPU: runs to completion. Device path: only enqueues work (no host sync), except that
  /// the first graphed call captures. A graphed step needs the same B and T every call.
  /// Throws: Error(Config) if B or T changes under graphs; c10::Error from LibTorch (with a capture error,
  /// the operation that broke it).
  void run(const torch::Tensor& inputs, const torch::Tensor& targets, double lr);

  /// The last step's values (device path: one device→host copy, which waits for the step).
  StepStats read();

  /// Whether run() takes the device path (CUDA with PyTorch ≥ 2.2).
  bool device_path() const { return device_; }
  /// Whether steps are replayed from a CUDA graph.
  bool graphed() const { return o_.cuda_graphs; }
  /// Whether the forward reads bf16 shadows of the weights (TrainStepOptions::bf16_shadows took effect).
  bool shadowed() const { return shadows_ != nullptr; }

  /// Why the step of this model cannot be captured on `dev`, or "" if it can: a CPU device, a LibTorch without
  /// CUDA graphs, f32 compute or no grouped-GEMM kernel (the per-expert MoE reads expert counts on the host),
  /// or MoE widths that are not multiples of 8 (the grouped kernel's alignment).
  static std::string graph_blocker(const Transformer& model, torch::Device dev, torch::Dtype compute_dtype);

 private:
  void body();  // the device-path step on the static buffers (eager, warm-up or captured)
  Transformer model_;
  AdamW& opt_;
  TrainStepOptions o_;
  torch::Device dev_;
  bool device_ = false;
  // Device path: static inputs, the learning rate, and the reported values.
  torch::Tensor x_, y_, lr_, stats_;  // [B,T] int64 ×2, [] f32, [5 + 3·layers] f64
  std::unique_ptr<CudaGraph> graph_;
  std::shared_ptr<ShadowWeights> shadows_;  // bf16 weight copies (device path, bf16; null otherwise)
  // CPU path: the last step's values.
  LossParts parts_;
  double grad_norm_ = 0;
  std::vector<LoadStats> loads_;
};

}  // namespace plexus::llm
