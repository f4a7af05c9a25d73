#include "plexus/exp/sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <thread>

#include "plexus/core/checkpoint.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/progress.h"
#include "plexus/core/run_dir.h"
#include "plexus/core/tensorboard.h"
#include "plexus/exp/process.h"

namespace plexus::exp {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"fl", {"fl", "run"}, "out_dir", true, true, true},
      {"tune", {"tune", "run"}, "out_dir", false, false, true},
      {"llm", {"llm", "pretrain"}, "out_dir", true, true, true},
  };
  return f;
}

const Family& find_family(const std::string& name) {
  for (const auto& f : families()) {
    if (f.name == name) return f;
  }
  throw Error::config("--family '{}' is not one of: fl, tune, llm", name);
}

const Family& detect_family(const toml::table& config) {
  if (config.contains("fl")) return find_family("fl");
  for (const char* t : {"tuner", "market", "landscape"}) {
    if (config.contains(t)) return find_family("tune");
  }
  for (const char* t : {"model", "tokenizer"}) {
    if (config.contains(t)) return find_family("llm");
  }
  throw Error::config("cannot tell which kind of run the config describes (no [fl], [tuner] or [model] table); "
                      "pass --family fl|tune|llm");
}

std::string toml_quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::vector<std::string> cell_overrides(const SweepOptions& o, const Family& f, const Cell& c) {
  std::vector<std::string> sets = o.sets;
  for (const auto& [k, v] : c.assign) sets.push_back(k + "=" + v);
  if (c.seed) sets.push_back("run.seed=" + std::to_string(*c.seed));
  sets.push_back("run.name=" + toml_quote(c.name));
  sets.push_back("run." + f.root_key + "=" + toml_quote(o.out.string()));
  return sets;
}

CellState inspect_cell(const fs::path& run_dir, const Family& f) {
  if (fs::exists(run_dir / "summary.json")) return CellState::Finished;
  if (f.resumable && !latest_checkpoint(run_dir / "checkpoints").empty()) return CellState::Resumable;
  if (fs::exists(run_dir / "metrics.jsonl")) return CellState::Partial;
  return CellState::Fresh;
}

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

std::string hex32(uint32_t v) { return fmt::format("{:08x}", v); }

// The part of the manifest that defines the sweep: a re-run must ask for exactly this.
json identity(const SweepOptions& o, const Family& f) {
  json grid = json::array();
  for (const auto& a : o.grid) grid.push_back({{"key", a.key}, {"values", a.values}});
  return {{"family", f.name},
          {"config", fs::absolute(o.config).lexically_normal().string()},
          {"config_crc32c", hex32(tensorboard::crc32c(read_file(o.config)))},
          {"sets", o.sets},
          {"grid", grid},
          {"seeds", o.seeds}};
}

// The manifest of `o.out`: read and checked to describe this very sweep (a re-run must ask for exactly
// what the first run asked for), or a fresh one listing every cell as pending when there is none yet.
// Throws: Error(Data) for a file that is not a manifest; Error(Config) for a different sweep.
json load_manifest(const SweepOptions& o, const Family& f, const std::vector<Cell>& cells) {
  json want = identity(o, f);
  const fs::path mpath = o.out / "sweep.json";
  if (fs::exists(mpath)) {
    json manifest;
    try {
      manifest = json::parse(read_file(mpath));
    } catch (const json::exception& e) {
      throw Error::data("'{}' is not a sweep manifest ({}); choose another --out", mpath.string(), e.what());
    }
    for (const auto& [k, v] : want.items()) {
      if (manifest["sweep"][k] != v) {
        throw Error::config("'{}' holds a different sweep ({} was {}, now {}); re-run the original command to "
                            "continue it, or choose another --out", o.out.string(), k, manifest["sweep"][k].dump(),
                            v.dump());
      }
    }
    return manifest;
  }
  json manifest = {{"sweep", want}, {"created", utc_now()}, {"cells", json::array()}};
  for (const auto& c : cells) {
    json cell = {{"name", c.name}, {"seed", c.seed ? json(*c.seed) : json()}, {"overrides", json::array()},
                 {"status", "pending"}, {"launches", json::array()}};
    for (const auto& [k, v] : c.assign) cell["overrides"].push_back(k + "=" + v);
    manifest["cells"].push_back(cell);
  }
  return manifest;
}

// Whether the user fixes run.threads (a --set or a grid axis); otherwise each cell gets default_threads.
bool user_sets_threads(const SweepOptions& o) {
  for (const auto& s : o.sets) {
    if (s.rfind("run.threads=", 0) == 0) return true;
  }
  for (const auto& a : o.grid) {
    if (a.key == "run.threads") return true;
  }
  return false;
}

// run.threads of a cell at its first launch: --threads-per-job, else the cores shared by --jobs.
int default_threads(const SweepOptions& o) {
  if (o.threads_per_job > 0) return static_cast<int>(o.threads_per_job);
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, hw / std::max(1, static_cast<int>(o.jobs)));
}

// Last line starting with "error:" in `log` after byte `from` (this launch's output).
std::string error_line(const fs::path& log, std::uintmax_t from) {
  std::ifstream in(log, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(from));
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.rfind("error:", 0) == 0) found = line;
  }
  return found;
}

struct Running {
  std::size_t cell;
  Clock::time_point start;
  std::string device;
  bool resume;
  std::uintmax_t log_from;
};

class Scheduler {
 public:
  Scheduler(const SweepOptions& o, const Family& f, std::vector<Cell> cells, json manifest)
      : o_(o), f_(f), cells_(std::move(cells)), manifest_(std::move(manifest)) {}

  SweepOutcome run();

 private:
  json& entry(std::size_t i) { return manifest_["cells"][i]; }
  void save() { atomic_write(o_.out / "sweep.json", manifest_.dump(2) + "\n"); }
  void launch(std::size_t i);
  void finish(pid_t pid, int status);
  std::string pick_device(std::size_t i, bool resume);
  std::string eta() const;
  void status_line(const std::string& event);

  const SweepOptions& o_;
  const Family& f_;
  std::vector<Cell> cells_;
  json manifest_;
  std::map<pid_t, Running> running_;
  std::deque<std::size_t> queue_;
  SweepOutcome out_;
  std::vector<double> fresh_seconds_, any_seconds_;
  bool stopping_ = false;
};

std::string Scheduler::pick_device(std::size_t i, bool resume) {
  if (!f_.has_device || o_.devices.empty()) return {};
  // A resumed cell keeps the device it started on (the run checks that its config is unchanged).
  const auto& was = entry(i)["device"];
  if (resume && was.is_string() &&
      std::find(o_.devices.begin(), o_.devices.end(), was.get<std::string>()) != o_.devices.end()) {
    return was.get<std::string>();
  }
  std::string best;
  std::size_t best_n = SIZE_MAX;
  for (const auto& d : o_.devices) {
    std::size_t n = 0;
    for (const auto& [pid, r] : running_) n += r.device == d;
    if (n < best_n) best_n = n, best = d;
  }
  return best;
}

void Scheduler::launch(std::size_t i) {
  const Cell& c = cells_[i];
  const fs::path dir = o_.out / c.name;
  CellState st = inspect_cell(dir, f_);
  if (st == CellState::Partial) {
    // Died before its first checkpoint: nothing to resume from. Keep its files, start again.
    fs::create_directories(o_.out / "discarded");
    fs::path to = o_.out / "discarded" / c.name;
    for (int k = 1; fs::exists(to); ++k) to = o_.out / "discarded" / fmt::format("{}.{}", c.name, k);
    fs::rename(dir, to);
    log_info("sweep: {} stopped before its first checkpoint; moved to {} and started again", c.name, to.string());
  }
  const bool resume = st == CellState::Resumable;
  std::vector<std::string> argv = {o_.binary};
  argv.insert(argv.end(), f_.command.begin(), f_.command.end());
  argv.push_back("--config");
  argv.push_back(fs::absolute(o_.config).lexically_normal().string());
  for (const auto& s : cell_overrides(o_, f_, c)) argv.push_back("--set"), argv.push_back(s);
  json& e = entry(i);
  std::string device = pick_device(i, resume);
  if (!device.empty()) argv.push_back("--set"), argv.push_back("run.device=" + toml_quote(device)), e["device"] = device;
  if (f_.has_threads && !user_sets_threads(o_)) {
    // Fixed per cell at its first launch: a resumed run must see the same resolved config.
    if (!e["threads"].is_number()) e["threads"] = default_threads(o_);
    argv.push_back("--set"), argv.push_back("run.threads=" + std::to_string(e["threads"].get<int>()));
  }
  if (resume) argv.push_back("--resume");

  const fs::path log = o_.out / "logs" / (c.name + ".log");
  std::uintmax_t from = fs::exists(log) ? fs::file_size(log) : 0;
  {
    std::ofstream h(log, std::ios::app);
    h << "=== plexus sweep: launch " << e["launches"].size() + 1 << (resume ? " (resume)" : " (fresh)") << " at "
      << utc_now() << "\n$";
    for (const auto& a : argv) h << " " << a;
    h << "\n";
    from = static_cast<std::uintmax_t>(h.tellp());
  }
  pid_t pid = spawn(argv, log);
  running_[pid] = {i, Clock::now(), device, resume, from};
  e["status"] = "running";
  e["launches"].push_back({{"started", utc_now()}, {"resume", resume}, {"device", device.empty() ? json() : json(device)},
                           {"argv", argv}});
  save();
  status_line(fmt::format("start {}{}{}", c.name, resume ? " (resuming from its checkpoint)" : "",
                          device.empty() ? "" : " on " + device));
}

void Scheduler::finish(pid_t pid, int wait_status) {
  auto it = running_.find(pid);
  if (it == running_.end()) return;  // not ours
  Running r = it->second;
  running_.erase(it);
  const Cell& c = cells_[r.cell];
  const int st = exit_status(wait_status);
  const double secs = std::chrono::duration<double>(Clock::now() - r.start).count();
  json& e = entry(r.cell);
  json& l = e["launches"].back();
  l["exit"] = st;
  l["seconds"] = secs;
  std::string event;
  if (st == 0 && fs::exists(o_.out / c.name / "summary.json")) {
    e["status"] = "done";
    e.erase("error");
    ++out_.done;
    any_seconds_.push_back(secs);
    if (!r.resume) fresh_seconds_.push_back(secs);
    event = fmt::format("done {} in {}", c.name, format_duration(secs));
  } else if (stopping_) {
    e["status"] = "interrupted";
    ++out_.interrupted;
    event = fmt::format("interrupted {} (re-run the same command to resume it)", c.name);
  } else {
    const fs::path log = o_.out / "logs" / (c.name + ".log");
    std::string err = error_line(log, r.log_from);
    if (err.empty()) err = st == 0 ? "exited without writing summary.json" : fmt::format("exit status {}", st);
    e["status"] = "failed";
    e["error"] = err;
    ++out_.failed;
    if (out_.first_failure_status == 0) out_.first_failure_status = st == 0 ? 1 : st;
    out_.failures.push_back(c.name + ": " + err);
    event = fmt::format("FAILED {} ({}; log {})", c.name, err, log.string());
  }
  save();
  status_line(event);
}

std::string Scheduler::eta() const {
  const auto& base = fresh_seconds_.empty() ? any_seconds_ : fresh_seconds_;
  if (base.empty()) return "?";
  double avg = 0;
  for (double s : base) avg += s;
  avg /= static_cast<double>(base.size());
  double work = avg * static_cast<double>(queue_.size());
  for (const auto& [pid, r] : running_) {
    work += std::max(0.0, avg - std::chrono::duration<double>(Clock::now() - r.start).count());
  }
  const double lanes = static_cast<double>(std::max<std::size_t>(1, std::min<std::size_t>(o_.jobs, queue_.size() + running_.size())));
  return format_duration(work / lanes);
}

void Scheduler::status_line(const std::string& event) {
  const int finished = out_.skipped + out_.done;
  log_info("sweep: [{}/{} done, {} running, {} failed, {} pending, eta {}] {}", finished, out_.cells, running_.size(),
           out_.failed, queue_.size(), eta(), event);
}

SweepOutcome Scheduler::run() {
  out_.cells = static_cast<int>(cells_.size());
  for (std::size_t i = 0; i < cells_.size(); ++i) {
    CellState st = inspect_cell(o_.out / cells_[i].name, f_);
    if (st == CellState::Finished) {
      entry(i)["status"] = "done";
      ++out_.skipped;
    } else {
      queue_.push_back(i);
      if (entry(i)["status"] == "running") entry(i)["status"] = "interrupted";  // a previous sweep died
    }
  }
  save();
  log_info("sweep: {} cells in {} ({} finished earlier, {} to run), {} job(s) at a time", cells_.size(),
           o_.out.string(), out_.skipped, queue_.size(), o_.jobs);

  struct sigaction sa{}, old_int{}, old_term{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: waitpid returns EINTR so the loop notices a stop at once
  g_stop = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  while ((!queue_.empty() && !stopping_) || !running_.empty()) {
    while (!g_stop && !stopping_ && static_cast<int>(running_.size()) < o_.jobs && !queue_.empty()) {
      std::size_t i = queue_.front();
      queue_.pop_front();
      launch(i);
    }
    if (running_.empty()) continue;
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (g_stop && !stopping_) {
      stopping_ = true;
      log_info("sweep: stopping: sending SIGTERM to {} running cell(s); re-run the same command to continue",
               running_.size());
      for (const auto& [p, r] : running_) ::kill(p, SIGTERM);
    }
    if (pid > 0) finish(pid, status);
    else if (errno != EINTR) throw Error::io("waitpid failed: {}", std::strerror(errno));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (stopping_) out_.interrupted += static_cast<int>(queue_.size());
  return out_;
}

}  // namespace

SweepOutcome run_sweep(const SweepOptions& o,
                       const std::function<void(const Family&, const std::vector<std::string>&)>& validate) {
  if (o.jobs < 1) throw Error::config("--jobs = {} must be >= 1", o.jobs);
  toml::table base = load_toml(o.config);
  const Family& f = o.family.empty() ? detect_family(base) : find_family(o.family);
  if (!o.devices.empty() && !f.has_device) {
    throw Error::config("--devices: {} runs have no run.device; drop --devices", f.name);
  }
  auto cells = expand_grid(o.grid, o.seeds);
  // Every cell's config is checked before anything runs: a typo in a grid value fails here, not in cell 17.
  for (const auto& c : cells) {
    try {
      if (validate) validate(f, cell_overrides(o, f, c));
    } catch (const Error& e) {
      throw Error(e.kind(), fmt::format("sweep cell {}: {}", c.name, e.what()));
    }
  }
  if (o.dry_run) {
    // The commands a real run would launch now (the same config path and per-cell threads), after the same
    // check that the directory holds this sweep.
    load_manifest(o, f, cells);
    const int threads = default_threads(o);
    for (const auto& c : cells) {
      std::string line = o.binary;
      for (const auto& a : f.command) line += " " + a;
      line += " --config " + fs::absolute(o.config).lexically_normal().string();
      for (const auto& set : cell_overrides(o, f, c)) line += " --set '" + set + "'";
      if (f.has_threads && !user_sets_threads(o)) line += fmt::format(" --set run.threads={}", threads);
      const CellState st = inspect_cell(o.out / c.name, f);
      if (st == CellState::Resumable) line += " --resume";
      const char* state[] = {"fresh", "finished", "resumable", "partial"};
      fmt::print("{}  # {}\n", line, state[static_cast<int>(st)]);
    }
    return {static_cast<int>(cells.size())};
  }

  fs::create_directories(o.out / "logs");
  // One sweep process per directory at a time (released by the kernel when the process dies).
  int lock = ::open((o.out / "sweep.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    throw Error::io("sweep directory '{}' is in use by another plexus sweep; wait for it or choose another --out",
                    o.out.string());
  }
  json manifest = load_manifest(o, f, cells);
  Scheduler s(o, f, std::move(cells), std::move(manifest));
  SweepOutcome r = s.run();
  ::close(lock);
  return r;
}

}  // namespace plexus::exp
