// Tuners register themselves: each tuner's file defines one static TunerRegistrar holding its name,
// a one-line summary, its bench variants and a factory that parses its own config section (named like
// the tuner). Every list of tuner names (config errors with "did you mean", `plexus tune methods`, the
// bench's method list, test parameter lists) comes from this registry, so a tuner's name is written once.
//
// The registrations are static objects in a static library that nothing else references, so a plain
// link would drop them: CMakeLists.txt links plexus_tune as a whole archive (plexus_tune_whole).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "plexus/core/config.h"
#include "plexus/core/options.h"
#include "plexus/tune/guard.h"
#include "plexus/tune/tuner.h"

namespace plexus::tune {

struct TunerInfo {
  std::string name;             // method name and the name of its config section
  std::string summary;          // one line for `plexus tune methods`
  bool importance_sampling = false;  // an IS tuner: its recommendation goes through the guarded final step
  bool uses_simulator = false;  // the run reports the simulator's own optimum next to the true one
  /// Bench labels and the TOML keys of the tuner's section they set (e.g. {"amis_gu", "update = \"gu\""}).
  std::vector<std::pair<std::string, std::string>> variants;
  /// Parse the tuner's section (t may wrap an absent table: all defaults) and build it.
  std::function<std::shared_ptr<const Tuner>(ConfigTable& t)> make;
  /// The key table of the tuner's section, from its options' declarations (docs/config.md).
  std::function<SectionDoc()> doc;
};

/// All registered tuners, ordered by registration name (deterministic across link orders).
const std::vector<TunerInfo>& tuner_registry();
/// Registered tuner names in registry order.
std::vector<std::string> tuner_names();
/// The tuner called `name`. Throws: Error(Config) "[tuner] method = 'x' is unknown (did you mean 'y'?)".
const TunerInfo& find_tuner(const std::string& name);

/// One bench variant: its label, the tuner and the overrides of the tuner's section.
struct TunerVariant {
  std::string label;
  const TunerInfo* info = nullptr;
  std::string overrides;
};
/// Every bench variant of every registered tuner, in registry order.
std::vector<TunerVariant> tuner_variants();
/// The variant labelled `label`. Throws: Error(Config) naming the known labels.
TunerVariant find_variant(const std::string& label);

/// Build the tuner `name` from TOML text of its section's keys (empty: defaults).
/// Throws: Error(Config) on an unknown tuner or a bad key.
std::shared_ptr<const Tuner> make_tuner(const std::string& name, const std::string& section_toml = "");

struct TunerRegistrar {
  explicit TunerRegistrar(TunerInfo info);
};

/// Run `tuner` and, for IS tuners with guard.enabled, the guarded final step (guard.h): the result's
/// `best` is then the guard's recommendation and a final record (stage "final") is appended.
/// Throws: Error(Config) as Tuner::run.
TuneResult run_tuner(Problem& p, const TunerInfo& info, const Tuner& tuner, const TunerOptions& opt,
                     const GuardOptions& guard, uint64_t seed, const IterationCallback& cb = {});

}  // namespace plexus::tune
