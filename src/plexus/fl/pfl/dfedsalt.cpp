// DFedSalt — Shi et al. 2023, arXiv 2305.15157 (SAM variant of DFedAlt). As dfedalt.cpp, but the body step
// is a SAM step with the perturbation restricted to the shared body (the head is neither perturbed nor moved):
//   g = ∇_u F_i(u, v_i; ξ);  e = ρ g/||g||₂;  u ← u − η_u ∇_u F_i(u + e, v_i; ξ)
// The head step stays plain SGD. ρ = train.rho.
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec dfedsalt_spec() {
  return {.name = "dfedsalt", .title = "DFedSalt", .source = "Shi et al. 2023, arXiv 2305.15157",
          .comm = PflComm::Gossip, .training = PflTraining::Alternating, .body_sam = true};
}

}  // namespace plexus::fl
