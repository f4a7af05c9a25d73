// Checkpoint files: a named set of tensors plus a JSON document (RNG positions, accountant ledger, round),
// written atomically with a magic number and a format version so a wrong or truncated file is reported
// clearly instead of crashing.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace plexus {

struct Checkpoint {
  std::map<std::string, torch::Tensor> tensors;  ///< any shapes; saved from CPU copies
  nlohmann::json meta;                           ///< free-form state (round, ledger, options hash)
};

/// Save atomically to `path` (temporary file, then rename). Throws: Error(Io).
void save_checkpoint(const std::filesystem::path& path, const Checkpoint& ckpt);

/// Load from `path`; tensors come back on the CPU. Throws: Error(Io) if missing, Error(Data) if the file
/// is not a plexus checkpoint, has another version, or is truncated.
Checkpoint load_checkpoint(const std::filesystem::path& path);

/// Path of the newest `round_<n>.pt` under `dir` (empty path if none).
std::filesystem::path latest_checkpoint(const std::filesystem::path& dir);

}  // namespace plexus
