// Sort-based simplex projection (Duchi et al. 2008, Fig. 1). See simplex.h.
#include "plexus/bbpt/simplex.h"

#include "plexus/core/error.h"

namespace plexus::bbpt {

torch::Tensor project_simplex(const torch::Tensor& v) {
  PLEXUS_CHECK(v.dim() == 1 || v.dim() == 2, "project_simplex needs [V] or [L,V], got {} dims", v.dim());
  PLEXUS_CHECK(v.is_floating_point(), "project_simplex needs a floating tensor");
  PLEXUS_CHECK(v.size(-1) >= 1, "project_simplex needs V >= 1 columns");
  torch::NoGradGuard no_grad;
  const torch::Tensor x = v.dim() == 1 ? v.detach().unsqueeze(0) : v.detach();  // [L,V]
  const int64_t V = x.size(1);
  const torch::Tensor u = std::get<0>(x.sort(/*dim=*/1, /*descending=*/true));  // [L,V] descending
  const torch::Tensor css = u.cumsum(1);                                          // Σ_{r≤j} u_r  [L,V]
  const torch::Tensor j = torch::arange(1, V + 1, x.options());                   // 1..V  [V]
  // ρ = max{j : u_j − (css_j − 1)/j > 0}. In exact arithmetic the condition holds on a prefix j = 1..ρ; taking the
  // largest qualifying j (not the count) follows the definition even if rounding breaks the prefix.
  // j = 1 always qualifies (u_1 − (u_1 − 1) = 1 > 0), so ρ ≥ 1.
  const torch::Tensor cond = (u - (css - 1) / j).gt(0);                                         // [L,V] bool
  const torch::Tensor jl = torch::arange(1, V + 1, x.options().dtype(torch::kLong));            // [V]
  const torch::Tensor rho = (cond.to(torch::kLong) * jl).amax(1, /*keepdim=*/true).clamp_min(1);  // [L,1]
  const torch::Tensor tau = (css.gather(1, rho - 1) - 1) / rho.to(x.scalar_type());          // [L,1]
  const torch::Tensor p = (x - tau).clamp_min(0);                                            // [L,V]
  return v.dim() == 1 ? p.squeeze(0) : p;
}

}  // namespace plexus::bbpt
