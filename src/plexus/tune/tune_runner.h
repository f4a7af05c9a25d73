// `plexus tune run`: read a strict TOML config, build the problem (auction marketplace or a synthetic
// landscape), run one tuner and write runs/<name>/ (config.toml, metrics.csv/jsonl with one row per
// iteration, summary.json) like the FL runner.
#pragma once

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <memory>
#include <string>

#include "plexus/core/run_options.h"
#include "plexus/tune/auction_problem.h"
#include "plexus/tune/landscape.h"
#include "plexus/tune/marketplace.h"
#include "plexus/tune/objective.h"
#include "plexus/tune/tuner_registry.h"

namespace plexus::tune {

/// TOML section [run]: the keys every family shares (core/run_options.h; `threads` = replay threads, 0 = all
/// cores) plus what the tuning run works on.
struct TuneRunOptions : plexus::RunOptions {
  std::string problem = "auction"; // auction | landscape
  std::string logs = "";           // auction log file; empty = generate from [market]
  bool progress = true;            // print a progress line per iteration
  static const OptionSchema<TuneRunOptions>& schema();
  static TuneRunOptions parse(ConfigTable& t);
};

/// The whole parsed config. `resolved` holds every key with its final value.
struct TuneConfig {
  TuneRunOptions run;
  MarketOptions market;
  AuctionProblemOptions auction;
  LandscapeOptions landscape;
  TunerOptions tuner;
  GuardOptions guard;
  ObjectiveOptions objective;
  const TunerInfo* info = nullptr;       // the registered tuner named by tuner.method
  std::shared_ptr<const Tuner> method;   // built from its own section [<tuner.method>]
  toml::table resolved;
};

/// Parse every section ([run], [market], [auction], [landscape], [tuner], [guard], [objective] and one
/// section per registered tuner, named like it). Every tuner section present is checked; the method's own
/// section is the one used (absent: its defaults). Throws: Error(Config) on an unknown section or key, or
/// a bad value.
TuneConfig parse_tune_config(const toml::table& root);

/// The key tables of the tuning sections ([run] [market] [auction] [landscape] [objective]; [tuner] is
/// documented in docs/tune.md), for docs/config.md (`plexus config docs`).
std::vector<SectionDoc> config_docs();

/// The problem the config describes; an auction log is loaded from run.logs or generated from [market].
std::unique_ptr<Problem> make_problem(const TuneConfig& cfg);

/// Run the configured tuner and write the run directory. Returns summary.json's content.
/// Throws: Error(Infeasible) (after writing the summary) if no candidate ever satisfied the constraints.
nlohmann::ordered_json run_tune(const TuneConfig& cfg, bool resume_dir = false);

/// One metrics row of an iteration (keys: iteration, stage, replays, estimate, estimate_lo, estimate_hi,
/// ess, feasible, true_value, regret, found, then theta_<name> per tuned parameter).
nlohmann::ordered_json record_json(const IterationRecord& r, const std::vector<std::string>& names);

/// The guarded final step as a marketplace team reads it: recommendation, whether the guard held it back
/// and why, gain over production with its CI per KPI, constraint margins, replays spent.
nlohmann::ordered_json guard_json(const Problem& p, const GuardReport& g);

}  // namespace plexus::tune
