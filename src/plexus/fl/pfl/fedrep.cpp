// FedRep — Collins, Hassani, Mokhtari, Shakkottai, ICML 2021, arXiv 2102.07078, Alg. 1:
//   sampled clients S: head v_i ← K_v epochs SGD with the body frozen (FedRep uses many, e.g. 10),
//   then body u_i ← K_u epochs SGD with the head frozen (FedRep: 1);  u ← Σ_{i∈S} (n_i/n_S) u_i, broadcast.
// Same alternating trainer as DFedAlt; only the communication (server) differs.
// Parts: AlternatingRule + ServerColumns of the body + PersonalizedEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kFedrep({
    .name = "fedrep", .title = "FedRep", .source = "Collins et al. ICML 2021, arXiv 2102.07078",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/true);
      return personalized_parts(s, std::make_unique<AlternatingRule>(s, cols, /*body_sam=*/false),
                                std::make_unique<ServerColumns>(s, cols.communicated));
    }});

}  // namespace

}  // namespace plexus::fl
