// RoPE / YaRN tables and the adjacent-pair rotation. See rope.h for the formulas.
#include "plexus/llm/rope.h"

#include <algorithm>
#include <cmath>

namespace plexus::llm {

torch::Tensor rope_frequencies(const ModelArgs& a) {
  const int64_t d = a.qk_rope_head_dim;
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto freqs = 1.0 / torch::pow(a.rope_theta, torch::arange(0, d, 2, opts) / static_cast<double>(d));
  if (a.max_seq_len > a.original_seq_len) {
    const double pi = 3.14159265358979323846;
    auto corr = [&](double rotations) {
      return d * std::log(static_cast<double>(a.original_seq_len) / (rotations * 2 * pi)) /
             (2 * std::log(a.rope_theta));
    };
    double low = std::max(std::floor(corr(static_cast<double>(a.beta_fast))), 0.0);
    double high = std::min(std::ceil(corr(static_cast<double>(a.beta_slow))), static_cast<double>(d - 1));
    if (low == high) high += 0.001;  // avoid a zero-width ramp (as the reference does)
    auto ramp = ((torch::arange(d / 2, opts) - low) / (high - low)).clamp(0.0, 1.0);
    freqs = freqs * (1.0 - ramp) + (freqs / a.rope_factor) * ramp;
  }
  return freqs;
}

RopeTables precompute_rope(const ModelArgs& a) {
  auto freqs = rope_frequencies(a);                                       // [d_r/2]
  auto t = torch::arange(a.max_seq_len, torch::TensorOptions().dtype(torch::kFloat64));
  auto angles = torch::outer(t, freqs);                                   // [L, d_r/2]
  return {angles.cos().to(torch::kFloat32), angles.sin().to(torch::kFloat32)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto B = x.size(0), T = x.size(1), H = x.size(2), D = x.size(3);
  auto xf = x.to(torch::kFloat32).view({B, T, H, D / 2, 2});
  auto x0 = xf.select(-1, 0), x1 = xf.select(-1, 1);                     // [B,T,H,D/2]
  auto c = cos.view({1, T, 1, D / 2}), s = sin.view({1, T, 1, D / 2});
  // (x0 + i x1)(cos + i sin) = (x0 cos - x1 sin) + i (x0 sin + x1 cos)
  auto out = torch::stack({x0 * c - x1 * s, x0 * s + x1 * c}, -1);       // [B,T,H,D/2,2]
  return out.view({B, T, H, D}).to(x.scalar_type());
}

}  // namespace plexus::llm
