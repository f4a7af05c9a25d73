// Logged exploration traffic on disk: per request θ_i, log q(θ_i) and the KPI components, in the PLXCOL
// container of log_io.h (kind "exploration_log"), so IS estimates can be computed offline by
// `plexus tune estimate` or any outside tool.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "plexus/tune/importance_sampling.h"

namespace plexus::tune {

/// Exploration samples plus the randomization that produced them (diagonal Gaussian around θ0).
struct ExplorationLog {
  std::vector<std::string> params;  // tuned parameter names, one per θ dimension
  std::vector<double> theta0, sd;   // proposal centre and per-dimension sd
  Samples samples;
};

/// Write / read. Throws: Error(Io) if unreadable/unwritable; Error(Data) if corrupt or inconsistent.
void save_exploration(const ExplorationLog& e, const std::filesystem::path& path);
ExplorationLog load_exploration(const std::filesystem::path& path);

}  // namespace plexus::tune
