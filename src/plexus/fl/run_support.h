// Set-up and helpers of the FL round loop (runner.cpp) and its parts: the session (data on the device, the
// initial model, worker threads and trainers), opening the run directory with resume checks, checkpoints with
// retention, client sampling and small metric helpers.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "plexus/core/checkpoint.h"
#include "plexus/core/run_dir.h"
#include "plexus/core/run_lifecycle.h"
#include "plexus/fl/fl_config.h"
#include "plexus/fl/parts.h"

namespace plexus::fl {

using Clock = std::chrono::steady_clock;

/// Wall-clock seconds since `t0`.
double seconds_since(Clock::time_point t0);

/// Wall-clock seconds a run had spent before this session, read from the metrics rows a resume kept (`rows`,
/// rounds 1..t of the checkpoint): the last row's `seconds_elapsed` (the run's time at the end of round t, summed
/// over its sessions), or, for rows written before that column existed, the sum of their `seconds` (the rounds'
/// own time; what earlier sessions spent loading data between rounds is then missing). 0 for no rows (a fresh
/// run). Units: seconds. The summary's `seconds` is this plus the session's loop time (docs/runs.md).
double elapsed_before(const Rows& rows);

/// What an FL resume may change: fl.rounds (raise only), run.threads, run.checkpoint_every,
/// run.keep_checkpoints and where the run directory lies; data.path is compared canonically.
ResumeRules fl_resume_rules();

/// Fingerprint of the data `cfg` trains on: the resolved dataset location and the train/test tensors.
DataFingerprint fl_data_fingerprint(const FlConfig& cfg, const data::FederatedData& data);

/// The run directory of `cfg`, opened fresh or for `--resume` through the core lifecycle (start_run in
/// core/run_lifecycle.h): locked, config.toml and data.json written. With resume, `checkpoint` is set to the
/// newest intact checkpoint after every resume check passed (same config except fl_resume_rules(), fl.rounds
/// not below the rounds done, the same data, a readable metrics history).
/// Throws: Error(Config|Data) as start_run.
RunDir open_run(const FlConfig& cfg, const data::FederatedData& data, bool resume, std::filesystem::path& checkpoint);

/// Worker threads for client training: 1 on CUDA, run.threads or all cores on CPU. On the CPU it also sets
/// LibTorch's intra-op threads to 1, so every client's arithmetic runs on one thread and the result does not
/// depend on the number of workers; with `batched` (the batched engine) one worker whose ops use all
/// run.threads intra-op threads.
int64_t setup_workers(const RunOptions& run, torch::Device device, bool batched);

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

/// The session of a run: data on the device (setup_workers, load_data_on), x^0 replicated to every client,
/// the parameter layout with the head (personalization.head, or the model's head_prefix()) tagged personal,
/// one trainer per worker. Throws: Error(Config/Data) as its parts.
Session open_session(const FlConfig& cfg);

/// Write `ck` as checkpoints/round_<round>.pt (atomically, verified), then delete all but the newest `keep`
/// intact ones (save_checkpoint_rotating). Throws: Error(Io), older checkpoints kept.
void save_round_checkpoint(const RunDir& dir, const Checkpoint& ck, int64_t round, int64_t keep);

/// Mean and population standard deviation of per-client values (NaN for an empty list).
struct MeanStd {
  double mean = NAN, std = NAN;
};
MeanStd mean_std(const std::vector<double>& v);

/// The m = max(1, round(fl.client_fraction · N)) clients of server-FL round `round`, sampled without
/// replacement from the (seed, "client_sampling", 0, round) stream; sorted ascending.
std::vector<int64_t> sample_clients(const FlConfig& cfg, int64_t round);

/// Server-averaging weights of the clients `who`: n_i / Σ_{j∈who} n_j (FedAvg, McMahan et al. 2017, eq. of
/// Algorithm 1), or 1/|who| when those clients hold no samples at all (0/0 would make the model NaN).
/// `who` must not be empty (an empty round is skipped by the caller).
std::vector<double> averaging_weights(const std::vector<int64_t>& sizes, const std::vector<int64_t>& who);

/// JSON has no NaN: rounds without evaluation carry null.
nlohmann::ordered_json nan_to_null(nlohmann::ordered_json row);

}  // namespace plexus::fl
