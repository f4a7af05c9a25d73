// Parts shared by the FL round loops (runner.cpp for server/gossip FL, pfl/pfl_runner.cpp for personalized
// FL): opening the run directory with resume checks, worker threads, data on the device, checkpoints with
// retention, and small metric helpers. One place, so the two loops cannot drift apart.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "plexus/core/checkpoint.h"
#include "plexus/core/run_dir.h"
#include "plexus/fl/fl_config.h"

namespace plexus::fl {

using Clock = std::chrono::steady_clock;

/// Wall-clock seconds since `t0`.
double seconds_since(Clock::time_point t0);

/// The run directory of `cfg`, opened fresh or for `--resume`; writes the resolved config.toml.
/// With resume, `checkpoint` is set to the newest checkpoint and the saved config must match `cfg` in every
/// table except fl.rounds. Throws: Error(Config) if there is no checkpoint or the configs differ.
RunDir open_run(const FlConfig& cfg, bool resume, std::filesystem::path& checkpoint);

/// Worker threads for client training: 1 on CUDA, run.threads or all cores on CPU. On the CPU it also sets
/// LibTorch's intra-op threads to 1, so every client's arithmetic runs on one thread and the result does not
/// depend on the number of workers. With `batched` (run.client_batching active) there is one worker and the
/// run.threads cores become LibTorch's intra-op threads instead (docs/batching.md).
int64_t setup_workers(const RunOptions& run, torch::Device device, bool batched = false);

/// Load and partition the dataset of `cfg` (seeded by run.seed) and move it to `device`.
data::FederatedData load_data_on(const FlConfig& cfg, torch::Device device);

/// x^0: the model every client starts from, initialised from the (seed, "init") stream, sized for the
/// dataset (input [C,H,W] and class count). Throws: Error(Config) as nn::make_model.
std::shared_ptr<nn::Model> initial_model(const FlConfig& cfg, const data::FederatedData& data);

/// One LocalTrainer per worker, all with `layout`; worker 0 reuses `model0`, the others get fresh instances
/// of the same architecture (their values are irrelevant: trainers bind to client rows).
std::vector<LocalTrainer> make_trainers(const FlConfig& cfg, const data::FederatedData& data,
                                        std::shared_ptr<nn::Model> model0, const nn::ParamLayout& layout,
                                        int64_t workers, torch::Device device);

/// Write `ck` as checkpoints/round_<round>.pt (atomically), then delete all but the newest `keep`.
void save_round_checkpoint(const RunDir& dir, const Checkpoint& ck, int64_t round, int64_t keep);

/// Mean and population standard deviation of per-client values (NaN for an empty list).
struct MeanStd {
  double mean = NAN, std = NAN;
};
MeanStd mean_std(const std::vector<double>& v);

/// The m = max(1, round(fl.client_fraction · N)) clients of server-FL round `round`, sampled without
/// replacement from the (seed, "client_sampling", 0, round) stream; sorted ascending.
std::vector<int64_t> sample_clients(const FlConfig& cfg, int64_t round);

/// JSON has no NaN: rounds without evaluation carry null.
nlohmann::ordered_json nan_to_null(nlohmann::ordered_json row);

}  // namespace plexus::fl
