// One pretraining step, host-driven (CPU) or sync-free and optionally CUDA-graphed (CUDA). See train_step.h.
#include "plexus/llm/train_step.h"

#include "plexus/core/cuda_graph.h"
#include "plexus/core/error.h"
#include "plexus/llm/fused_ops.h"
#include "plexus/llm/grouped_dispatch.h"

namespace plexus::llm {

namespace {
constexpr int64_t kScalars = 5;  // total, main, mtp, balance, grad norm; then 3 numbers per MoE layer
}

TrainStep::TrainStep(Transformer model, AdamW& opt, TrainStepOptions o, torch::Device dev, torch::Dtype compute)
    : model_(std::move(model)), opt_(opt), o_(o), dev_(dev) {
#if PLEXUS_HAVE_FUSED_ADAMW
  device_ = dev.is_cuda();
#endif
  if (o_.cuda_graphs) {
    auto why = graph_blocker(model_, dev, compute);
    if (!why.empty()) throw Error::config("CUDA graphs of the training step: {} (set run.cuda_graphs = \"off\")", why);
    graph_ = std::make_unique<CudaGraph>();
  }
#if PLEXUS_HAVE_FUSED_ADAMW
  if (device_ && o_.bf16_shadows && compute == torch::kBFloat16 && have_fused_kernels()) {
    shadows_ = std::make_shared<ShadowWeights>(model_->matmul_weights());
    opt_.use_shadows(shadows_);
  }
#endif
  if (device_) {
    auto f = torch::TensorOptions().device(dev);
    lr_ = torch::zeros({}, f.dtype(torch::kFloat32));
    stats_ = torch::zeros({kScalars + 3 * static_cast<int64_t>(model_->moe_layers().size())}, f.dtype(torch::kFloat64));
  }
}

TrainStep::~TrainStep() {
  if (shadows_) opt_.use_shadows(nullptr);  // the optimizer outlives this step; the masters hold every update
}

std::string TrainStep::graph_blocker(const Transformer& model, torch::Device dev, torch::Dtype compute) {
  if (!dev.is_cuda()) return "the device is " + dev.str() + ", not CUDA";
  if (!cuda_graphs_supported()) return "this plexus is built against a CPU-only LibTorch";
#if !PLEXUS_HAVE_FUSED_ADAMW
  return "the sync-free AdamW needs PyTorch >= 2.2";
#endif
  if (compute != torch::kBFloat16)
    return "f32 compute runs the per-expert MoE, which reads expert counts on the host (use train.dtype = bfloat16)";
  if (!have_grouped_mm()) return "this LibTorch lacks the grouped GEMM (_grouped_mm, PyTorch >= 2.8)";
  const auto& a = model->args();
  if (a.dim % 8 != 0 || a.moe_inter_dim % 8 != 0)
    return "model.dim and model.moe_inter_dim must be multiples of 8 for the grouped GEMM";
  for (auto& m : model->moe_layers())
    if (m->dispatch == MoeDispatch::PerExpert) return "the MoE dispatch is per_expert (host-read counts)";
  return "";
}

void TrainStep::body() {
  opt_.zero_grad();  // eager and warm-up: fresh gradients; capture: backward allocates them in the graph's pool
  LossParts parts;
  {
    ShadowGuard guard(shadows_.get());  // the products read the bf16 shadows (null: cast the masters)
    parts = model_->loss(x_, y_);
  }
  parts.total.backward();
  torch::NoGradGuard ng;
#if PLEXUS_HAVE_FUSED_ADAMW
  // The clip rides in the AdamW kernel as a gradient divisor: no separate pass scaling every gradient.
  auto norm = opt_.grad_norm_device();
  opt_.step_device(lr_, AdamW::clip_divisor(norm, o_.grad_clip));
#else
  auto norm = opt_.clip_grad_norm_device(o_.grad_clip);
#endif
  // Aux-loss-free bias update on the device (the same ops as Transformer::end_step_balance, without its host read).
  auto moes = model_->moe_layers();
  std::vector<torch::Tensor> pieces = {
      torch::stack({parts.total.detach(), parts.main.detach(), parts.mtp.detach(), parts.balance.detach()})
          .to(torch::kFloat64),
      norm.to(torch::kFloat64).view({1})};
  if (!moes.empty()) {
    std::vector<torch::Tensor> loads;
    for (auto& m : moes) loads.push_back(m->take_load());  // clone + in-place zero: fixed addresses
    auto L = torch::stack(loads);                          // [layers, E] f64
    if (o_.bias_update_speed > 0) {
      auto step = bias_update_step(L, o_.bias_update_speed).to(moes[0]->gate->bias.options());
      for (size_t i = 0; i < moes.size(); ++i) moes[i]->gate->bias.add_(step[static_cast<int64_t>(i)]);
    }
    pieces.push_back(torch::stack({L.mean(1), std::get<0>(L.max(1)), std::get<0>(L.min(1))}, 1).flatten());
  }
  stats_.copy_(torch::cat(pieces));  // into the persistent vector: a warm-up's values survive the capture
}

void TrainStep::run(const torch::Tensor& inputs, const torch::Tensor& targets, double lr) {
  if (!device_) {
    // Host-driven step (unchanged arithmetic: the CPU results of every earlier release).
    opt_.zero_grad();
    parts_ = model_->loss(inputs.to(dev_), targets.to(dev_));
    parts_.total.backward();
    grad_norm_ = opt_.clip_grad_norm(o_.grad_clip);
    opt_.step(lr);
    loads_ = model_->end_step_balance(o_.bias_update_speed);  // after the optimizer step (A6)
    return;
  }
  if (!x_.defined() || x_.sizes() != inputs.sizes()) {
    if (graph_ && graph_->captured())
      throw Error::config("a CUDA-graphed training step needs the same batch shape every step (got {}x{} after "
                          "{}x{}); set run.cuda_graphs = \"off\"",
                          inputs.size(0), inputs.size(1), x_.size(0), x_.size(1));
    x_ = torch::empty(inputs.sizes(), inputs.options().device(dev_));
    y_ = torch::empty(targets.sizes(), targets.options().device(dev_));
  }
  x_.copy_(inputs, /*non_blocking=*/true);  // queued on the current stream, before the step that reads it
  y_.copy_(targets, /*non_blocking=*/true);
  lr_.fill_(lr);
  if (!graph_) {
    body();
  } else if (!graph_->captured()) {
    graph_->capture([this] { body(); }, /*warmup=*/1);  // the warm-up call is this step; the capture only records
  } else {
    graph_->replay();
  }
#if PLEXUS_HAVE_FUSED_ADAMW
  opt_.count_step();
#endif
}

StepStats TrainStep::read() {
  StepStats s;
  if (!device_) {
    s.total = parts_.total.item<double>();
    s.main = parts_.main.item<double>();
    s.mtp = parts_.mtp.item<double>();
    s.balance = parts_.balance.item<double>();
    s.grad_norm = grad_norm_;
    s.loads = loads_;
    return s;
  }
  auto h = stats_.to(torch::kCPU);
  auto v = h.accessor<double, 1>();
  s.total = v[0], s.main = v[1], s.mtp = v[2], s.balance = v[3], s.grad_norm = v[4];
  const int64_t layers = (h.size(0) - kScalars) / 3;
  s.loads.resize(static_cast<size_t>(layers));
  for (int64_t i = 0; i < layers; ++i) {
    const double mean = v[kScalars + 3 * i], mx = v[kScalars + 3 * i + 1], mn = v[kScalars + 3 * i + 2];
    if (mean > 0) s.loads[static_cast<size_t>(i)] = {mx / mean, mn / mean};
  }
  return s;
}

}  // namespace plexus::llm
