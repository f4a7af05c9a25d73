// AdamW, learning-rate schedules and named state. See optim.h.
#include "plexus/llm/optim.h"

#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "plexus/core/error.h"
#include "plexus/llm/fused_ops.h"

// at::_foreach_norm with an accumulation dtype (the bf16 shadows' gradient norms in f32): PyTorch >= 2.6.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 6))
#define PLEXUS_HAVE_FOREACH_NORM_DTYPE 1
#else
#define PLEXUS_HAVE_FOREACH_NORM_DTYPE 0
#endif

namespace plexus::llm {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions o)
    : params_(std::move(params)), o_(o) {
  for (auto& [n, p] : params_) {
    m_.push_back(torch::zeros_like(p));
    v_.push_back(torch::zeros_like(p));
  }
}

void AdamW::zero_grad() {
  // Drop the gradients (set to none): backward then writes fresh ones, saving a zero-fill per tensor.
  for (auto& [n, p] : params_)
    if (p.grad().defined()) p.mutable_grad().reset();
  if (shadows_) shadows_->zero_grad();
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> AdamW::grads() const {
  std::vector<torch::Tensor> g32, g16;
  for (auto& [n, p] : params_)
    if (p.grad().defined()) g32.push_back(p.grad());
  if (shadows_)
    for (const auto& e : shadows_->entries())
      if (e.shadow.grad().defined()) g16.push_back(e.shadow.grad());
  return {g32, g16};
}

namespace {
void refuse_shadows(bool attached, const char* what) {
  PLEXUS_CHECK(!attached, "AdamW::{} ignores the bf16 shadows' gradients: use step_device", what);
}

// Whether p's first element lies inside the f32 master M's storage span.
bool starts_in(const torch::Tensor& p, const torch::Tensor& M) {
  const auto* q = static_cast<const char*>(p.data_ptr());
  const auto* base = static_cast<const char*>(M.data_ptr());
  return p.device() == M.device() && q >= base && q < base + M.numel() * static_cast<int64_t>(sizeof(float));
}
}  // namespace

double AdamW::clip_grad_norm(double max_norm) {
  auto grads = this->grads().first;
  refuse_shadows(shadows_ != nullptr, "clip_grad_norm");
  if (grads.empty()) return 0.0;
  // One multi-tensor kernel for the per-tensor norms (the foreach path torch.nn.utils.clip_grad_norm_ uses).
  double norm = torch::stack(at::_foreach_norm(grads, 2)).norm().item<double>();
  if (max_norm > 0 && norm > max_norm) at::_foreach_mul_(grads, max_norm / (norm + 1e-6));
  return norm;
}

torch::Tensor AdamW::grad_norm_device() {
  torch::NoGradGuard ng;
  auto [g32, g16] = grads();
  if (g32.empty() && g16.empty())
    return torch::zeros({}, params_.empty() ? torch::TensorOptions() : params_[0].second.options());
  std::vector<torch::Tensor> norms;  // per tensor, f32
  if (!g32.empty()) norms = at::_foreach_norm(g32, 2);
#if PLEXUS_HAVE_FOREACH_NORM_DTYPE
  if (!g16.empty())
    for (auto& n : at::_foreach_norm(g16, 2, torch::kFloat32)) norms.push_back(n);  // bf16 summed in f32
#else
  for (auto& g : g16) norms.push_back(torch::linalg_vector_norm(g, 2, c10::nullopt, false, torch::kFloat32));
#endif
  return torch::stack(norms).norm();  // [] f32; without shadows the host path's value
}

torch::Tensor AdamW::clip_divisor(const torch::Tensor& norm, double max_norm) {
  if (max_norm <= 0) return {};
  auto n64 = norm.to(torch::kFloat64);
  return torch::where(n64 > max_norm, (n64 + 1e-6) / max_norm, torch::ones_like(n64)).to(torch::kFloat32);
}

torch::Tensor AdamW::clip_grad_norm_device(double max_norm) {
  torch::NoGradGuard ng;
  auto grads = this->grads().first;
  refuse_shadows(shadows_ != nullptr, "clip_grad_norm_device");
  auto norm = grad_norm_device();
  if (grads.empty()) return norm;
  if (max_norm > 0) {
    // The host path multiplies by the double max_norm/(n+1e-6), which the kernel rounds to f32: the same here.
    auto n64 = norm.to(torch::kFloat64);
    // (a Scalar / Tensor in ATen is a reciprocal times the scalar, rounded differently: divide explicitly)
    auto scaled = torch::full_like(n64, max_norm).div(n64 + 1e-6);
    auto coef = torch::where(n64 > max_norm, scaled, torch::ones_like(n64)).to(grads[0].dtype());
#if PLEXUS_HAVE_FUSED_ADAMW
    at::_foreach_mul_(grads, coef);  // one multi-tensor launch (the Tensor-scalar overload, PyTorch >= 2.1)
#else
    for (auto& g : grads) g.mul_(coef);
#endif
  }
  return norm;
}

void AdamW::step(double lr) {
  torch::NoGradGuard ng;
  refuse_shadows(shadows_ != nullptr, "step");
  ++t_;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  std::vector<torch::Tensor> ps, gs, ms, vs, decayed;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    ps.push_back(p), gs.push_back(p.grad()), ms.push_back(m_[i]), vs.push_back(v_[i]);
    if (o_.weight_decay > 0 && p.dim() >= 2) decayed.push_back(p);
  }
  if (ps.empty()) return;
#if PLEXUS_HAVE_FUSED_ADAMW
  if (ps[0].is_cuda()) return fused_step(lr, {}, {}, ps, gs, ms, vs);
#endif
  // Multi-tensor (foreach) kernels, as torch.optim.AdamW's default implementation on CUDA.
  at::_foreach_mul_(ms, o_.beta1);
  at::_foreach_add_(ms, gs, 1.0 - o_.beta1);                  // m ← β1 m + (1-β1) g
  at::_foreach_mul_(vs, o_.beta2);
  at::_foreach_addcmul_(vs, gs, gs, 1.0 - o_.beta2);          // v ← β2 v + (1-β2) g²
  if (!decayed.empty()) at::_foreach_mul_(decayed, 1.0 - lr * o_.weight_decay);  // decoupled decay
  auto denom = at::_foreach_sqrt(vs);
  at::_foreach_div_(denom, std::sqrt(bc2));
  at::_foreach_add_(denom, o_.eps);                           // sqrt(v̂) + ε
  at::_foreach_addcdiv_(ps, ms, denom, -lr / bc1);            // p ← p − lr m̂ / (sqrt(v̂) + ε)
}

#if PLEXUS_HAVE_FUSED_ADAMW
void AdamW::step_device(const torch::Tensor& lr, const torch::Tensor& grad_divisor) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> ps, gs, ms, vs;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    ps.push_back(p), gs.push_back(p.grad()), ms.push_back(m_[i]), vs.push_back(v_[i]);
  }
  std::vector<AdamWBf16Slice> sh;  // masters updated from their shadows' bf16 gradients
  if (shadows_) {
    const auto& es = shadows_->entries();
    for (size_t k = 0; k < es.size(); ++k) {
      if (!es[k].shadow.grad().defined()) continue;
      sh.push_back({es[k].master.view({-1}), es[k].shadow.grad().contiguous().view({-1}), shadow_m_[k], shadow_v_[k],
                    es[k].shadow.detach().view({-1})});
    }
    for (const auto& p : ps)
      for (const auto& s : sh)
        PLEXUS_CHECK(!starts_in(p, s.p), "AdamW::step_device: a parameter has a gradient of its own and one through "
                                          "its bf16 shadow (was it used outside the ShadowGuard?)");
  }
  if (ps.empty() && sh.empty()) return;
  const auto dev = ps.empty() ? sh[0].p.device() : ps[0].device();
  PLEXUS_CHECK(dev.is_cuda() && lr.is_cuda(), "AdamW::step_device needs CUDA parameters and a CUDA lr");
  if (!step_t_on_device_ || !step_t_.defined() || step_t_.device() != dev) {
    // Take over the count once (before any capture): t from the host, later advanced on the device.
    step_t_ = torch::zeros({}, torch::TensorOptions().device(dev).dtype(torch::kFloat32));
    step_t_.fill_(static_cast<double>(t_));
    step_t_on_device_ = true;
  }
  step_t_.add_(1);  // torch.optim's fused path advances state_steps the same way, before the kernel
  if (!ps.empty()) fused_step(0.0, lr, grad_divisor, ps, gs, ms, vs);
  // Every master is a matrix (use_shadows checks): decayed.
  if (!sh.empty()) adamw_bf16(sh, lr, step_t_, grad_divisor, o_.beta1, o_.beta2, o_.eps, o_.weight_decay);
}


void AdamW::fused_step(double lr, const torch::Tensor& lr_t, const torch::Tensor& grad_divisor,
                       std::vector<torch::Tensor>& ps, std::vector<torch::Tensor>& gs,
                       std::vector<torch::Tensor>& ms, std::vector<torch::Tensor>& vs) {
  // torch.optim.AdamW(fused=True)'s kernel: one launch per group for the whole update, the same formulas as the
  // foreach path below (decoupled decay p ← p(1 − lr·λ), bias-corrected moments). Decay applies to matrices
  // only, so the parameters go in two groups. The kernel reads the step count from a device tensor per
  // parameter; one shared scalar, filled from t_, serves all (a fill, not a host→device copy).
  if (!lr_t.defined()) {
    if (!step_t_.defined() || step_t_.device() != ps[0].device())
      step_t_ = torch::zeros({}, ps[0].options().dtype(torch::kFloat32));
    step_t_.fill_(static_cast<double>(t_));
    step_t_on_device_ = false;
  }
  std::vector<torch::Tensor> g[2][4];  // [decayed?][p, grad, m, v]
  for (size_t i = 0; i < ps.size(); ++i) {
    const int d = (o_.weight_decay > 0 && ps[i].dim() >= 2) ? 1 : 0;
    g[d][0].push_back(ps[i]), g[d][1].push_back(gs[i]), g[d][2].push_back(ms[i]), g[d][3].push_back(vs[i]);
  }
  for (int d = 0; d < 2; ++d) {
    if (g[d][0].empty()) continue;
    std::vector<torch::Tensor> steps(g[d][0].size(), step_t_);
    const double wd = d == 1 ? o_.weight_decay : 0.0;
    // grad_scale: the kernel reads g / grad_scale (AMP's unscaling), here the clip divisor.
    const c10::optional<at::Tensor> scale =
        grad_divisor.defined() ? c10::optional<at::Tensor>(grad_divisor) : c10::nullopt;
    if (lr_t.defined())  // the tensor-lr overload (PyTorch >= 2.2): lr read from device memory by the kernel
      at::_fused_adamw_(g[d][0], g[d][1], g[d][2], g[d][3], /*max_exp_avg_sqs=*/{}, steps, lr_t, o_.beta1,
                        o_.beta2, wd, o_.eps, /*amsgrad=*/false, /*maximize=*/false, scale);
    else
      at::_fused_adamw_(g[d][0], g[d][1], g[d][2], g[d][3], /*max_exp_avg_sqs=*/{}, steps, lr, o_.beta1, o_.beta2,
                        wd, o_.eps, /*amsgrad=*/false, /*maximize=*/false, scale);
  }
}
#endif

void AdamW::use_shadows(std::shared_ptr<ShadowWeights> shadows) {
  torch::NoGradGuard ng;
  shadows_ = std::move(shadows);
  shadow_m_.clear(), shadow_v_.clear();
  if (!shadows_) return;
  for (const auto& e : shadows_->entries()) {
    const auto& M = e.master;
    PLEXUS_CHECK(M.dim() >= 2, "AdamW::use_shadows: a shadowed master must be a matrix (weight decay applies)");
    const auto* base = static_cast<const char*>(M.data_ptr());
    const int64_t bytes = M.numel() * static_cast<int64_t>(sizeof(float));
    auto m = torch::empty({M.numel()}, M.options()), v = torch::empty({M.numel()}, M.options());
    int64_t tiled = 0;
    for (size_t i = 0; i < params_.size(); ++i) {
      const auto& p = params_[i].second;
      if (!starts_in(p, M)) continue;
      const auto* q = static_cast<const char*>(p.data_ptr());
      PLEXUS_CHECK(p.is_contiguous() && p.scalar_type() == torch::kFloat32 &&
                       q + p.numel() * static_cast<int64_t>(sizeof(float)) <= base + bytes,
                   "AdamW::use_shadows: parameter '{}' straddles a shadowed master", params_[i].first);
      const int64_t off = (q - base) / static_cast<int64_t>(sizeof(float));
      m.narrow(0, off, p.numel()).copy_(m_[i].reshape({-1}));
      v.narrow(0, off, p.numel()).copy_(v_[i].reshape({-1}));
      m_[i] = m.narrow(0, off, p.numel()).view(p.sizes());  // state() and load_state() see the same tensors
      v_[i] = v.narrow(0, off, p.numel()).view(p.sizes());
      tiled += p.numel();
    }
    PLEXUS_CHECK(tiled == M.numel(), "AdamW::use_shadows: a shadowed master is not tiled by this optimizer's parameters");
    shadow_m_.push_back(m), shadow_v_.push_back(v);
  }
}

std::map<std::string, torch::Tensor> AdamW::state() const {
  std::map<std::string, torch::Tensor> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s["adam.m." + params_[i].first] = m_[i];
    s["adam.v." + params_[i].first] = v_[i];
  }
  s["adam.t"] = torch::tensor({t_}, torch::kInt64);
  return s;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& s) {
  torch::NoGradGuard ng;
  auto get = [&](const std::string& k, const torch::Tensor& like) {
    auto it = s.find(k);
    if (it == s.end()) throw Error::data("checkpoint lacks optimizer tensor '{}'", k);
    if (it->second.sizes() != like.sizes())
      throw Error::data("checkpoint tensor '{}' has another shape than the model's", k);
    return it->second;
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i].copy_(get("adam.m." + params_[i].first, m_[i]));
    v_[i].copy_(get("adam.v." + params_[i].first, v_[i]));
  }
  auto it = s.find("adam.t");
  if (it == s.end()) throw Error::data("checkpoint lacks optimizer tensor 'adam.t'");
  t_ = it->second.item<int64_t>();
#if PLEXUS_HAVE_FUSED_ADAMW
  step_t_on_device_ = false;  // step_device refills its device count from the restored t
#endif
}

double learning_rate(const ScheduleOptions& o, int64_t step) {
  const double pi = 3.14159265358979323846;
  if (step <= o.warmup_steps && o.warmup_steps > 0)
    return o.lr * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
  auto cosine = [&](double from, double to) {  // cosine from lr at step `from` to min_lr at step `to`
    double prog = std::clamp((static_cast<double>(step) - from) / std::max(1.0, to - from), 0.0, 1.0);
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(pi * prog));
  };
  const double n = static_cast<double>(o.steps);
  if (o.schedule == "constant_decay") {
    double start = std::max(o.decay_start * n, static_cast<double>(o.warmup_steps));
    if (static_cast<double>(step) <= start) return o.lr;
    return cosine(start, std::max(start, o.decay_end * n));
  }
  return cosine(static_cast<double>(o.warmup_steps), n);
}

std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> s;
  for (auto& p : m.named_parameters()) s["model." + p.key()] = p.value();
  for (auto& b : m.named_buffers()) s["model." + b.key()] = b.value();
  return s;
}

void load_module_state(torch::nn::Module& m, const std::map<std::string, torch::Tensor>& s) {
  torch::NoGradGuard ng;
  for (auto& [name, t] : module_state(m)) {
    auto it = s.find(name);
    if (it == s.end())
      throw Error::data("checkpoint lacks tensor '{}' (was it written for another model config?)", name);
    if (it->second.sizes() != t.sizes())
      throw Error::data("checkpoint tensor '{}' has shape {} but the model expects {} (another model config?)",
                        name, fmt::format("{}", fmt::join(it->second.sizes(), "x")),
                        fmt::format("{}", fmt::join(t.sizes(), "x")));
    t.copy_(it->second);
  }
}

}  // namespace plexus::llm
