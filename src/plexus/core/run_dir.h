// Run directories: runs/<name>/ holds config.toml (resolved), metrics.csv + metrics.jsonl (one row per
// round or step), summary.json, data.json (the data fingerprint), run.lock and checkpoints/. Whole files are
// written atomically (temporary file, fsync, rename), so an interrupted or failed run never leaves a
// half-written file and never loses one already written; the directory is locked while a run uses it.
// run_lifecycle.h adds the resume rules on top.
#pragma once

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "plexus/core/file_io.h"
#include "plexus/core/run_lock.h"
#include "plexus/core/tensorboard.h"

namespace plexus {

/// Appends metric rows to metrics.csv and metrics.jsonl. The CSV header is the first row's keys (in
/// insertion order); later rows must have the same keys. metrics.jsonl is the record; metrics.csv is
/// rebuilt from it whenever the history is cut back on resume.
class MetricsWriter {
 public:
  MetricsWriter() = default;
  /// Read the existing history of `dir` (if any). A last line cut short by a killed process (no newline)
  /// is dropped with a warning; any other unreadable line is remembered and reported by check_history.
  explicit MetricsWriter(std::filesystem::path dir);

  /// Check that the history holds rows `key` = first, first + 1, ..., at least up to `done` (the checkpoint's
  /// round or step), every line a JSON object. `first` is 0 for runs that log the starting model as row 0
  /// (GRPO's base-model evaluation). Throws: Error(Data) naming the file and line, without touching it.
  void check_history(const std::string& key, int64_t done, int64_t first = 1) const;
  /// check_history(key, last, first), then keep only rows whose `key` is <= `last` and rewrite both files;
  /// used on resume so the metrics continue exactly where the checkpoint was taken. Throws: Error(Data|Io).
  void truncate_after(const std::string& key, int64_t last, int64_t first = 1);
  /// Append one row to both files. Throws: Error(Io) (a partial row is removed again).
  void append(const nlohmann::ordered_json& row);
  /// Flush both files to the disk (fsync). Called before a checkpoint is written, so a checkpoint never
  /// survives a power loss that the rows before it do not. Throws: Error(Io).
  void sync() const;
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
  bool exists_ = false;   // metrics.jsonl was present when opened
  int64_t bad_line_ = 0;  // first unreadable line (1-based), 0 if none
  std::string bad_reason_;
  std::shared_ptr<tensorboard::EventWriter> tensorboard_;
  int64_t resumed_after_ = -1;  // the `last` of a truncate_after, or -1
};

/// A run directory under `root/name`, locked (run_lock.h) for as long as this object lives.
class RunDir {
 public:
  /// Create (or, with `resume`, reopen) `root/name` and lock it. A fresh run refuses a directory that
  /// already holds metrics, so earlier results are never overwritten. Throws: Error(Config) for a bad name,
  /// a missing directory on resume, existing results, or a directory another run holds; Error(Io).
  RunDir(const std::filesystem::path& root, const std::string& name, bool resume);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path checkpoints() const { return path_ / "checkpoints"; }
  /// Write the resolved config.toml. A resolved `run.tensorboard = true` also turns on TensorBoard event
  /// files for this run's metrics: the one place every family passes through, so no round loop knows of it.
  void write_config(const toml::table& resolved);
  void write_summary(const nlohmann::ordered_json& summary) const;
  MetricsWriter& metrics() { return metrics_; }
  const MetricsWriter& metrics() const { return metrics_; }

 private:
  std::filesystem::path path_;
  RunLock lock_;
  MetricsWriter metrics_;
};

}  // namespace plexus
