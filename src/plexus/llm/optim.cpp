// AdamW, learning-rate schedules and named state. See optim.h.
#include "plexus/llm/optim.h"

#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "plexus/core/error.h"

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
}

double AdamW::clip_grad_norm(double max_norm) {
  std::vector<torch::Tensor> grads;
  for (auto& [n, p] : params_)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  // One multi-tensor kernel for the per-tensor norms (the foreach path torch.nn.utils.clip_grad_norm_ uses).
  double norm = torch::stack(at::_foreach_norm(grads, 2)).norm().item<double>();
  if (max_norm > 0 && norm > max_norm) at::_foreach_mul_(grads, max_norm / (norm + 1e-6));
  return norm;
}

torch::Tensor AdamW::grad_norm_device() {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (auto& [n, p] : params_)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({}, params_.empty() ? torch::TensorOptions() : params_[0].second.options());
  return torch::stack(at::_foreach_norm(grads, 2)).norm();  // [] f32, the host path's value
}

torch::Tensor AdamW::clip_divisor(const torch::Tensor& norm, double max_norm) {
  if (max_norm <= 0) return {};
  auto n64 = norm.to(torch::kFloat64);
  return torch::where(n64 > max_norm, (n64 + 1e-6) / max_norm, torch::ones_like(n64)).to(torch::kFloat32);
}

torch::Tensor AdamW::clip_grad_norm_device(double max_norm) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (auto& [n, p] : params_)
    if (p.grad().defined()) grads.push_back(p.grad());
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
  if (ps.empty()) return;
  PLEXUS_CHECK(ps[0].is_cuda() && lr.is_cuda(), "AdamW::step_device needs CUDA parameters and a CUDA lr");
  if (!step_t_on_device_ || !step_t_.defined() || step_t_.device() != ps[0].device()) {
    // Take over the count once (before any capture): t from the host, later advanced on the device.
    step_t_ = torch::zeros({}, ps[0].options().dtype(torch::kFloat32));
    step_t_.fill_(static_cast<double>(t_));
    step_t_on_device_ = true;
  }
  step_t_.add_(1);  // torch.optim's fused path advances state_steps the same way, before the kernel
  fused_step(0.0, lr, grad_divisor, ps, gs, ms, vs);
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
