// One run lifecycle for every family (FL, LLM, tuning): open the run directory (locked for the run's
// lifetime), check a resume against what the run directory records, record the config and the data
// fingerprint, and tell the caller where to resume from. docs/runs.md explains each check and why.
//
// A family's loop then: loads the returned checkpoint (load_checkpoint), cuts the metrics history back to it
// (RunDir::metrics().truncate_after), appends one row per round or step, saves checkpoints with
// save_checkpoint_rotating, and writes summary.json at the end.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/core/digest.h"
#include "plexus/core/run_dir.h"

namespace plexus {

/// What a family allows a resume to change. Keys are "section.key" as in the resolved config.
struct ResumeRules {
  std::string unit = "round";           ///< progress key of metrics rows and checkpoints: "round" or "step"
  std::vector<std::string> harmless;    ///< keys that cannot change results (threads, checkpoint cadence, ...)
  std::vector<std::string> paths;       ///< file-system paths: compared after making them absolute and canonical
  std::vector<std::string> extendable;  ///< totals a resume may raise (fl.rounds); never below what is done
};

/// Where the data of a run came from and what it held. Two fingerprints are the same data if their sizes
/// and digests agree; the source may differ (the data was moved).
struct DataFingerprint {
  std::string source;          ///< resolved location (canonical path) or generator ("synthetic", "arithmetic")
  nlohmann::ordered_json sizes = nlohmann::ordered_json::object();  ///< part name → shape or count
  std::string digest;          ///< "xxh64:<hex>" over every part's name, shape and bytes
  bool empty() const { return digest.empty(); }
  nlohmann::ordered_json to_json() const;
  /// Throws: Error(Data) if `j` lacks a field.
  static DataFingerprint from_json(const nlohmann::json& j);
};

/// Builds a DataFingerprint part by part (the order of add() calls is part of the digest).
class FingerprintBuilder {
 public:
  explicit FingerprintBuilder(std::string source);
  /// A tensor: its dtype, shape and bytes (copied to the CPU if needed). Shapes: any.
  void add(const std::string& name, const torch::Tensor& t);
  /// A byte string (e.g. a document) counted as `count` items in `sizes[name]`.
  void add(const std::string& name, std::string_view bytes, int64_t count);
  DataFingerprint finish() const;

 private:
  DataFingerprint fp_;
  Xxh64 h_;
};

/// What the lifecycle needs from a family to start a run.
struct RunSpec {
  const toml::table* config = nullptr;  ///< the resolved config (written to config.toml)
  ResumeRules rules;
  DataFingerprint data;                 ///< empty: the family records none
  int64_t target = 0;                   ///< rounds/steps this invocation runs to
  std::string target_key;               ///< the config key that sets `target`, for messages ("fl.rounds")
};

/// Where a resume starts.
struct ResumePoint {
  std::filesystem::path checkpoint;  ///< newest intact checkpoint; empty for a fresh run
  int64_t done = 0;                  ///< rounds/steps it holds (0 for a fresh run)
};

/// Start a run in the opened (locked) `dir`. Fresh: write config.toml and data.json. Resume, in this order,
/// all before anything is written: the saved config must equal `spec.config` except for harmless and
/// extendable keys (paths compared canonically); the newest intact checkpoint is chosen (damaged newer
/// ones are named in a warning and kept); `spec.target` must not be below what that checkpoint holds; the
/// data fingerprint must match the recorded one; the metrics history must be readable and reach the
/// checkpoint. Then config.toml and data.json are rewritten. Throws: Error(Config) for a changed key, a
/// missing checkpoint or a target below the work done; Error(Data) for other data or a damaged history.
ResumePoint start_run(RunDir& dir, const RunSpec& spec, bool resume);

/// The config check of start_run on its own: every key of `saved` and `now` must agree except `rules`'
/// harmless and extendable keys. Throws: Error(Config) naming the first differing key, both values, and
/// what a resume may change.
void check_resume_config(const toml::table& saved, const toml::table& now, const ResumeRules& rules);

}  // namespace plexus
