// DFedSAM-MGS — Shi et al. 2023, arXiv 2302.04083 (Multiple Gossip Steps):
//   local SAM training exactly as DFedSAM, then Q gossip steps on the post-training models:
//   X^{(0)} = Y;  X^{(q)} = W X^{(q−1)}, q = 1..Q;  X^{t+1} = X^{(Q)} = W^Q Y
// Q× the communication of DFedSAM for the same computation; the consensus error contracts by λ^Q
// instead of λ (λ = |λ₂(W)|). Differs from dfedsam.cpp in one number: fl.gossip_steps = Q >= 2.
#include "plexus/fl/algorithm.h"

namespace plexus::fl {

AlgorithmSpec dfedsam_mgs_spec() {
  return {.name = "dfedsam_mgs", .title = "DFedSAM-MGS", .source = "Shi et al. 2023, ICML, arXiv 2302.04083",
          .communication = Communication::Gossip, .sam = true, .min_gossip_steps = 2};
}

}  // namespace plexus::fl
