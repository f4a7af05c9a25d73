// FedAvg with local fine-tuning (FedAvg-FT) — McMahan et al. 2017, arXiv 1602.05629, plus per-client
// fine-tuning before evaluation (the FedAvg-FT baseline of the personalization literature):
//   sampled clients S: x_i ← K SGD steps from x;  x ← Σ_{i∈S} (n_i/n_S) x_i  (all columns)
//   personalized model of client i: x fine-tuned for K_v epochs (lr_head) on client i's data; the "before"
//   value is the global model itself.
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec fedavg_ft_spec() {
  return {.name = "fedavg_ft", .title = "FedAvg-FT", .source = "McMahan et al. 2017, arXiv 1602.05629 + fine-tuning",
          .comm = PflComm::Server, .training = PflTraining::Joint, .personal_head = false,
          .finetune = PflFinetune::All};
}

}  // namespace plexus::fl
