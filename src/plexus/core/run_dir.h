// Run directories: runs/<name>/ holds config.toml (resolved), metrics.csv + metrics.jsonl (one row per
// round or step), summary.json and checkpoints/. Every file is written atomically (temporary file, then
// rename), so an interrupted or failed run never leaves a half-written file and never loses one already
// written.
#pragma once

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "plexus/core/tensorboard.h"

namespace plexus {

/// Write `bytes` to `path` atomically (write `path.tmp`, fsync-free rename). Throws: Error(Io).
void atomic_write(const std::filesystem::path& path, const std::string& bytes);

/// Read a whole file. Throws: Error(Io) naming the path.
std::string read_file(const std::filesystem::path& path);

/// Appends metric rows to metrics.csv and metrics.jsonl. The CSV header is the first row's keys (in
/// insertion order); later rows must have the same keys. Rows are flushed after each append.
class MetricsWriter {
 public:
  MetricsWriter() = default;
  explicit MetricsWriter(std::filesystem::path dir);

  /// Keep only rows whose `key` (e.g. "round") is <= `last` and rewrite both files; used on resume so the
  /// metrics continue exactly where the checkpoint was taken.
  void truncate_after(const std::string& key, int64_t last);
  void append(const nlohmann::ordered_json& row);
  const std::vector<nlohmann::ordered_json>& rows() const { return rows_; }

  /// Also write every appended row to a TensorBoard event file in the run directory: step = the row's first
  /// value (round, step or iteration), one scalar per numeric (or boolean) column. After a resume's
  /// truncate_after the new file starts with SessionLog START at the next step (core/tensorboard.h).
  /// Throws: Error(Io).
  void enable_tensorboard();

 private:
  void rewrite();
  std::filesystem::path dir_;
  std::vector<nlohmann::ordered_json> rows_;
  std::shared_ptr<tensorboard::EventWriter> tensorboard_;
  int64_t resumed_after_ = -1;  // the `last` of a truncate_after, or -1
};

/// A run directory under `root/name`.
class RunDir {
 public:
  /// Create (or, with `resume`, reopen) `root/name`. A fresh run refuses to reuse a directory that already
  /// holds metrics, so earlier results are never overwritten. Throws: Error(Io) or Error(Config).
  RunDir(const std::filesystem::path& root, const std::string& name, bool resume);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path checkpoints() const { return path_ / "checkpoints"; }
  /// Write the resolved config.toml. A resolved `run.tensorboard = true` also turns on TensorBoard event
  /// files for this run's metrics: the one place every family passes through, so no round loop knows of it.
  void write_config(const toml::table& resolved);
  void write_summary(const nlohmann::ordered_json& summary) const;
  MetricsWriter& metrics() { return metrics_; }

 private:
  std::filesystem::path path_;
  MetricsWriter metrics_;
};

}  // namespace plexus
