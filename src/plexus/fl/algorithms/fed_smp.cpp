// Fed-SMP — Hu, Guo, Gong 2022, "Federated Learning with Sparsified Model Perturbation", arXiv 2202.07178:
// DP-FedAvg whose client updates are sparsified before clipping and noising; the baselines of
// DP-FedSAM-top_k.
//   fed_smp_randk: Δ_i = rand_k(y_i − x^t) (k random coordinates, stream "dp_randk")
//   fed_smp_topk:  Δ_i = top_k(y_i − x^t)
//   then clip to C, add N(0, σ²C²/m) on the kept coordinates, average. Local rule: SGD.
// Parts: StepRule (SGD) + DpWrapper (rand-k or top-k) around ServerAverage + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kFedSmpRandk({
    .name = "fed_smp_randk", .title = "Fed-SMP-rand_k", .source = "Hu et al. 2022, arXiv 2202.07178",
    .family = Family::Private,
    .build = [](Session& s) { return global_parts(s, step_rule(s), dp_server_average(s, Sparsifier::RandK)); }});

const AlgorithmRegistrar kFedSmpTopk({
    .name = "fed_smp_topk", .title = "Fed-SMP-top_k", .source = "Hu et al. 2022, arXiv 2202.07178",
    .family = Family::Private,
    .build = [](Session& s) { return global_parts(s, step_rule(s), dp_server_average(s, Sparsifier::TopK)); }});

}  // namespace

}  // namespace plexus::fl
