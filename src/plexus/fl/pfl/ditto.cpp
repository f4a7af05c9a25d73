// Ditto — Li, Hu, Beirami, Smith, ICML 2021, "Ditto: Fair and Robust Federated Learning Through
// Personalization", arXiv 2012.04641, Alg. 1. Every client keeps a personal model v_i besides the global w:
//   sampled clients S, round t, with w^t the global model received at the start of the round:
//     personal: v_i ← v_i − η (∇F_i(v_i; ξ) + λ (v_i − w^t))        (K steps, personalization.ditto_lambda)
//     global:   w_i ← K SGD steps from w^t;   w^{t+1} = Σ_{i∈S} (n_i/n_S) w_i   (all columns)
// The personalized accuracy is measured on v_i; v_i never leaves the client.
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec ditto_spec() {
  return {.name = "ditto", .title = "Ditto", .source = "Li et al. ICML 2021, arXiv 2012.04641",
          .comm = PflComm::Server, .training = PflTraining::Joint, .personal_head = false, .ditto = true};
}

}  // namespace plexus::fl
