#include "plexus/core/run_dir.h"

#include <fstream>
#include <set>
#include <sstream>

#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"

namespace plexus {

namespace fs = std::filesystem;

MetricsWriter::MetricsWriter(fs::path dir) : dir_(std::move(dir)) {
  const fs::path file = dir_ / "metrics.jsonl";
  exists_ = fs::exists(file);
  if (!exists_) return;
  const std::string text = read_file(file);
  std::size_t at = 0;
  for (int64_t line_no = 1; at < text.size(); ++line_no) {
    std::size_t end = text.find('\n', at);
    const bool torn = end == std::string::npos;  // the last line has no newline: its write was cut short
    std::string line = text.substr(at, torn ? std::string::npos : end - at);
    at = torn ? text.size() : end + 1;
    if (line.empty()) continue;
    std::string reason;
    try {
      auto row = nlohmann::ordered_json::parse(line);
      if (row.is_object()) {
        if (bad_line_ == 0) rows_.push_back(std::move(row));
        continue;
      }
      reason = "not a JSON object";
    } catch (const nlohmann::json::exception& e) {
      reason = e.what();
    }
    if (torn && bad_line_ == 0) {
      log_warn("{}: line {} was cut short (a killed run?); it is dropped", file.string(), line_no);
      continue;
    }
    if (bad_line_ == 0) bad_line_ = line_no, bad_reason_ = reason;
  }
}

void MetricsWriter::check_history(const std::string& key, int64_t done, int64_t first) const {
  const fs::path file = dir_ / "metrics.jsonl";
  const std::string fix = "restore the file from a copy, or start a new run (run.name); plexus does not rewrite "
                          "a history it cannot read";
  if (!exists_ && done > 0) {
    throw Error::data("'{}' is missing, but the checkpoint holds {} {}(s) of this run; {}", file.string(), done, key, fix);
  }
  if (bad_line_ > 0) {
    throw Error::data("'{}' line {} is unreadable ({}); {}", file.string(), bad_line_, bad_reason_.substr(0, 120), fix);
  }
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const auto& r = rows_[i];
    const int64_t want = static_cast<int64_t>(i) + first;
    if (!r.contains(key) || !r[key].is_number_integer() || r[key].get<int64_t>() != want) {
      throw Error::data("'{}' line {} should be the row of {} {} but holds {}; {}", file.string(), i + 1, key, want,
                        r.contains(key) ? r[key].dump() : "no '" + key + "'", fix);
    }
  }
  const int64_t last_row = static_cast<int64_t>(rows_.size()) + first - 1;
  if (last_row < done) {
    throw Error::data("'{}' ends at {} {}, but the checkpoint holds {} {}s; {}", file.string(), key, last_row, done,
                      key, fix);
  }
}

void MetricsWriter::truncate_after(const std::string& key, int64_t last, int64_t first) {
  check_history(key, last, first);
  rows_.resize(static_cast<std::size_t>(last - first + 1));  // rows are first..n in order (checked)
  rewrite();
  exists_ = true;
  resumed_after_ = last;
  if (tensorboard_) tensorboard_->session_start(last + 1);
}

void MetricsWriter::enable_tensorboard() {
  if (tensorboard_) return;
  tensorboard_ = std::make_shared<tensorboard::EventWriter>(dir_);
  if (resumed_after_ >= 0) tensorboard_->session_start(resumed_after_ + 1);
}

static std::string csv_cell(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

// The CSV columns: every key of `rows` in first-seen order. Normally the first row's keys; a run resumed on
// another rank count adds or drops its comm_bytes_rank<k> columns (docs/distributed.md), and those rows leave
// the cells of columns they lack empty.
static std::vector<std::string> csv_columns(const std::vector<nlohmann::ordered_json>& rows) {
  std::vector<std::string> cols;
  std::set<std::string> seen;
  for (const auto& r : rows) {
    for (auto& [k, v] : r.items()) {
      if (seen.insert(k).second) cols.push_back(k);
    }
  }
  return cols;
}

static std::string csv_header(const std::vector<std::string>& cols) {
  std::string s;
  for (std::size_t i = 0; i < cols.size(); ++i) s += (i ? "," : "") + cols[i];
  return s + "\n";
}

static std::string csv_line(const nlohmann::ordered_json& row, const std::vector<std::string>& cols) {
  std::string s;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    s += i ? "," : "";
    if (row.contains(cols[i])) s += csv_cell(row[cols[i]]);
  }
  return s + "\n";
}

static std::vector<std::string> keys_of(const nlohmann::ordered_json& row) {
  std::vector<std::string> keys;
  for (auto& [k, v] : row.items()) keys.push_back(k);
  return keys;
}

// The column names on the first line of an existing metrics.csv (empty if it cannot be read).
static std::vector<std::string> csv_file_header(const fs::path& path) {
  std::ifstream in(path);
  std::string line, name;
  std::vector<std::string> cols;
  if (!std::getline(in, line)) return cols;
  std::stringstream ss(line);
  while (std::getline(ss, name, ',')) cols.push_back(name);
  return cols;
}

// True when every key is a column of `header`.
static bool covers(const std::vector<std::string>& header, const std::vector<std::string>& keys) {
  const std::set<std::string> have(header.begin(), header.end());
  for (const auto& k : keys) {
    if (!have.count(k)) return false;
  }
  return true;
}

void MetricsWriter::rewrite() {
  const auto cols = csv_columns(rows_);
  std::string jsonl, csv = rows_.empty() ? "" : csv_header(cols);
  for (auto& r : rows_) jsonl += r.dump() + "\n", csv += csv_line(r, cols);
  atomic_write(dir_ / "metrics.jsonl", jsonl);
  atomic_write(dir_ / "metrics.csv", csv);
}

void MetricsWriter::append(const nlohmann::ordered_json& row) {
  const bool fresh = rows_.empty();
  const auto keys = keys_of(row);
  if (fresh) {
    // The first row starts both files (and the CSV header) from scratch.
    atomic_write(dir_ / "metrics.jsonl", row.dump() + "\n");
    atomic_write(dir_ / "metrics.csv", csv_header(keys) + csv_line(row, keys));
    rows_.push_back(row);
  } else if (const auto header = csv_file_header(dir_ / "metrics.csv"); covers(header, keys)) {
    append_record(dir_ / "metrics.jsonl", row.dump() + "\n");
    append_record(dir_ / "metrics.csv", csv_line(row, header));
    rows_.push_back(row);
  } else {  // other columns than the rows so far: both files rebuilt (atomically) with the union of columns
    rows_.push_back(row);
    try {
      rewrite();
    } catch (...) {
      rows_.pop_back();  // as a failed append_record: no partial row
      throw;
    }
  }
  exists_ = true;
  if (tensorboard_ && !row.empty()) {
    const auto& first = row.begin().value();
    const int64_t step = first.is_number() ? first.get<int64_t>() : static_cast<int64_t>(rows_.size());
    std::vector<std::pair<std::string, double>> scalars;
    for (auto it = std::next(row.begin()); it != row.end(); ++it) {
      if (it.value().is_number()) scalars.emplace_back(it.key(), it.value().get<double>());
      else if (it.value().is_boolean()) scalars.emplace_back(it.key(), it.value().get<bool>() ? 1.0 : 0.0);
    }
    tensorboard_->add_scalars(step, scalars);
  }
}

void MetricsWriter::sync() const {
  sync_file(dir_ / "metrics.jsonl");
  sync_file(dir_ / "metrics.csv");
}

// Any round_<n>.pt left by an earlier run: a fresh run must not mix its checkpoints with those.
static bool holds_checkpoints(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind("round_", 0) == 0 && e.path().extension() == ".pt") return true;
  }
  return false;
}

RunDir::RunDir(const fs::path& root, const std::string& name, bool resume) : path_(root / name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw Error::config("[run] name = \"{}\" must be a plain directory name (set run.name)", name);
  }
  if (resume && !fs::exists(path_)) {
    throw Error::config("--resume: run directory '{}' does not exist; check run.name and run.out_dir, or start "
                        "the run without --resume", path_.string());
  }
  std::error_code ec;
  fs::create_directories(path_ / "checkpoints", ec);
  if (ec) throw Error::io("cannot create run directory '{}': {}", path_.string(), ec.message());
  lock_ = RunLock(path_);  // before looking at its content: another run may be writing it
  if (!resume && (fs::exists(path_ / "metrics.jsonl") || holds_checkpoints(checkpoints()))) {
    throw Error::config("run directory '{}' already holds results; choose another run.name "
                        "(--set run.name=...) or pass --resume to continue it", path_.string());
  }
  metrics_ = MetricsWriter(path_);
}

void RunDir::write_config(const toml::table& resolved) {
  atomic_write(path_ / "config.toml", to_toml_string(resolved));
  if (resolved["run"]["tensorboard"].value_or(false)) metrics_.enable_tensorboard();
}

void RunDir::write_summary(const nlohmann::ordered_json& summary) const {
  atomic_write(path_ / "summary.json", summary.dump(2) + "\n");
}

}  // namespace plexus
