// DP-FedSAM-top_k — Shi et al. 2023, "Towards the Flatter Landscape and Better Generalization in Federated
// Learning under Client-level Differential Privacy", arXiv 2305.00873:
//   y_i = SAM^K(x^t);  Δ_i = top_k(y_i − x^t), k = ⌈pP⌉ largest magnitudes (p = privacy.density)
//   Δ_i ← clip_C(Δ_i) + N(0, σ²C²/m) on the k kept coordinates;   x^{t+1} = x^t + (1/m) Σ Δ_i
// Top-k is taken before clipping and noise (Fed-SMP convention; the order is an open question in the
// authors' issue #8). Differs from dp_fedsam.cpp in the sparsifier only.
// Parts: StepRule (SAM/ASAM) + DpWrapper (top-k) around ServerAverage + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDpFedsamTopk({
    .name = "dp_fedsam_topk", .title = "DP-FedSAM-top_k", .source = "Shi et al. 2023, arXiv 2305.00873",
    .family = Family::Private,
    .build = [](Session& s) {
      return global_parts(s, step_rule(s, {.sam = true}), dp_server_average(s, Sparsifier::TopK));
    }});

}  // namespace

}  // namespace plexus::fl
