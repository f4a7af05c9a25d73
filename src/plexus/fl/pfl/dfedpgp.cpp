// DFedPGP — Liu, Shi, Li, Wu, Wang, Shen, CVPR 2024, "Decentralized Directed Collaboration for Personalized
// FL", arXiv 2405.17876; communication = Stochastic Gradient Push (Assran et al. 2019, Alg. 1).
// State: numerators U [N,P] (shared columns), push-sum weights μ [N] (μ_i^0 = 1), heads v_i in U's personal
// columns. Round t, every client i:
//   z_i = u_i/μ_i (shared columns; the head is stored as is)
//   alternating partial training from (z_i, v_i) as DFedAlt → (z_i', v_i')
//   u_i ← u_i + (z_i' − z_i)     (the local change goes to the numerator, SGP's x^{k+1/2})
//   push: U_shared ← P_t U_shared, μ ← P_t μ with column-stochastic p_ji = 1/(out_deg_i + 1), j ∈ out(i) ∪ {i}
// on a directed (time-varying) graph. z_i → the true average when the graphs are strongly connected.
// personalization.push_sum = "uniform_pull" reproduces the authors' released code instead: each client averages
// itself and the k clients it chose, u_i ← (1/(k+1)) Σ u_j (row-stochastic, no μ) — biased on directed graphs.
// Parts: AlternatingRule + PushSum of the body (or GossipColumns with uniform pull for
// personalization.push_sum = "uniform_pull") + PersonalizedEvaluator of the de-biased models.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDfedpgp({
    .name = "dfedpgp", .title = "DFedPGP", .source = "Liu et al. CVPR 2024, arXiv 2405.17876",
    .family = Family::Personalized,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/true);
      std::unique_ptr<ColumnCommunicator> comm;
      if (s.cfg.personalization.push_sum == "push_sum") comm = std::make_unique<PushSum>(s, cols.communicated);
      else comm = std::make_unique<GossipColumns>(s, cols.communicated, /*always_pull=*/true);
      auto rule = std::make_unique<AlternatingRule>(s, cols, /*body_sam=*/false);
      return personalized_parts(s, std::move(rule), std::move(comm));
    }});

}  // namespace

}  // namespace plexus::fl
