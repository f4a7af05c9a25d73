// FedBABU — Oh, Kim, Yun, ICLR 2022, arXiv 2106.06042:
//   training: the head stays at its random initialization (identical for all clients, never updated);
//   sampled clients S update only the body, u_i ← K SGD steps;  u ← Σ_{i∈S} (n_i/n_S) u_i, broadcast.
//   personalization: each client fine-tunes the head for K_v epochs (lr_head) before the "after" measurement
//   (the paper fine-tunes the whole model; here the head, as in its "head fine-tuning" ablation).
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec fedbabu_spec() {
  return {.name = "fedbabu", .title = "FedBABU", .source = "Oh et al. ICLR 2022, arXiv 2106.06042",
          .comm = PflComm::Server, .training = PflTraining::BodyOnly, .finetune = PflFinetune::Head};
}

}  // namespace plexus::fl
