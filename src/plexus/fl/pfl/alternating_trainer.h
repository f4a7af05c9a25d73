// Local training of one client in a personalized-FL round: alternating head/body steps (DFedAlt, DFedSalt,
// DFedPGP, FedRep), joint training (Local, FedPer, FedAvg-FT, DFedAvgM) or body only (FedBABU), and the
// fine-tuning that FedAvg-FT and FedBABU apply before their personalized measurement.
//
// Letters: P parameters; a row x [P] = (u, v) with u the shared body and v the personal head (ParamLayout
// tags); B batch size; n_i client i's sample count; one epoch = ⌈n_i/B⌉ minibatch steps.
// Alternating round t (Source: arXiv 2305.15157 Alg. 1; reference trainer order: head first):
//   head plan: SGD on v only, K_v epochs, η_v = lr_head · lr_decay^t        (u frozen)
//   body plan: SGD (DFedSalt: SAM perturbing u only) on u only, K_u epochs, η_u = lr_body · lr_decay^t
// The momentum buffer restarts before each plan (the reference code builds one optimizer per step).
// Computation heterogeneity: every step budget K of client i becomes max(1, ⌈s_i K⌉), s_i ~ U[f, 1].
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "plexus/fl/local_trainer.h"
#include "plexus/fl/pfl/pfl_config.h"
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

/// The column sets of one run: body (shared-tagged), head (personal-tagged), and communicated columns
/// (the body when spec.personal_head, else every column).
struct PflColumns {
  std::vector<ColumnRange> body, head, communicated;
};

/// Column sets of `spec` on `layout` (whose personal tags mark the head).
/// Throws: Error(Config) if the head or the body is empty (e.g. a head prefix that covers the whole model).
PflColumns pfl_columns(const PflSpec& spec, const nn::ParamLayout& layout);

/// Client `client`'s step multiplier s_i ∈ [f, 1] (f = steps_min_fraction; exactly 1 when f = 1).
/// Deterministic in (seed, client): stream "compute_heterogeneity".
double step_scale(const PersonalizationOptions& p, uint64_t seed, int64_t client);

/// max(1, ⌈scale · steps⌉) for steps > 0; 0 stays 0.
int64_t scaled_steps(int64_t steps, double scale);

/// Which client and round a training call is for (addresses its random streams).
struct ClientRound {
  int64_t client = 0;
  int64_t round = 0;  ///< 0-based
  uint64_t seed = 0;
  double scale = 1.0;  ///< step_scale of the client
};

/// The StepPlans one client runs in round cr.round, in order (head then body for Alternating; one plan
/// otherwise). n = the client's sample count. Zero-step plans are dropped.
std::vector<StepPlan> client_plans(const PflSpec& spec, const PersonalizationOptions& p, const LocalOptions& o,
                                   const PflColumns& cols, int64_t n, const ClientRound& cr);

/// Train row `x` [P] in place with client_plans (momentum row `m` [P] zeroed before each plan), minibatches
/// from stream ("batch", client, round). Returns the mean training loss (nats) of the last plan.
/// Throws: Error(Infeasible) if training diverges.
double train_client(LocalTrainer& trainer, const PflSpec& spec, const PersonalizationOptions& p,
                    const LocalOptions& o, const PflColumns& cols, torch::Tensor x, torch::Tensor m,
                    const data::Dataset& data, const std::vector<int64_t>& idx, const ClientRound& cr);

/// Ditto's personal update (arXiv 2012.04641 Alg. 1): `steps` SGD steps on row `v` [P] in place,
///   g = ∇F(v; ξ) + λ (v − w) + wd·v;  m ← βm + g;  v ← v − η m
/// with the global row `w` [P] fixed, minibatches of o.batch_size from stream ("ditto", client, round), η = train
/// lr of the round, β/wd/clip from `o` (clipping applies to ∇F before the proximal term). Returns the mean loss.
/// Throws: Error(Infeasible) if the loss becomes non-finite.
double train_ditto_personal(LocalTrainer& trainer, const PersonalizationOptions& p, const LocalOptions& o,
                            torch::Tensor v, const torch::Tensor& w, const data::Dataset& data,
                            const std::vector<int64_t>& idx, int64_t steps, const ClientRound& cr);

/// Personalized test statistics of row `x` [P] (not modified): for specs with fine-tuning, a copy is first
/// fine-tuned on the client's training examples `train_idx` (head or all columns, K_v epochs, η_v, stream
/// "finetune"); then evaluated on `test_idx` of `test`.
EvalStats personalized_eval(LocalTrainer& trainer, const PflSpec& spec, const PersonalizationOptions& p,
                            const LocalOptions& o, const PflColumns& cols, const torch::Tensor& x,
                            const data::Dataset& train, const std::vector<int64_t>& train_idx,
                            const data::Dataset& test, const std::vector<int64_t>& test_idx, const ClientRound& cr,
                            bool finetune);

}  // namespace plexus::fl
