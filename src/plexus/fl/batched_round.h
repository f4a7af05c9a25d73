// One round's local training of many clients through the BatchedTrainer, for the FL round loops.
//
// Each client k runs its own list of StepPlans in order (one plan for server/gossip FL; head then body for
// alternating personalized FL), its momentum row zeroed before each plan, its mini-batches drawn from its own
// stream — what the sequential loop does per client. Plan j of every client must agree in everything but the
// step count (rule, columns, learning rate); clients with fewer plans, fewer steps or smaller data take part
// with masks. Randomness stays addressed per client, so the outcome does not depend on batching.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "plexus/fl/batched_trainer.h"

namespace plexus::fl {

/// Whether run.client_batching selects the batched engine on `device`: "on" always, "auto" on CUDA when the
/// model has a batched forward (on the CPU LibTorch's grouped convolutions make it slower than one client per
/// worker thread; docs/results.md), "off" never.
/// Throws: Error(Config) for "on" with a model that has no batched forward (vgg11, resnet18).
bool batching_enabled(const std::string& client_batching, const nn::ModelOptions& model, torch::Device device);

/// Whether run.cuda_graphs runs the batched local step as CUDA graphs: "auto" = when the batched engine runs
/// (`batched`) on a CUDA device and this build has CUDA (cuda_graphs_supported); "off" never; "on" always.
/// Throws: Error(Config) for "on" when the run does not use the batched engine (the BatchedTrainer constructor
/// refuses "on" on a CPU device or a CPU-only build).
bool cuda_graphs_enabled(const std::string& cuda_graphs, bool batched, torch::Device device);

/// Train rows `rows[k]` of X [N,P] in place with plans[k] on idx[k], batches from rngs[k]; M [N,P] momentum rows
/// (zeroed on `rows` before each plan). Returns each client's mean training loss of its last non-empty plan.
/// The host does not wait for the GPU until the losses are read, once, at the end.
/// Throws: Error(Internal) if plan j differs across clients in anything but steps; Error(Infeasible) as
/// BatchedTrainer::train.
std::vector<double> train_round_batched(BatchedTrainer& trainer, torch::Tensor X, torch::Tensor M,
                                        const data::Dataset& data, const std::vector<int64_t>& rows,
                                        const std::vector<const std::vector<int64_t>*>& idx,
                                        const std::vector<std::vector<StepPlan>>& plans, std::vector<Rng>& rngs,
                                        const LocalOptions& o);

}  // namespace plexus::fl
