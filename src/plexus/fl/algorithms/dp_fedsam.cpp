// DP-FedSAM — Shi et al. 2023, "Make Landscape Flatter in Differentially Private Federated Learning",
// CVPR 2023, arXiv 2303.11242, Algorithm 1: DP-FedAvg with local SAM.
//   y_i = SAM^K(x^t) (ASAM with train.adaptive = true, as the released code's default)
//   Δ_i = clip_C(y_i − x^t) + N(0, σ²C²/m · I);   x^{t+1} = x^t + (1/m) Σ Δ_i
// The released code clips each tensor separately (privacy.clipping = "per_tensor" reproduces it; weaker
// bound, see docs/privacy.md) and weights the aggregate by n_i/Σn_j (privacy.aggregate_weighting = "samples";
// ε then optimistic, see dp_aggregator.h). docs/reference_code.md lists every switch. Differs from
// dp_fedavg.cpp in the local rule only.
// Parts: StepRule (SAM/ASAM) + DpWrapper around ServerAverage + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDpFedsam({
    .name = "dp_fedsam", .title = "DP-FedSAM", .source = "Shi et al. 2023, CVPR, arXiv 2303.11242",
    .family = Family::Private,
    .build = [](Session& s) {
      return global_parts(s, step_rule(s, {.sam = true}), dp_server_average(s, Sparsifier::None));
    }});

}  // namespace

}  // namespace plexus::fl
