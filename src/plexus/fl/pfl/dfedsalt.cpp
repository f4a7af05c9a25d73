// DFedSalt — Shi et al. 2023, arXiv 2305.15157 (SAM variant of DFedAlt). As dfedalt.cpp, but the body step
// is a SAM step with the perturbation restricted to the shared body (the head is neither perturbed nor moved):
//   g = ∇_u F_i(u, v_i; ξ);  e = ρ g/||g||₂;  u ← u − η_u ∇_u F_i(u + e, v_i; ξ)
// The head step stays plain SGD. ρ = train.rho.
// Parts: AlternatingRule with SAM on the body + GossipColumns of the body + PersonalizedEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDfedsalt({
    .name = "dfedsalt", .title = "DFedSalt", .source = "Shi et al. 2023, arXiv 2305.15157",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/true);
      return personalized_parts(s, std::make_unique<AlternatingRule>(s, cols, /*body_sam=*/true),
                                std::make_unique<GossipColumns>(s, cols.communicated));
    }});

}  // namespace

}  // namespace plexus::fl
