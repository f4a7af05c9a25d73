// The library side of `plexus tune explore` and `plexus tune estimate`: serve randomized exploration
// traffic θ_i ~ N(θ0, diag sd²) on an auction log, and importance-sampling estimates of one candidate's
// KPIs from such a log (importance_sampling.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "plexus/tune/exploration_io.h"
#include "plexus/tune/marketplace.h"

namespace plexus::tune {

struct ExploreOptions {
  std::string theta0;           // production θ0 as "alpha=1,reserve=0.1" (empty: the [auction] default)
  std::string sigma;            // randomized dims and their sd, "alpha=0.1,reserve=0.02"
  int64_t requests = 20000;
  int64_t seed = 1;
  bool expected_clicks = false; // log expected instead of sampled clicks
  int threads = 2;
};

/// Serve o.requests randomized requests drawn uniformly from `log`. The exploration box is each
/// parameter's hard bounds. Throws: Error(Config) on an unknown parameter, a zero sd or bad counts.
ExplorationLog explore(std::shared_ptr<const AuctionLog> log, const ExploreOptions& o);

struct EstimateOptions {
  std::string theta;                 // candidate "alpha=0.9" (unlisted dims = θ0)
  double target_scale = 0.5;         // target kernel N(c, (s·sd)²), s in (0, √2)
  std::string mode = "self_normalized";  // plain | self_normalized
  double clip = 0;                   // weight cap (0 = none)
  std::string ci = "delta";          // delta | bootstrap
  int bootstrap = 200;
};

/// IS estimates of the candidate's per-request KPIs, RPM and CTR with CIs, its ESS, clipped weights and
/// Mahalanobis shift from θ0, as JSON. Throws: Error(Config) on a bad option or a parameter the log did
/// not randomize or outside its bounds.
nlohmann::ordered_json estimate(const ExplorationLog& e, const EstimateOptions& o);

}  // namespace plexus::tune
