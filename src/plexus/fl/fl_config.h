// The configuration of one FL run: the [run], [data], [model], [fl], [topology], [train] and [privacy] tables.
// Every key, its default and its range are listed in docs/config.md.
#pragma once

#include <toml++/toml.h>

#include <string>

#include "plexus/core/config.h"
#include "plexus/data/dataset.h"
#include "plexus/data/federated.h"
#include "plexus/fl/dp_aggregator.h"
#include "plexus/fl/local_trainer.h"
#include "plexus/fl/pfl/pfl_config.h"
#include "plexus/fl/topology.h"
#include "plexus/nn/models.h"

namespace plexus::fl {

/// [run]: where results go and how the run executes (not what it computes, except `seed`).
struct RunOptions {
  std::string name = "run";     ///< run directory name under out_dir
  std::string out_dir = "runs"; ///< root of run directories
  int64_t seed = 0;             ///< root of every random stream (partition, init, batches, topology, noise)
  std::string device = "cpu";   ///< "cpu", "cuda" or "cuda:N"
  int64_t threads = 0;          ///< CPU worker threads training clients concurrently (0 = all cores)
  int64_t checkpoint_every = 0; ///< write checkpoints/round_<t>.pt every this many rounds (0 = only at the end)
  int64_t keep_checkpoints = 2; ///< newest checkpoints kept (older ones are deleted after a newer one is written)
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
  toml::table resolved;  ///< every key with its final value (written to runs/<name>/config.toml)

  /// Parse a whole config. Throws: Error(Config) for unknown tables or keys (with a suggestion), wrong types
  /// and out-of-range values, and for combinations an algorithm forbids (its Algorithm::check, e.g. momentum
  /// 0 where heavy-ball momentum is required).
  static FlConfig parse(const toml::table& root);
};

}  // namespace plexus::fl
