// Client-level DP row operations: clipping (global / per tensor), top-k and rand-k sparsification, and
// addressed Gaussian noise. See privatizer.h and docs/privacy.md.
#include "plexus/privacy/privatizer.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::privacy {
namespace {

// Norms below this are treated as 0 (the row is left as is); avoids 0/0 for an all-zero update.
constexpr double kTinyNorm = 1e-30;

void check_matrix(const torch::Tensor& D) {
  PLEXUS_CHECK(D.defined() && D.dim() == 2, "update matrix must be [m,P], got {} dims", D.defined() ? D.dim() : -1);
  PLEXUS_CHECK(D.is_floating_point(), "update matrix must be floating point");
}

void check_ids(const torch::Tensor& D, const std::vector<int64_t>& client_ids) {
  PLEXUS_CHECK(static_cast<int64_t>(client_ids.size()) == D.size(0), "{} client ids for {} rows", client_ids.size(),
               D.size(0));
}

// Scales each row of the view V [m,n] by min(1, C/‖V_i‖) in place; returns the pre-clip norms [m].
torch::Tensor clip_view(torch::Tensor V, double clip_norm) {
  auto norms = V.norm(2, /*dim=*/1);                                          // [m]
  auto factor = (clip_norm / norms.clamp_min(kTinyNorm)).clamp_max(1.0);     // [m], ≤ 1
  V.mul_(factor.unsqueeze(1));                                                // [m,n]
  return norms;
}

}  // namespace

torch::Tensor clip_rows(torch::Tensor& D, double clip_norm, const std::vector<Segment>& segments) {
  check_matrix(D);
  if (!(clip_norm > 0.0) || !std::isfinite(clip_norm))
    throw Error::config("clip_norm = {} must be > 0 (the L2 bound C on one client's update)", clip_norm);
  torch::NoGradGuard no_grad;
  if (segments.empty()) return clip_view(D, clip_norm);
  const int64_t P = D.size(1);
  auto norms = D.norm(2, 1);  // whole-row pre-clip norms, reported for logging
  for (const auto& s : segments) {
    PLEXUS_CHECK(s.offset >= 0 && s.numel > 0 && s.offset + s.numel <= P, "segment [{}, {}) outside [0, {})",
                 s.offset, s.offset + s.numel, P);
    clip_view(D.narrow(1, s.offset, s.numel), clip_norm);  // narrow is a view: clipping writes into D
  }
  return norms;
}

int64_t sparsity_k(double p, int64_t P) {
  if (!(p > 0.0 && p <= 1.0))
    throw Error::config("sparsity density p = {} must lie in (0, 1] (fraction of coordinates kept)", p);
  const auto k = static_cast<int64_t>(std::ceil(p * static_cast<double>(P) - 1e-9));
  return std::clamp<int64_t>(k, 1, P);
}

torch::Tensor topk_rows(torch::Tensor& D, double p) {
  check_matrix(D);
  const int64_t k = sparsity_k(p, D.size(1));
  torch::NoGradGuard no_grad;
  auto idx = std::get<1>(D.abs().topk(k, /*dim=*/1, /*largest=*/true, /*sorted=*/false));  // [m,k]
  auto mask = torch::zeros(D.sizes(), D.options().dtype(torch::kBool));                     // [m,P]
  mask.scatter_(1, idx, true);
  D.mul_(mask);
  return mask;
}

torch::Tensor randk_rows(torch::Tensor& D, double p, uint64_t seed, int64_t round,
                         const std::vector<int64_t>& client_ids) {
  check_matrix(D);
  check_ids(D, client_ids);
  const int64_t m = D.size(0), P = D.size(1), k = sparsity_k(p, P);
  torch::NoGradGuard no_grad;
  auto mask_cpu = torch::zeros({m, P}, torch::kBool);
  for (int64_t i = 0; i < m; ++i) {
    Rng rng(seed, "dp_randk", static_cast<uint64_t>(client_ids[i]), static_cast<uint64_t>(round));
    auto chosen = rng.sample_without_replacement(P, k);  // sorted, uniform k-subset (data independent)
    auto idx = torch::from_blob(chosen.data(), {k}, torch::kLong).clone();
    mask_cpu[i].index_fill_(0, idx, true);
  }
  auto mask = mask_cpu.to(D.device());
  D.mul_(mask);
  return mask;
}

void add_gaussian_noise(torch::Tensor& D, double std, uint64_t seed, int64_t round,
                        const std::vector<int64_t>& client_ids, const std::optional<torch::Tensor>& mask) {
  check_matrix(D);
  check_ids(D, client_ids);
  if (!(std >= 0.0) || !std::isfinite(std)) throw Error::config("noise std = {} must be >= 0 and finite", std);
  if (mask) PLEXUS_CHECK(mask->sizes() == D.sizes(), "mask shape differs from the update matrix");
  if (std == 0.0) return;
  torch::NoGradGuard no_grad;
  const int64_t m = D.size(0), P = D.size(1);
  for (int64_t i = 0; i < m; ++i) {
    auto gen = torch_generator(stream_key(seed, "dp_noise", static_cast<uint64_t>(client_ids[i]),
                                          static_cast<uint64_t>(round)));
    auto noise = torch::randn({P}, gen, torch::TensorOptions().dtype(torch::kFloat32));  // [P] on CPU
    noise.mul_(std);
    auto row_noise = noise.to(D.device(), D.scalar_type());
    if (mask) row_noise.mul_((*mask)[i].to(row_noise.scalar_type()));  // Fed-SMP: noise on kept coords only
    D[i].add_(row_noise);
  }
}

double client_noise_std(double noise_multiplier, double clip_norm, int64_t m) {
  if (!(noise_multiplier >= 0.0)) throw Error::config("noise_multiplier = {} must be >= 0", noise_multiplier);
  if (!(clip_norm > 0.0)) throw Error::config("clip_norm = {} must be > 0", clip_norm);
  if (m < 1) throw Error::config("number of sampled clients m = {} must be >= 1", m);
  return noise_multiplier * clip_norm / std::sqrt(static_cast<double>(m));
}

}  // namespace plexus::privacy
