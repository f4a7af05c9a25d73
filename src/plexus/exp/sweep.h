// `plexus sweep`: run the cross product of a grid and seeds, each cell a normal run directory under one sweep
// directory, as child `plexus` processes (at most `jobs` at once, spread over `devices`).
//
// The sweep directory holds sweep.json (the manifest: what was asked, and per cell its overrides, status and
// every launch), logs/<cell>.log (each launch's stdout and stderr) and one run directory per cell. Re-running
// the same command continues it: a cell with summary.json is finished and skipped; a cell with a checkpoint
// is continued with the run's own --resume; a cell that died before its first checkpoint is moved to
// discarded/ and started again; a failed cell is reported, the others go on.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "plexus/exp/grid.h"

namespace plexus::exp {

/// How to launch one family's runs as `plexus <command...> --config FILE --set ... [--resume]`.
struct Family {
  std::string name;                  ///< "fl", "tune", "llm"
  std::vector<std::string> command;  ///< e.g. {"fl", "run"}
  std::string root_key;              ///< the [run] key naming the parent of run directories
  bool resumable = false;            ///< the command takes --resume (continue from the newest checkpoint)
  bool has_device = false;           ///< [run] device exists
  bool has_threads = false;          ///< [run] threads exists
};

/// The families a sweep can run. Source of truth for `--family` and detect_family.
const std::vector<Family>& families();

/// The family named `name`. Throws: Error(Config) naming the valid ones.
const Family& find_family(const std::string& name);

/// The family a config belongs to, from its tables: [fl] → fl, [tuner]/[market]/[landscape] → tune,
/// [model]/[tokenizer] without [fl] → llm. Throws: Error(Config) if none matches (pass --family).
const Family& detect_family(const toml::table& config);

struct SweepOptions {
  std::filesystem::path config;           ///< the base TOML config
  std::string family;                     ///< empty: detect from the config
  std::vector<std::string> sets;          ///< --set overrides applied to every cell (before the grid's)
  std::vector<GridAxis> grid;
  std::vector<int64_t> seeds;             ///< empty: the config's own run.seed
  int jobs = 1;                           ///< child processes at once
  std::vector<std::string> devices;       ///< run.device per cell, least-used first (empty: the config's)
  int threads_per_job = 0;                ///< run.threads per cell; 0 = cores / jobs (unless set by the user)
  std::filesystem::path out;              ///< the sweep directory
  std::string binary;                     ///< the plexus executable launched per cell
  bool dry_run = false;                   ///< print each cell's command and state, launch nothing
};

/// The `--set` overrides of one cell, without device, threads and --resume: the user's sets, the cell's grid
/// values, run.seed, and run.name / run.<root_key> pointing into the sweep directory.
std::vector<std::string> cell_overrides(const SweepOptions& o, const Family& f, const Cell& c);

/// What a cell's run directory says about it.
enum class CellState { Fresh, Finished, Resumable, Partial };
/// Finished: summary.json exists. Resumable: a checkpoint exists and the family resumes. Partial: metrics but
/// nothing to resume from. Fresh: nothing yet.
CellState inspect_cell(const std::filesystem::path& run_dir, const Family& f);

struct SweepOutcome {
  int cells = 0, skipped = 0, done = 0, failed = 0, interrupted = 0;
  std::vector<std::string> failures;  ///< "<cell>: <its error line>"
  int first_failure_status = 0;       ///< exit status of the first failed cell
};

/// Run (or continue) the sweep. `validate(overrides)` is called for every cell before anything starts, so a
/// bad grid value fails at once with the config's own error. Prints one line per cell event to stderr:
/// cells done / running / failed / pending and an ETA. SIGINT or SIGTERM stop it: children get SIGTERM and
/// their cells stay resumable. Throws: Error(Config) if `out` holds a different sweep, Error(Io).
SweepOutcome run_sweep(const SweepOptions& o,
                       const std::function<void(const Family&, const std::vector<std::string>&)>& validate);

/// A TOML basic string literal for `s` (quotes and backslashes escaped), for --set values.
std::string toml_quote(const std::string& s);

}  // namespace plexus::exp
