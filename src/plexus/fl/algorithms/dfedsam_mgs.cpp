// DFedSAM-MGS — Shi et al. 2023, arXiv 2302.04083 (Multiple Gossip Steps):
//   local SAM training exactly as DFedSAM, then Q gossip steps on the post-training models:
//   X^{(0)} = Y;  X^{(q)} = W X^{(q−1)}, q = 1..Q;  X^{t+1} = X^{(Q)} = W^Q Y
// Q× the communication of DFedSAM for the same computation; the consensus error contracts by λ^Q
// instead of λ (λ = |λ₂(W)|). Differs from dfedsam.cpp in one number: fl.gossip_steps = Q >= 2.
// Parts: as dfedsam.cpp, with fl.gossip_steps = Q >= 2 required.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

// MGS is DFedSAM with Q >= 2 gossip steps (Q = 1 is dfedsam).
void check_gossip_steps(const FlConfig& cfg) {
  if (cfg.fl.gossip_steps < 2) {
    throw Error::config("[fl] gossip_steps = {}: DFedSAM-MGS needs at least 2 gossip steps (use dfedsam for Q = 1)",
                        cfg.fl.gossip_steps);
  }
}

const AlgorithmRegistrar kDfedsamMgs({
    .name = "dfedsam_mgs", .title = "DFedSAM-MGS", .source = "Shi et al. 2023, ICML, arXiv 2302.04083",
    .family = Family::Gossip,
    .check = check_gossip_steps,
    .build = [](Session& s) { return global_parts(s, step_rule(s, {.sam = true}), std::make_unique<Gossip>(s)); }});

}  // namespace

}  // namespace plexus::fl
