// The configuration of one FL run: the [run], [data], [model], [fl], [topology], [train], [privacy],
// [personalization] and [bbpt] tables.
// Every key, its default and its range are listed in docs/config.md.
#pragma once

#include <toml++/toml.h>

#include <string>

#include "plexus/core/config.h"
#include "plexus/core/run_options.h"
#include "plexus/data/dataset.h"
#include "plexus/data/federated.h"
#include "plexus/fl/bbpt_options.h"
#include "plexus/fl/dp_aggregator.h"
#include "plexus/fl/local_trainer.h"
#include "plexus/fl/pfl/pfl_config.h"
#include "plexus/fl/topology.h"
#include "plexus/nn/models.h"

namespace plexus::fl {

/// [run]: the keys every family shares (plexus::RunOptions: name, out_dir, seed, device, threads) plus FL's
/// checkpoint schedule.
struct RunOptions : plexus::RunOptions {
  int64_t checkpoint_every = 0; ///< write checkpoints/round_<t>.pt every this many rounds (0 = only at the end)
  int64_t keep_checkpoints = 2; ///< newest checkpoints kept (older ones are deleted after a newer one is written)
  std::string client_batching = "auto";  ///< "auto" | "on" | "off": train/evaluate all clients as one batched computation
  std::string cuda_graphs = "auto";       ///< "auto" | "on" | "off": the batched local step as a replayed CUDA graph
  static const OptionSchema<RunOptions>& schema();
  static RunOptions parse(ConfigTable& t);
};

/// [fl]: the algorithm and the federation.
struct FlOptions {
  std::string algorithm = "dfedsam";  ///< a registered algorithm (`plexus fl algorithms`, docs/algorithms.md)
  int64_t clients = 20;               ///< N
  int64_t rounds = 20;                ///< T communication rounds
  double client_fraction = 0.1;       ///< server FL: m = max(1, round(fraction·N)) clients sampled per round
  int64_t gossip_steps = 1;           ///< Q gossip steps per round (decentralized algorithms)
  int64_t eval_every = 1;             ///< evaluate every this many rounds (and always at the last round)
  double server_lr = 1.0;             ///< η_g: global step size of SCAFFOLD's server update x ← x + η_g·mean(Δy)
  static const OptionSchema<FlOptions>& schema();
  static FlOptions parse(ConfigTable& t);
};

struct FlConfig {
  RunOptions run;
  data::DataOptions data;
  nn::ModelOptions model;
  FlOptions fl;
  TopologyOptions topology;
  LocalOptions train;
  PrivacyOptions privacy;  ///< used by the dp_* and fed_smp_* algorithms
  PersonalizationOptions personalization;  ///< personalized algorithms only (fl/pfl/, docs/pfl.md)
  BbptOptions bbpt;        ///< black-box prompt tuning only (bbpt/, docs/bbpt.md)
  toml::table resolved;  ///< every key with its final value (written to runs/<name>/config.toml)

  /// Parse a whole config. Throws: Error(Config) for unknown tables or keys (with a suggestion), wrong types
  /// and out-of-range values, and for combinations an algorithm forbids (its Algorithm::check, e.g. momentum
  /// 0 where heavy-ball momentum is required).
  static FlConfig parse(const toml::table& root);
};

/// The key tables of every FL section, for docs/config.md (`plexus config docs`).
std::vector<SectionDoc> config_docs();

}  // namespace plexus::fl
