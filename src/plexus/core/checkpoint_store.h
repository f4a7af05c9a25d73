// Checkpoint integrity and retention, on top of checkpoint.h's save/load: which files of a run are intact,
// the newest intact one for a resume, and a save that verifies the new file before older ones are deleted.
//
// Checkpoint file layout (format 2; little-endian), written by save_checkpoint:
//   bytes 0-7   "PLXSCKPT"          magic
//   bytes 8-11  uint32 version = 2
//   bytes 12-15 uint32 reserved = 0
//   bytes 16-23 uint64 payload size in bytes
//   bytes 24-31 uint64 XXH64 of the payload (plexus/core/digest.h)
//   bytes 32-   payload: a LibTorch archive (torch::serialize::OutputArchive) holding the tensors by name,
//               plus "__magic" and "__meta" (the JSON text as uint8)
// load_checkpoint verifies the size and the digest, so a truncated, zeroed or bit-flipped file is an error,
// never a silently different result. Format 1 files (a bare LibTorch archive, no digest, from older plexus
// builds) are still read, with a warning that they cannot be verified.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "plexus/core/checkpoint.h"

namespace plexus {

/// Why `path` cannot be loaded (truncated, digest mismatch, not a checkpoint, unreadable), or "" if it is
/// intact. Reads and hashes the file but does not deserialize it (about 10 GB/s plus the read).
std::string checkpoint_problem(const std::filesystem::path& path);

/// Every `round_<n>.pt` under `dir`, newest (largest n) first. Units: n is the round (FL) or step (LLM) done.
std::vector<std::pair<int64_t, std::filesystem::path>> list_checkpoints(const std::filesystem::path& dir);

/// The newest intact checkpoint under `dir` (empty path if `dir` has none). Each newer damaged file gets a
/// warning naming it and its problem; the damaged files are left in place. Throws: Error(Data) listing every
/// file and its problem if there are checkpoints but none is intact.
std::filesystem::path newest_intact_checkpoint(const std::filesystem::path& dir);

/// Write `ck` as `dir/round_<n>.pt`, verify it by reading it back, then delete checkpoints older than the
/// `keep` newest intact ones. Nothing is deleted unless the new file verified, so a failed or damaged write
/// never costs an older checkpoint. Throws: Error(Io) if the write or its verification fails.
void save_checkpoint_rotating(const std::filesystem::path& dir, const Checkpoint& ck, int64_t n, int64_t keep);

}  // namespace plexus
