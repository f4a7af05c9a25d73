// The round loop of black-box prompt tuning (Fed-BBPT, Lin et al. 2023, arXiv 2310.03123; docs/bbpt.md).
//
// Its clients hold no model, so it cannot use the FL session (which gives every worker a local model); it
// reuses everything else of the FL engine: the [fl]/[train]/[data] config, the run directory with resume
// checks, client sampling, sample-size averaging weights and rotating checkpoints. One round t:
//   S_t = sample_clients (m = max(1, round(C·N)))
//   for i ∈ S_t: θ_i ← θ^t; K local steps of the tuner (SPSA-GC through client i's API key, or the white-box
//                baseline), each from the ("batch", i, t) minibatch stream
//   federated:   θ^{t+1} = Σ_{i∈S_t} (n_i/n_S) θ_i         (FedAvg of the generators; every row gets θ^{t+1})
//   local-only:  θ_i stays with client i (no communication)
//   evaluation through the API with its own key: every client's prompt on its local test set, and (federated)
//   θ^{t+1} on bbpt.eval_size test images
// Letters: N clients, P generator parameters, K local steps, q SPSA perturbations.
#pragma once

#include <functional>
#include <memory>

#include "plexus/bbpt/prompt_task.h"
#include "plexus/fl/runner.h"

namespace plexus::bbpt {

/// One black-box algorithm = which of the task's tuners + whether the server averages the clients' prompts.
struct BbptRecipe {
  std::function<std::unique_ptr<PromptTuner>(const PromptTask&)> tuner;
  bool federated = true;
};

/// Run the whole experiment of `cfg` with `recipe`: check the model directory, or with bbpt.api_url probe that
/// server's GET /v1/info with every key of bbpt.api_keys (its max batch, each key's remaining calls); load the
/// task's data; open the run directory (resume checks as every FL run, except that a run with no checkpoint yet
/// restarts from round 0); start `plexus serve` on bbpt.model unless bbpt.api_url is set; evaluate the zero-shot
/// model, then the rounds. Checkpoints hold the prompts X [N,P], the correction rows M [N,P] and each client's
/// spent queries, so a resumed run restarts the server with the remaining budgets.
/// Throws, before the run directory exists: Error(Config) for a missing model, a malformed api_url or keys file,
/// a key the server does not know, train.batch_size over the server's max batch, a served model that does not fit
/// the data; Error(Io) if nothing answers at api_url. Later: Error(Io) if the child server cannot start;
/// Error(Infeasible) if tuning diverges; as fl::run_fl otherwise.
fl::RunResult run_bbpt(const fl::FlConfig& cfg, bool resume, const BbptRecipe& recipe);

}  // namespace plexus::bbpt
