// Client-level differentially private server aggregation (DP-FedAvg, DP-FedSAM, DP-FedSAM-top_k, Fed-SMP).
//
// Round t with participants S (|S| = m), global model x (every row of X before training), trained rows y_i:
//   Δ_i = y_i − x                                        update of client i          [m,P]
//   Δ_i ← sparsify_p(Δ_i)                                top-k / rand-k, k = ⌈pP⌉ (optional)
//   Δ_i ← Δ_i · min(1, C/‖Δ_i‖₂)                         whole-model clipping (or per tensor: see below)
//   Δ̃_i = Δ_i + N(0, σ²C²/m · I)                         noise added on the client before upload
//                                                         (on the kept coordinates only when sparsified)
//   x ← x + (1/m̄) Σ_{i∈S} Δ̃_i,  m̄ = m (fixed-size) or qN (Poisson: the fixed expected count, so the
//                                                         estimator's scale does not reveal |S|)
// The sum of the m client noises has std σC: the sampled Gaussian mechanism the accountant analyses,
// with the sampler the run actually used (privacy/rdp_accountant.h). Per-tensor clipping (the reference
// code's behaviour) bounds a row only by C·√L for L tensors, which weakens the guarantee; the runner warns.
// Sources: McMahan et al. 2018 (arXiv 1710.06963) Alg. 1; Shi et al. 2023 (CVPR, arXiv 2303.11242) Alg. 1;
// Hu et al. 2022 Fed-SMP (arXiv 2202.07178); Shi et al. 2023 (arXiv 2305.00873) DP-FedSAM-top_k.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/core/options.h"
#include "plexus/fl/federation.h"
#include "plexus/privacy/privatizer.h"
#include "plexus/privacy/rdp_accountant.h"

namespace plexus::fl {

enum class Sparsifier { None, TopK, RandK };

/// Options of the [privacy] table (used by the dp_* and fed_smp_* algorithms).
struct PrivacyOptions {
  double clip_norm = 0.2;          ///< C: L2 bound on each client's update (> 0)
  double noise_multiplier = 0.95;  ///< σ: noise std on the sum / C (> 0)
  double delta = 1e-5;             ///< δ at which ε is reported, in (0, 1)
  std::string sampling = "poisson";  ///< "poisson": each client joins w.p. q = fl.client_fraction (tight RDP);
                                    ///< "fixed": m = round(qN) without replacement (replace-one bound: far larger ε)
  std::string clipping = "global"; ///< "global" (whole model, paper) | "per_tensor" (reference code; weaker bound)
  double density = 0.1;            ///< p = k/P kept by top-k / rand-k, in (0, 1]
  std::string conversion = "tight";///< RDP → (ε, δ): "tight" (Balle et al. 2020) | "classic" (Mironov 2017)
  static PrivacyOptions parse(ConfigTable& t);
  /// The declared keys of [privacy] (core/options.h).
  static const OptionSchema<PrivacyOptions>& schema();
};

/// Per-round statistics of the privatized aggregation.
struct DpRoundStats {
  double mean_update_norm = 0;  ///< mean pre-clip ‖Δ_i‖ (after sparsification)
  double clipped_fraction = 0;  ///< share of participants whose update was clipped
};

class DpAggregator {
 public:
  DpAggregator() = default;
  /// `q` is the sampling rate (client_fraction). Throws: Error(Config) on invalid options.
  DpAggregator(const PrivacyOptions& o, Sparsifier sparsifier, const nn::ParamLayout& layout, int64_t clients,
               double q, uint64_t seed);

  /// Replace every row of fed.X by the privatized aggregate of the participants' updates relative to
  /// `x_global` [P], and record the round in the accountant (also when `who` is empty under Poisson).
  DpRoundStats aggregate(Federation& fed, const torch::Tensor& x_global, const std::vector<int64_t>& who, int64_t round);

  /// ε spent so far at the configured δ.
  privacy::EpsilonResult epsilon() const;
  privacy::Sampling sampling() const { return sampling_; }
  privacy::Accountant& accountant() { return accountant_; }
  const privacy::Accountant& accountant() const { return accountant_; }
  const PrivacyOptions& options() const { return o_; }

 private:
  PrivacyOptions o_;
  Sparsifier sparsifier_ = Sparsifier::None;
  std::vector<privacy::Segment> segments_;  // per-tensor clipping only
  int64_t clients_ = 0;
  double q_ = 0;
  uint64_t seed_ = 0;
  privacy::Sampling sampling_ = privacy::Sampling::FixedSize;
  privacy::Accountant accountant_;
};

}  // namespace plexus::fl
