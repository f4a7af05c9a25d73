// FedPer — Arivazhagan et al. 2019, "Federated Learning with Personalization Layers", arXiv 1912.00818:
//   sampled clients S train body and head jointly: (u_i, v_i) ← K SGD steps
//   u ← Σ_{i∈S} (n_i/n_S) u_i (body only), broadcast; v_i stays personal.
// Parts: StepRule (SGD, every column) + ServerColumns of the body + PersonalizedEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kFedper({
    .name = "fedper", .title = "FedPer", .source = "Arivazhagan et al. 2019, arXiv 1912.00818",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/true);
      return personalized_parts(s, step_rule(s), std::make_unique<ServerColumns>(s, cols.communicated));
    }});

}  // namespace

}  // namespace plexus::fl
