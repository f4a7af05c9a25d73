// Sweep grids: `--grid fl.algorithm=dfedavg,dfedsam --grid fl.rho=0.01,0.05 --seeds 0-4` expands to the cross
// product of the axes and the seeds, one Cell (one normal run directory) per combination.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::exp {

/// One `--grid key=v1,v2,...` axis. Values are TOML values as `--set` reads them (a bare word is a string);
/// commas inside [...] or quotes do not split, so `model.hidden=[16,16],[32]` has two values.
struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};

/// Parse one axis. Throws: Error(Config) for a missing '=', an empty key or value, a repeated value, or a
/// key the sweep sets itself (run.name, run.out_dir, run.root; run.seed belongs to --seeds).
GridAxis parse_grid_axis(std::string_view spec);

/// Parse `--seeds`: comma-separated integers and inclusive ranges, e.g. "0-4" → 0,1,2,3,4 and "0,2,7-8" →
/// 0,2,7,8. Throws: Error(Config) for a negative seed, a reversed range, a repeated seed, a non-number or
/// more than 10,000 seeds (each seed is a run directory).
std::vector<int64_t> parse_seeds(std::string_view spec);

/// One cell of the cross product: the overrides it adds and, with --seeds, its seed.
struct Cell {
  std::string name;                                        ///< run directory name, e.g. "algorithm=dfedsam,rho=0.05,seed=3"
  std::vector<std::pair<std::string, std::string>> assign; ///< (key, value) per axis, in axis order
  std::optional<int64_t> seed;
};

/// The cross product in a fixed order: seeds outermost (every setting finishes seed 0 before any seed 1, so a
/// partial sweep already compares all settings), then the axes in the order given, the last varying fastest.
/// Cell names use each key's last component (the full key when two axes share it) and the value with
/// characters other than [A-Za-z0-9._+-] replaced by '_'. No axes and no seeds give one cell named "run".
/// Throws: Error(Config) if two axes share a key or two cells would get the same name.
std::vector<Cell> expand_grid(const std::vector<GridAxis>& axes, const std::vector<int64_t>& seeds);

/// Split `text` at commas that are outside [...], {...} and quotes.
std::vector<std::string> split_top_level(std::string_view text);

}  // namespace plexus::exp
