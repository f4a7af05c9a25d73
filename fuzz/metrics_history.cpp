// Fuzz target `metrics_history`: reading a run's metrics.jsonl on --resume (core/run_dir.h MetricsWriter):
// open, check_history against the checkpoint's round, truncate_after it.
//
// Input: a selector byte s, then metrics.jsonl. Key = "step" if s & 1 else "round"; first row = (s >> 1) & 1
// (GRPO logs row 0); done = s >> 2 (0..63, the newest checkpoint's round or step).
// Properties: a history cut back by truncate_after reads back and passes check_history with exactly the kept
// rows, and the run can append its next row.
#include "fuzz_support.h"

#include "plexus/core/run_dir.h"

namespace {

using namespace plexus;
namespace fs = std::filesystem;

void one_input(std::string_view input) {
  if (input.empty()) return;
  const auto s = static_cast<unsigned char>(input[0]);
  const std::string key = (s & 1) ? "step" : "round";
  const int64_t first = (s >> 1) & 1, done = s >> 2;
  const fs::path dir = fuzz::scratch_dir() / "run";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fuzz::scratch_file("run/metrics.jsonl", input.substr(1));

  MetricsWriter history(dir);
  history.check_history(key, done, first);  // Error(Data): the resume is refused, as it should be
  history.truncate_after(key, done, first);

  MetricsWriter reopened(dir);
  if (!fuzz::attempt([&] { reopened.check_history(key, done, first); })) {
    fuzz::fail("a history cut back to {} {} does not pass check_history when reopened", key, done);
  }
  if (static_cast<int64_t>(reopened.rows().size()) != done - first + 1) {
    fuzz::fail("a history cut back to {} {} reopens with {} rows", key, done, reopened.rows().size());
  }
  nlohmann::ordered_json next;
  next[key] = done + 1;
  next["loss"] = 0.5;
  reopened.append(next);
}

}  // namespace

PLEXUS_FUZZ_TARGET(metrics_history, one_input)
