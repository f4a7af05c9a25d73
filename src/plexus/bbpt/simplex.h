// Euclidean projection onto the probability simplex Δ^{V−1} = {p ∈ R^V : p ≥ 0, Σ_v p_v = 1}.
//
//   proj(v) = argmin_{p ∈ Δ} ||p − v||²  =  max(v − τ, 0),  τ chosen so that Σ_v max(v_v − τ, 0) = 1.
//
// Sort-based algorithm (Duchi, Shalev-Shwartz, Singer, Chandra, ICML 2008, Fig. 1): with u = v sorted
// descending, ρ = max{j : u_j − (Σ_{r≤j} u_r − 1)/j > 0} and τ = (Σ_{r≤ρ} u_r − 1)/ρ. BDPL's code finds the same
// τ by bisection (constrainScoreByWholeExact, tolerance 1e-3, ≤ 20 iterations); the sort gives it exactly.
#pragma once

#include <torch/torch.h>

namespace plexus::bbpt {

/// Projects each row of v onto the probability simplex (each row of the result is ≥ 0 and sums to 1, and is
/// the closest such point in Euclidean distance). Idempotent; a row already on the simplex is unchanged.
/// Shapes: v [L,V] → [L,V], or v [V] → [V]; any floating dtype and device (computed in v's dtype).
/// Throws: Error(Internal) if v is not 1-D or 2-D, has V = 0 columns, or is not floating point.
/// Source: Duchi et al., ICML 2008, "Efficient Projections onto the l1-Ball", Fig. 1; BDPL
/// run_glue_discrete_LM.py constrainScoreByWholeExact (bisection for the same τ).
torch::Tensor project_simplex(const torch::Tensor& v);

}  // namespace plexus::bbpt
