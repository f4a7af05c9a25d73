// FedRep — Collins, Hassani, Mokhtari, Shakkottai, ICML 2021, arXiv 2102.07078, Alg. 1:
//   sampled clients S: head v_i ← K_v epochs SGD with the body frozen (FedRep uses many, e.g. 10),
//   then body u_i ← K_u epochs SGD with the head frozen (FedRep: 1);  u ← Σ_{i∈S} (n_i/n_S) u_i, broadcast.
// Same alternating trainer as DFedAlt; only the communication (server) differs.
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec fedrep_spec() {
  return {.name = "fedrep", .title = "FedRep", .source = "Collins et al. ICML 2021, arXiv 2102.07078",
          .comm = PflComm::Server, .training = PflTraining::Alternating};
}

}  // namespace plexus::fl
