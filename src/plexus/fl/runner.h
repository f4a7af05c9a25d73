// The FL runner: `plexus fl run --config FILE [--set k=v ...] [--resume]`, for every algorithm (server,
// gossip, DP and personalized). One loop drives the algorithm's parts (parts.h); one round t (0-based inside,
// reported 1-based):
//   1. participants: every client (decentralized) or the sampled clients (server FL, stream "client_sampling")
//   2. local training of each participant's row on worker threads (the LocalRule; stream "batch")
//   3. communication: server averaging (DP-wrapped for the private algorithms), gossip X ← W_t^Q X,
//      push-sum, ... (the Communicator)
//   4. evaluation every fl.eval_every rounds (the Evaluator: global and local models, or personalized
//      before/after local training); one metrics row per round with every part's columns
//   5. checkpoint every run.checkpoint_every rounds (atomic) with every part's state, so `--resume` continues
//      bit-identically.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "plexus/fl/fl_config.h"

namespace plexus::dist {
class Group;
}

namespace plexus::fl {

struct RunResult {
  std::string run_dir;
  nlohmann::ordered_json summary;
  std::vector<nlohmann::ordered_json> rows;  ///< one metrics row per round
};

/// Execute a whole run described by `config`. With `resume`, continue from the newest checkpoint in the
/// run directory (the config must match the one saved there except fl.rounds).
/// With `group` (a process group of R > 1 ranks, dist/group.h) this process is one rank of the run: it
/// trains its block of clients and exchanges rows with the others (ranked.h); rank 0 alone writes the run
/// directory, and only rank 0's result holds rows and a summary. Null: one process, as always.
/// Throws: Error(Config/Data/Io/Infeasible) with one-line messages; checkpoints already written are kept.
/// Error(Config) if the algorithm does not run across ranks (check_ranked); Error(Io) if a rank died.
RunResult run_fl(const FlConfig& config, bool resume, dist::Group* group = nullptr);

/// Load a config file, apply `--set` overrides, parse. Throws: Error(Config/Io).
FlConfig load_fl_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace plexus::fl
