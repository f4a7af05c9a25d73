// AdamW and the learning-rate schedules used for pretraining, plus model/optimizer state as named tensors
// for checkpoints (bit-identical resume needs the exact moments, step counts and gate biases).
//
// AdamW (Loshchilov & Hutter 2019), per parameter p with gradient g at step t:
//   m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;  p ← p − lr·wd·p − lr·(m/(1-β1^t)) / (sqrt(v/(1-β2^t)) + ε)
// Weight decay applies to matrices (dim ≥ 2) only, not to RMSNorm gains. V3: β = (0.9, 0.95), wd = 0.1.
// Schedules: "cosine" = linear warmup then cosine to min_lr at the last step; "constant_decay" = the V3 shape
// (§4.2): warmup, constant until decay_start·steps, cosine to min_lr by decay_end·steps, then min_lr.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plexus/llm/shadow.h"

namespace plexus::llm {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

// at::_fused_adamw_ (torch.optim.AdamW's fused=True kernel) with its Tensor-lr overload and the Tensor-scalar
// _foreach_mul_: PyTorch ≥ 2.2 (CUDA). Debian's 1.13 lacks them.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2))
#define PLEXUS_HAVE_FUSED_ADAMW 1
#else
#define PLEXUS_HAVE_FUSED_ADAMW 0
#endif

class AdamW {
 public:
  /// `params` are (name, tensor) pairs; names key the checkpointed moments.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions o);
  /// One update with learning rate `lr` from the parameters' current .grad() (skips params without grad).
  void step(double lr);
  void zero_grad();
  /// Global L2 norm of all gradients, then scale them so it is at most `max_norm` (if max_norm > 0).
  /// Returns the norm before clipping. Source: Pascanu et al. 2013; V3 clips at 1.0.
  /// Reads the norm on the host (one device sync on CUDA); clip_grad_norm_device avoids that.
  double clip_grad_norm(double max_norm);
  /// clip_grad_norm without a host read, for CUDA steps and CUDA graphs: the norm n stays a device scalar and
  /// every gradient is multiplied by c = (n > max_norm ? max_norm / (n + 1e-6) : 1), computed in f64 and
  /// rounded to f32 like the host path's scalar, so both paths scale by the same number. Units: as
  /// clip_grad_norm. Shapes: → n, a 0-dim f32 tensor on the gradients' device (0 when no parameter has a
  /// gradient). Capturable: no allocation depends on values, no host synchronisation.
  torch::Tensor clip_grad_norm_device(double max_norm);
  /// The global L2 gradient norm as a 0-dim f32 device tensor (no host read, no scaling; 0 without gradients).
  torch::Tensor grad_norm_device();
  /// The clip as a divisor for step_device: s = (n > max_norm ? (n + 1e-6) / max_norm : 1), so that g / s is the
  /// clipped gradient (the same as g · max_norm / (n + 1e-6) up to one rounding). Computed in f64, returned as a
  /// 0-dim f32 tensor on norm's device; undefined when max_norm ≤ 0 (no clipping). Capturable.
  static torch::Tensor clip_divisor(const torch::Tensor& norm, double max_norm);
  /// Train through bf16 working copies (shadow.h): for each entry whose shadow received a gradient,
  /// step_device updates the master from the shadow's bf16 gradient and rewrites the shadow (fused_ops.h
  /// adamw_bf16), and grad_norm_device and zero_grad include the shadows' gradients. Each entry's master must
  /// be tiled exactly by parameters of this optimizer; their moments move into one buffer per entry (same
  /// values and names, so state() and load_state() are unchanged). nullptr detaches. Only step_device reads
  /// shadows: step() and clip_grad_norm() refuse to run while some are attached.
  /// Throws: Error(Internal) when a master is not tiled by parameters.
  void use_shadows(std::shared_ptr<ShadowWeights> shadows);
  /// Moments and step count as named tensors ("adam.m.<name>", "adam.v.<name>", "adam.t").
  std::map<std::string, torch::Tensor> state() const;
  /// Restore what state() returned. Throws: Error(Data) if a tensor is missing or has the wrong shape.
  void load_state(const std::map<std::string, torch::Tensor>& s);
  int64_t steps() const { return t_; }

#if PLEXUS_HAVE_FUSED_ADAMW
  /// One fused AdamW update (CUDA) whose learning rate is read on the device from `lr` (a 0-dim f32 tensor on
  /// the parameters' device) and whose step count t lives in a device scalar advanced by the kernel sequence
  /// itself, so the update needs no host value and can be captured in a CUDA graph and replayed. Same formulas
  /// and kernel as step(lr) (the f32 lr equals the double lr rounded as the kernel rounds it). The host count
  /// steps() is not advanced here: call count_step() once per update that really ran (a graph capture records
  /// without running). Throws: Error(Internal) when the parameters are not on CUDA.
  /// `grad_divisor` (clip_divisor, or undefined): the kernel divides every gradient by it as it reads it (its
  /// grad_scale input, built for AMP's unscaling), which clips without a separate pass over the gradients.
  void step_device(const torch::Tensor& lr, const torch::Tensor& grad_divisor = {});
  /// Host bookkeeping for step_device: t ← t + 1 (the device counter was advanced by the update itself).
  void count_step() { ++t_; }

#endif

 private:
#if PLEXUS_HAVE_FUSED_ADAMW
  /// CUDA: the fused AdamW kernel (at::_fused_adamw_) instead of the foreach sequence; same formulas.
  /// `lr_t` defined: the tensor-lr overload of the kernel (lr read on the device); else `lr`.
  void fused_step(double lr, const torch::Tensor& lr_t, const torch::Tensor& grad_divisor,
                  std::vector<torch::Tensor>& ps, std::vector<torch::Tensor>& gs, std::vector<torch::Tensor>& ms,
                  std::vector<torch::Tensor>& vs);
  torch::Tensor step_t_;  // the step count t as a device scalar for the fused kernel
  bool step_t_on_device_ = false;  // step_device has taken over the count: step_t_ advances on the device
#endif
  std::shared_ptr<ShadowWeights> shadows_;
  std::vector<torch::Tensor> shadow_m_, shadow_v_;  // per shadow entry: the moments of its master, flat
  /// The gradients whose norm is clipped: the parameters' (f32) and, with shadows, the shadows' (bf16).
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> grads() const;
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> m_, v_;
  AdamWOptions o_;
  int64_t t_ = 0;
};

struct ScheduleOptions {
  std::string schedule = "cosine";  ///< "cosine" or "constant_decay"
  double lr = 3e-3;                 ///< peak learning rate
  double min_lr = 3e-4;             ///< final learning rate
  int64_t warmup_steps = 50;
  int64_t steps = 1000;
  double decay_start = 0.676;       ///< constant_decay: fraction of steps before the cosine starts (V3)
  double decay_end = 0.966;         ///< constant_decay: fraction of steps where it reaches min_lr (V3)
};

/// Learning rate at 1-based `step`. Units: same as opts.lr.
double learning_rate(const ScheduleOptions& o, int64_t step);

/// Every parameter and buffer of a module as "model.<name>" → tensor (shared storage, not copies).
std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& m);

/// Copy tensors saved by module_state into `m`. Throws: Error(Data) naming a missing or mis-shaped tensor
/// (e.g. a checkpoint from another model config).
void load_module_state(torch::nn::Module& m, const std::map<std::string, torch::Tensor>& s);

}  // namespace plexus::llm
