// Durable file writes. A file is written to `<path>.tmp`, flushed to the disk (fsync) and only then renamed
// over `<path>`, so a crash, a kill or a full disk leaves either the old file or the new one, never a mix.
// A failed write removes the temporary file and reports one Error(Io) line with the system's reason.
// Every byte goes through one write function, which tests replace to simulate a full disk.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus {

/// Check, before any work, that `path` can be an output file: in an existing directory, not a directory itself,
/// and not the same file as any of `inputs` (an output written over its own input would destroy it). Throws: Error(Io) saying which.
void require_output_file(const std::filesystem::path& path, const std::vector<std::filesystem::path>& inputs = {});

/// Write `bytes` to `path` atomically and durably: `path.tmp` is written, fsync'ed and its size checked,
/// then renamed over `path`. On failure `path` is untouched, `path.tmp` is removed, and the error names
/// the file and the reason (e.g. "No space left on device"). Throws: Error(Io).
void atomic_write(const std::filesystem::path& path, std::string_view bytes);

/// Append `bytes` to `path` (created if missing). On failure the file is cut back to its previous length,
/// so no partial record is left behind. No fsync per record (MetricsWriter::sync flushes the metrics before
/// each checkpoint). Throws: Error(Io).
void append_record(const std::filesystem::path& path, std::string_view bytes);

/// fsync an existing file (nothing if it does not exist). Throws: Error(Io) naming the file.
void sync_file(const std::filesystem::path& path);

/// Read a whole file. Throws: Error(Io) naming the path.
std::string read_file(const std::filesystem::path& path);

/// The function through which plexus writes file bytes: write(2) by default. Arguments: the file being
/// written (for fault injection by name), its descriptor, the bytes. Returns what write(2) returns.
using WriteFunction = std::function<ssize_t(const std::filesystem::path& path, int fd, const void* data, size_t n)>;

/// Install `fn` as the write function (an empty function restores write(2)); returns the previous one.
/// For tests that simulate a full disk or a failing device; not thread-safe, call it between runs.
WriteFunction set_write_function(WriteFunction fn);

}  // namespace plexus
