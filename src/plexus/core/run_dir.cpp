#include "plexus/core/run_dir.h"

#include <fstream>
#include <sstream>

#include "plexus/core/config.h"
#include "plexus/core/error.h"

namespace plexus {

namespace fs = std::filesystem;

void atomic_write(const fs::path& path, const std::string& bytes) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error::io("cannot write '{}' (is the directory writable?)", tmp.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw Error::io("short write to '{}' (disk full?)", tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error::io("cannot rename '{}' to '{}': {}", tmp.string(), path.string(), ec.message());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error::io("cannot read '{}'", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

MetricsWriter::MetricsWriter(fs::path dir) : dir_(std::move(dir)) {
  std::ifstream in(dir_ / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      rows_.push_back(nlohmann::ordered_json::parse(line));
    } catch (const nlohmann::json::exception&) {
      break;  // a torn last line from a killed process: drop it
    }
  }
}

void MetricsWriter::truncate_after(const std::string& key, int64_t last) {
  std::vector<nlohmann::ordered_json> kept;
  for (auto& r : rows_) {
    if (r.contains(key) && r[key].get<int64_t>() <= last) kept.push_back(r);
  }
  rows_ = std::move(kept);
  rewrite();
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

void MetricsWriter::rewrite() {
  std::string jsonl, csv;
  if (!rows_.empty()) {
    bool first = true;
    for (auto& [k, v] : rows_.front().items()) csv += (first ? "" : ",") + k, first = false;
    csv += "\n";
  }
  for (auto& r : rows_) {
    jsonl += r.dump() + "\n";
    bool first = true;
    for (auto& [k, v] : r.items()) csv += (first ? "" : ",") + csv_cell(v), first = false;
    csv += "\n";
  }
  atomic_write(dir_ / "metrics.jsonl", jsonl);
  atomic_write(dir_ / "metrics.csv", csv);
}

void MetricsWriter::append(const nlohmann::ordered_json& row) {
  rows_.push_back(row);
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
  // Append in place (cheap); a header goes first when the file is new.
  bool fresh = rows_.size() == 1;
  {
    std::ofstream j(dir_ / "metrics.jsonl", fresh ? std::ios::trunc : std::ios::app);
    j << row.dump() << "\n";
    if (!j) throw Error::io("cannot append to '{}'", (dir_ / "metrics.jsonl").string());
  }
  std::ofstream c(dir_ / "metrics.csv", fresh ? std::ios::trunc : std::ios::app);
  if (fresh) {
    bool first = true;
    for (auto& [k, v] : row.items()) c << (first ? "" : ",") << k, first = false;
    c << "\n";
  }
  bool first = true;
  for (auto& [k, v] : row.items()) c << (first ? "" : ",") << csv_cell(v), first = false;
  c << "\n";
  if (!c) throw Error::io("cannot append to '{}'", (dir_ / "metrics.csv").string());
}

RunDir::RunDir(const fs::path& root, const std::string& name, bool resume) : path_(root / name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw Error::config("[run] name = \"{}\" must be a plain directory name (set run.name)", name);
  }
  std::error_code ec;
  if (!resume && fs::exists(path_ / "metrics.jsonl")) {
    throw Error::config("run directory '{}' already holds results; choose another run.name "
                        "(--set run.name=...) or pass --resume to continue it", path_.string());
  }
  if (resume && !fs::exists(path_)) {
    throw Error::config("--resume: run directory '{}' does not exist", path_.string());
  }
  fs::create_directories(path_ / "checkpoints", ec);
  if (ec) throw Error::io("cannot create run directory '{}': {}", path_.string(), ec.message());
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
