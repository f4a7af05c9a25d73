// FedAvg with local fine-tuning (FedAvg-FT) — McMahan et al. 2017, arXiv 1602.05629, plus per-client
// fine-tuning before evaluation (the FedAvg-FT baseline of the personalization literature):
//   sampled clients S: x_i ← K SGD steps from x;  x ← Σ_{i∈S} (n_i/n_S) x_i  (all columns)
//   personalized model of client i: x fine-tuned for K_v epochs (lr_head) on client i's data; the "before"
//   value is the global model itself.
// Parts: StepRule (SGD, every column) + ServerColumns (every column) + PersonalizedEvaluator
// fine-tuning every column.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kFedavgFt({
    .name = "fedavg_ft", .title = "FedAvg-FT", .source = "McMahan et al. 2017, arXiv 1602.05629 + fine-tuning",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/false);
      return personalized_parts(s, step_rule(s), std::make_unique<ServerColumns>(s, cols.communicated),
                                /*finetune=*/std::vector<ColumnRange>{});
    }});

}  // namespace

}  // namespace plexus::fl
