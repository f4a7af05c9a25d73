// The [run] table shared by every family (FL, LLM, tuning): where results go and how the run executes.
// Parsed once here, so the output root has one name (`out_dir`), the seed one default and `threads` one
// meaning (CPU threads the run uses) in every family.
#pragma once

#include <cstdint>
#include <string>

#include "plexus/core/options.h"

namespace plexus {

/// Longest run name: one path component on common file systems (ext4, APFS, NTFS allow 255 bytes).
inline constexpr std::size_t kMaxRunNameBytes = 255;

/// Options of the [run] table common to all families.
struct RunOptions {
  std::string name = "run";      ///< run directory name under out_dir (one path component, <= 255 bytes)
  std::string out_dir = "runs";  ///< root of run directories
  int64_t seed = 0;              ///< root of every random stream
  std::string device = "cpu";    ///< "cpu", "cuda" or "cuda:N"
  int64_t threads = 0;           ///< CPU threads the run uses (0 = all cores)
  bool tensorboard = false;      ///< also write metrics as TensorBoard event files (RunDir reads the resolved key)

  /// The declared keys (name, out_dir, seed, device, threads, tensorboard).
  static const OptionSchema<RunOptions>& schema();
  /// Parse [run] (only these keys). Throws: Error(Config) for a bad value, an unknown key, or a name that is
  /// not one path component of at most 255 bytes.
  static RunOptions parse(ConfigTable& t);
  /// The run-name check alone (for families that extend [run] with more keys). Throws: Error(Config).
  static void check_name(const ConfigTable& t, const std::string& name);
};

}  // namespace plexus
