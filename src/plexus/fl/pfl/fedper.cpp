// FedPer — Arivazhagan et al. 2019, "Federated Learning with Personalization Layers", arXiv 1912.00818:
//   sampled clients S train body and head jointly: (u_i, v_i) ← K SGD steps
//   u ← Σ_{i∈S} (n_i/n_S) u_i (body only), broadcast; v_i stays personal.
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec fedper_spec() {
  return {.name = "fedper", .title = "FedPer", .source = "Arivazhagan et al. 2019, arXiv 1912.00818",
          .comm = PflComm::Server, .training = PflTraining::Joint};
}

}  // namespace plexus::fl
