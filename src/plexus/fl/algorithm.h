// The registry of FL algorithms. Each file in fl/algorithms/ (server, gossip and DP algorithms) and each
// algorithm file in fl/pfl/ (personalized algorithms) states its paper and equations and registers one
// Algorithm whose `build` composes its parts (parts.h), e.g. FedAvg = StepRule(SGD) + ServerAverage +
// GlobalEvaluator. Every list of algorithm names (config errors, `plexus fl algorithms`, tests) comes from
// here, so adding an algorithm touches only its own file (plus configs, docs and tests).
//
// Registration is by a static AlgorithmRegistrar object in the algorithm's file, which nothing references by
// name: plexus_fl is therefore linked whole (CMakeLists.txt, plexus_fl_whole), or the linker would drop it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "plexus/fl/parts.h"

namespace plexus::fl {

struct RunResult;  // runner.h

/// The families, in the order `plexus fl algorithms` lists them. The family also names the optional config
/// table an algorithm reads: [privacy] for Private, [personalization] for Personalized, [bbpt] for BlackBox.
enum class Family { Server, Gossip, Private, Personalized, BlackBox };

struct Algorithm {
  std::string name;    ///< config value of fl.algorithm
  std::string title;   ///< display name, e.g. "DFedSAM-MGS"
  std::string source;  ///< paper and arXiv id
  Family family = Family::Server;
  /// Checks that only this algorithm needs (e.g. momentum > 0); throws Error(Config) naming the key.
  std::function<void(const FlConfig&)> check;
  /// The parts of a run. Throws: Error(Config) for settings the parts reject (e.g. a disconnected topology).
  std::function<Parts(Session&)> build;
  /// Set only by algorithms whose clients hold no model (black-box prompt tuning, src/plexus/bbpt/): they
  /// tune a prompt through an API, so they bring their own round loop over the same run directory, sampling,
  /// averaging and checkpoints; run_fl hands the whole run to it. Throws as run_fl.
  std::function<RunResult(const FlConfig&, bool resume)> run;
};

/// Every registered algorithm, ordered by family, then name.
const std::vector<Algorithm>& algorithms();

/// Names of the registered algorithms of `family` (all families when omitted), in algorithms() order.
std::vector<std::string> algorithm_names();
std::vector<std::string> algorithm_names(Family family);

/// "a, b, c" of `names` (for messages).
std::string name_list(const std::vector<std::string>& names);

/// The algorithm named `name`. Throws: Error(Config) naming the valid algorithms and the nearest match.
const Algorithm& find_algorithm(const std::string& name);

/// True if `name` is a registered personalized algorithm (configured by [personalization]).
bool is_personalized(const std::string& name);

/// Registers an algorithm at static-initialization time: `const AlgorithmRegistrar kReg({...});`.
struct AlgorithmRegistrar {
  explicit AlgorithmRegistrar(Algorithm algorithm);
};

/// Check for algorithms built on heavy-ball momentum (DFedAvgM): train.momentum must be > 0.
void require_momentum(const FlConfig& cfg);

}  // namespace plexus::fl
