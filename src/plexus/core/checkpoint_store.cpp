// Which checkpoints of a run are intact, and retention that never gives up an older one too early.
#include "plexus/core/checkpoint_store.h"

#include <algorithm>
#include <regex>

#include "plexus/core/error.h"
#include "plexus/core/log.h"

namespace plexus {

namespace fs = std::filesystem;

std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  static const std::regex re(R"(round_(\d{1,18})\.pt)");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (std::regex_match(name, m, re)) found.emplace_back(std::stoll(m[1]), e.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return found;
}

fs::path latest_checkpoint(const fs::path& dir) {
  auto all = list_checkpoints(dir);
  return all.empty() ? fs::path() : all.front().second;
}

fs::path newest_intact_checkpoint(const fs::path& dir) {
  std::vector<std::string> bad;
  for (const auto& [n, path] : list_checkpoints(dir)) {
    std::string problem = checkpoint_problem(path);
    if (problem.empty()) return path;
    log_warn("checkpoint '{}' is unusable ({}); falling back to an older one", path.string(), problem);
    bad.push_back(fmt::format("{}: {}", path.filename().string(), problem));
  }
  if (!bad.empty()) {
    std::string list;
    for (const auto& b : bad) list += (list.empty() ? "" : "; ") + b;
    throw Error::data("no intact checkpoint in '{}' ({}); the run cannot be resumed: start a new run.name",
                      dir.string(), list);
  }
  return {};
}

void save_checkpoint_rotating(const fs::path& dir, const Checkpoint& ck, int64_t n, int64_t keep) {
  const fs::path path = dir / fmt::format("round_{}.pt", n);
  save_checkpoint(path, ck);
  // Read back what reached the file system before anything older is given up.
  if (auto problem = checkpoint_problem(path); !problem.empty()) {
    throw Error::io("checkpoint '{}' did not verify after writing ({}); older checkpoints were kept", path.string(),
                    problem);
  }
  // Retention: keep the `keep` newest intact checkpoints; delete everything older than the last of them.
  // Damaged files newer than that are left for a resume to report.
  int64_t intact = 0;
  for (const auto& [k, p] : list_checkpoints(dir)) {
    if (intact >= std::max<int64_t>(1, keep)) {
      std::error_code ec;
      fs::remove(p, ec);
      continue;
    }
    if (k == n || checkpoint_problem(p).empty()) ++intact;
  }
}

}  // namespace plexus
