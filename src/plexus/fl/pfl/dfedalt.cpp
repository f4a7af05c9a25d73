// DFedAlt — Shi, Liu, Sun, Lin, Shen, Wang, Tao 2023, "Towards More Suitable Personalization in FL via
// Decentralized Partial Model Training", arXiv 2305.15157. Round t, every client i (x_i = (u_i, v_i)):
//   v-step: K_v epochs SGD on the head, body frozen:  v_i ← v_i − η_v ∇_v F_i(u_i, v_i; ξ)
//   u-step: K_u epochs SGD on the body, head frozen:  u_i ← u_i − η_u ∇_u F_i(u_i, v_i; ξ)
//   gossip of the body only:  u_i ← Σ_j w_ij u_j  (W doubly stochastic on undirected graphs; uniform pull
//   w_ij = 1/(|N_in(i)|+1) on directed ones, as the ICLR-2025 dfedalt_dis reference code)
// η_v = lr_head·lr_decay^t, η_u = lr_body·lr_decay^t; the momentum buffer restarts at each step (the
// reference uses two optimizers). Heads never leave the client.
// Parts: Alternating rule + GossipColumns of the body + PersonalizedEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDfedalt({
    .name = "dfedalt", .title = "DFedAlt", .source = "Shi et al. 2023, arXiv 2305.15157",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/true);
      return personalized_parts(s, std::make_unique<AlternatingRule>(s, cols, /*body_sam=*/false),
                                std::make_unique<GossipColumns>(s, cols.communicated));
    }});

}  // namespace

}  // namespace plexus::fl
