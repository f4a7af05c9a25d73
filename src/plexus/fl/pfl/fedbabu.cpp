// FedBABU — Oh, Kim, Yun, ICLR 2022, arXiv 2106.06042:
//   training: the head stays at its random initialization (identical for all clients, never updated);
//   sampled clients S update only the body, u_i ← K SGD steps;  u ← Σ_{i∈S} (n_i/n_S) u_i, broadcast.
//   personalization: each client fine-tunes the head for K_v epochs (lr_head) before the "after" measurement
//   (the paper fine-tunes the whole model; here the head, as in its "head fine-tuning" ablation).
// Parts: StepRule (SGD on the body only) + ServerColumns of the body + PersonalizedEvaluator
// fine-tuning the head.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kFedbabu({
    .name = "fedbabu", .title = "FedBABU", .source = "Oh et al. ICLR 2022, arXiv 2106.06042",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/true);
      return personalized_parts(s, step_rule(s, {.update = cols.body}),
                                std::make_unique<ServerColumns>(s, cols.communicated), /*finetune=*/cols.head);
    }});

}  // namespace

}  // namespace plexus::fl
