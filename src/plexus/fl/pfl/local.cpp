// Local — every client trains its own whole model on its own data and never communicates (the baseline of
// DFedAlt / DFedPGP, arXiv 2305.15157 and 2405.17876):  x_i ← x_i − η ∇F_i(x_i; ξ) for K steps per round.
// Parts: StepRule (SGD, every column) + NoCommunication + PersonalizedEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kLocal({
    .name = "local", .title = "Local", .source = "local training only (baseline)",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/false);
      return personalized_parts(s, step_rule(s), std::make_unique<NoCommunication>(s, cols.communicated));
    }});

}  // namespace

}  // namespace plexus::fl
