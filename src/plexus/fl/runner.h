// The FL runner: `plexus fl run --config FILE [--set k=v ...] [--resume]`.
//
// One round t (0-based internally, reported 1-based):
//   1. participants: every client (decentralized) or m sampled clients (server FL, stream "client_sampling")
//   2. local training of each participant's row of X on worker threads (LocalTrainer; stream "batch")
//   3. communication: server averaging, or gossip X ← W_t^Q X with W_t from the topology (stream "topology")
//   4. evaluation every fl.eval_every rounds: per-client accuracy of x_i on its local test set (mean, std),
//      accuracy of x̄ on the global test set, consensus distance; one metrics row per round
//   5. checkpoint every run.checkpoint_every rounds (atomic), so `--resume` continues bit-identically.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "plexus/fl/fl_config.h"

namespace plexus::fl {

struct RunResult {
  std::string run_dir;
  nlohmann::ordered_json summary;
  std::vector<nlohmann::ordered_json> rows;  ///< one metrics row per round
};

/// Execute a whole run described by `config`. With `resume`, continue from the newest checkpoint in the
/// run directory (the config must match the one saved there except fl.rounds).
/// Throws: Error(Config/Data/Io/Infeasible) with one-line messages; checkpoints already written are kept.
RunResult run_fl(const FlConfig& config, bool resume);

/// Load a config file, apply `--set` overrides, parse. Throws: Error(Config/Io).
FlConfig load_fl_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace plexus::fl
