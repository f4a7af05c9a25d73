// Local — every client trains its own whole model on its own data and never communicates (the baseline of
// DFedAlt / DFedPGP, arXiv 2305.15157 and 2405.17876):  x_i ← x_i − η ∇F_i(x_i; ξ) for K steps per round.
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec local_spec() {
  return {.name = "local", .title = "Local", .source = "local training only (baseline)",
          .comm = PflComm::None, .training = PflTraining::Joint, .personal_head = false};
}

}  // namespace plexus::fl
