// BDPL: sampling, the variance-reduced policy gradient and the AdamW + simplex step. See bdpl.h.
#include "plexus/bbpt/bdpl.h"

#include <cmath>

#include "plexus/bbpt/simplex.h"
#include "plexus/core/error.h"

namespace plexus::bbpt {

namespace {

/// probs as a contiguous CPU f64 [L,V] copy, validated for sampling / the gradient.
torch::Tensor probs_cpu(const torch::Tensor& probs, const char* who) {
  if (probs.dim() != 2 || probs.size(0) < 1 || probs.size(1) < 1)
    throw Error::data("{}: probs must be [L,V] with L, V >= 1, got {} dims", who, probs.dim());
  return probs.detach().to(torch::kCPU, torch::kDouble).contiguous();
}

torch::optim::AdamWOptions adamw_options(const BdplOptions& o) {
  // betas (0.9, 0.999) and eps 1e-8 are torch.optim.AdamW's defaults, which BDPL uses.
  return torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay);
}

}  // namespace

torch::Tensor uniform_prompt_probs(int64_t L, int64_t V) {
  if (L < 1) throw Error::config("BDPL prompt_length L = {} must be >= 1", L);
  if (V < 1) throw Error::config("BDPL candidates V = {} must be >= 1", V);
  return torch::full({L, V}, 1.0 / static_cast<double>(V), torch::kFloat32);
}

std::vector<std::vector<int64_t>> sample_prompts(const torch::Tensor& probs, int64_t I, Rng& rng) {
  if (I < 1) throw Error::config("BDPL samples I = {} must be >= 1", I);
  const torch::Tensor p = probs_cpu(probs, "sample_prompts");
  const int64_t L = p.size(0), V = p.size(1);
  auto a = p.accessor<double, 2>();
  std::vector<double> row_sum(L, 0.0);
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t v = 0; v < V; ++v) {
      if (!(a[l][v] >= 0) || !std::isfinite(a[l][v]))
        throw Error::data("sample_prompts: probs[{}][{}] = {} must be finite and >= 0", l, v, a[l][v]);
      row_sum[l] += a[l][v];
    }
    if (!(row_sum[l] > 0)) throw Error::data("sample_prompts: probs row {} sums to 0", l);
  }
  std::vector<std::vector<int64_t>> prompts(I, std::vector<int64_t>(L));
  for (int64_t i = 0; i < I; ++i) {
    for (int64_t l = 0; l < L; ++l) {
      // Inverse CDF: the first v with cumsum_v > u·S. Zero-probability entries cannot be first (their cumsum
      // equals the previous one). If rounding leaves u·S ≥ the final cumsum, take the last positive entry.
      const double target = rng.uniform() * row_sum[l];
      double cum = 0.0;
      int64_t pick = -1, last_positive = 0;
      for (int64_t v = 0; v < V; ++v) {
        if (a[l][v] > 0) last_positive = v;
        cum += a[l][v];
        if (cum > target && a[l][v] > 0) {
          pick = v;
          break;
        }
      }
      prompts[i][l] = pick >= 0 ? pick : last_positive;
    }
  }
  return prompts;
}

torch::Tensor bdpl_gradient(const torch::Tensor& probs, const std::vector<std::vector<int64_t>>& prompts,
                            const std::vector<double>& losses) {
  const int64_t I = static_cast<int64_t>(prompts.size());
  if (I < 2)
    throw Error::config("BDPL needs I >= 2 sampled prompts per step (the baseline divides by I − 1), got I = {} "
                        "(set samples >= 2)", I);
  if (static_cast<int64_t>(losses.size()) != I)
    throw Error::data("bdpl_gradient: {} losses for {} prompts", losses.size(), I);
  const torch::Tensor p = probs_cpu(probs, "bdpl_gradient");  // [L,V] f64
  const int64_t L = p.size(0), V = p.size(1);
  auto a = p.accessor<double, 2>();

  double mean = 0.0;
  for (int64_t k = 0; k < I; ++k) {
    if (!std::isfinite(losses[k])) throw Error::data("bdpl_gradient: loss {} of prompt {} is not finite", losses[k], k);
    mean += losses[k];
  }
  mean /= static_cast<double>(I);  // L̄

  // W_{l,v} = Σ_k w_k 1[s_kl = v] with w_k = (L_k − L̄)/(I − 1); sum_w = Σ_k w_k (≈ 0).
  torch::Tensor W = torch::zeros({L, V}, torch::kDouble);
  auto w_acc = W.accessor<double, 2>();
  double sum_w = 0.0;
  for (int64_t k = 0; k < I; ++k) {
    if (static_cast<int64_t>(prompts[k].size()) != L)
      throw Error::data("bdpl_gradient: prompt {} has {} tokens, probs has L = {}", k, prompts[k].size(), L);
    const double wk = (losses[k] - mean) / static_cast<double>(I - 1);
    sum_w += wk;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t v = prompts[k][l];
      if (v < 0 || v >= V)
        throw Error::data("bdpl_gradient: prompt {} position {} index {} outside [0, {})", k, l, v, V);
      w_acc[l][v] += wk;
    }
  }

  torch::Tensor g = torch::empty({L, V}, torch::kDouble);
  auto g_acc = g.accessor<double, 2>();
  for (int64_t l = 0; l < L; ++l) {
    double S = 0.0;  // Σ_v p_{l,v}: Categorical normalises probs by it
    for (int64_t v = 0; v < V; ++v) S += a[l][v];
    if (!(S > 0) || !std::isfinite(S)) throw Error::data("bdpl_gradient: probs row {} sums to {}", l, S);
    for (int64_t v = 0; v < V; ++v) {
      double term = 0.0;  // Σ_k w_k 1[s_kl = v] / p_{l,v}
      if (w_acc[l][v] != 0.0) {
        if (!(a[l][v] > 0))
          throw Error::data("bdpl_gradient: position {} candidate {} was sampled but has probability {}", l, v,
                            a[l][v]);
        term = w_acc[l][v] / a[l][v];
      }
      g_acc[l][v] = term - sum_w / S;
    }
  }
  return g.to(probs.options());
}

BdplOptimizer::BdplOptimizer(const BdplOptions& o, torch::Device device) : options_(o) {
  if (!(o.lr > 0)) throw Error::config("BDPL lr = {} must be > 0", o.lr);
  if (!(o.clip > 0)) throw Error::config("BDPL clip = {} must be > 0", o.clip);
  if (!(o.weight_decay >= 0)) throw Error::config("BDPL weight_decay = {} must be >= 0", o.weight_decay);
  probs_ = uniform_prompt_probs(o.prompt_length, o.candidates).to(device).requires_grad_(true);
  reset_state();
}

void BdplOptimizer::reset_state() {
  adamw_ = std::make_unique<torch::optim::AdamW>(std::vector<torch::Tensor>{probs_}, adamw_options(options_));
}

void BdplOptimizer::set_probs(const torch::Tensor& row) {
  if (row.numel() != probs_.numel())
    throw Error::data("BdplOptimizer::set_probs: row has {} elements, need L·V = {}·{} = {}", row.numel(),
                      probs_.size(0), probs_.size(1), probs_.numel());
  torch::NoGradGuard no_grad;
  const torch::Tensor r = row.detach().to(probs_.device(), torch::kFloat32).reshape(probs_.sizes());
  if (!torch::isfinite(r).all().item<bool>()) throw Error::data("BdplOptimizer::set_probs: row is not finite");
  probs_.copy_(r);
}

void BdplOptimizer::step(const torch::Tensor& grad) {
  if (grad.sizes() != probs_.sizes())
    throw Error::data("BdplOptimizer::step: grad has {} dims / {} elements, need [L,V] = [{},{}]", grad.dim(),
                      grad.numel(), probs_.size(0), probs_.size(1));
  torch::Tensor g = grad.detach().to(probs_.device(), torch::kFloat32).clone();
  if (!torch::isfinite(g).all().item<bool>()) throw Error::data("BdplOptimizer::step: gradient is not finite");
  probs_.mutable_grad() = g;
  // torch's clip_grad_norm_: g ← g · min(1, clip / (||g||₂ + 1e-6)); returns the pre-clip norm.
  last_grad_norm_ = torch::nn::utils::clip_grad_norm_(std::vector<torch::Tensor>{probs_}, options_.clip);
  adamw_->step();
  torch::NoGradGuard no_grad;
  probs_.copy_(project_simplex(probs_.detach()));
  probs_.mutable_grad() = torch::Tensor();
}

}  // namespace plexus::bbpt
