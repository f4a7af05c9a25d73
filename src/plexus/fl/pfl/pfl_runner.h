// The personalized-FL runner: `plexus fl run` dispatches here when fl.algorithm is personalized
// (dfedalt, dfedsalt, dfedpgp, local, fedavg_ft, fedper, fedrep, fedbabu, ditto, pfl_dfedavgm).
//
// One round t (0-based internally, reported 1-based), on the stacked state X [N,P] (push-sum numerators U for
// DFedPGP, with weights μ [N]; the de-biased models are z_i = u_i/μ_i on the communicated columns):
//   1. "before": each client's own model z_i on its own local test set (the number the DFedPGP reference code
//      reports: measured after aggregation and before local training)
//   2. local training of the participants (all clients; the sampled m = fraction·N for server baselines) by
//      train_client on z_i; push-sum applies the change to the numerator: u_i ← u_i + (z_i' − z_i)
//   3. "after": each client's trained model z_i' on its local test set (fine-tuned copy for FedAvg-FT/FedBABU)
//   4. communication of the communicated columns only (PflCommunicator)
//   5. metrics row (mean/std over clients of both accuracies, consensus distance of the communicated columns,
//      μ range), checkpoint every run.checkpoint_every rounds; `--resume` continues bit-identically.
// summary.json: last-round and best-round values of both the "after" (local_acc) and "before" accuracies.
#pragma once

#include "plexus/fl/fl_config.h"
#include "plexus/fl/runner.h"

namespace plexus::fl {

/// Execute a personalized-FL run described by `config` (fl.algorithm personalized). With `resume`, continue
/// from the newest checkpoint (the config must match except fl.rounds).
/// Throws: Error(Config/Data/Io/Infeasible) with one-line messages.
RunResult run_pfl(const FlConfig& config, bool resume);

}  // namespace plexus::fl
