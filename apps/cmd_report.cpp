// `plexus report DIR... [--out DIR] [--no-plots]`: tables (mean ± std over seeds, final and best round) and
// plots with mean ± std bands from run or sweep directories (src/plexus/exp/report.h, docs/experiments.md).
// The plots are drawn by scripts/plexus_report.py with matplotlib.
#include <fmt/format.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "command_registry.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/exp/grid.h"
#include "plexus/exp/process.h"
#include "plexus/exp/report.h"

namespace {

namespace fs = std::filesystem;
using namespace plexus;

// The plot script: $PLEXUS_REPORT_SCRIPT, next to an installed or built binary, or the source tree's.
fs::path report_script() {
  if (const char* e = std::getenv("PLEXUS_REPORT_SCRIPT")) return e;
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::vector<fs::path> candidates;
  if (n > 0) {
    fs::path exe_dir = fs::path(std::string(buf, static_cast<std::size_t>(n))).parent_path();
    candidates = {exe_dir / "../share/plexus/plexus_report.py", exe_dir / "../scripts/plexus_report.py"};
  }
  candidates.push_back(fs::path(PLEXUS_SOURCE_DIR) / "scripts/plexus_report.py");
  for (const auto& c : candidates) {
    if (fs::exists(c)) return c;
  }
  throw Error::io("cannot find scripts/plexus_report.py; set PLEXUS_REPORT_SCRIPT to its path (or pass --no-plots)");
}

// A Python with matplotlib: $PLEXUS_PYTHON, else Debian's /usr/bin/python3 (python3-matplotlib), else python3.
std::string python_with_matplotlib() {
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("PLEXUS_PYTHON")) candidates.push_back(e);
  candidates.push_back("/usr/bin/python3");
  candidates.push_back("python3");
  for (const auto& py : candidates) {
    if (py.find('/') != std::string::npos && !fs::exists(py)) continue;
    if (exp::run_to_end({py, "-c", "import matplotlib"}, "/dev/null") == 0) return py;
  }
  throw Error::io("no Python with matplotlib found; install python3-matplotlib (scripts/bootstrap.sh) or set "
                  "PLEXUS_PYTHON; the tables are already in report.md (--no-plots skips the plots)");
}

void setup(CLI::App& app) {
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto no_plots = std::make_shared<bool>(false);
  auto group_by = std::make_shared<std::string>();
  auto* r = app.add_subcommand("report", "tables and plots (mean ± std over seeds) from run or sweep directories");
  r->add_option("dirs", *dirs, "run directories or sweep directories (searched recursively)")->required();
  r->add_option("--out,-o", *out, "where report.md, report.html and plots/ go (default: the one DIR given)");
  r->add_flag("--no-plots", *no_plots, "write the tables only (no matplotlib needed)");
  r->add_option("--group-by", *group_by, "comma-separated config keys naming the groups, e.g. "
                "fl.algorithm,privacy.noise_multiplier (default: every key that differs)");
  r->callback([=] {
    if (out->empty() && dirs->size() != 1) throw Error::config("plexus report: several directories given; pass --out DIR");
    const fs::path dest = out->empty() ? fs::path(dirs->front()) : fs::path(*out);
    std::vector<fs::path> roots(dirs->begin(), dirs->end());
    std::vector<exp::RunRecord> runs;
    for (const auto& d : exp::find_runs(roots)) {
      try {
        runs.push_back(exp::load_run(d));
      } catch (const Error& e) {
        log_warn("report: skipping {}: {}", d.string(), e.what());  // e.g. a run that has not written a row yet
      }
    }
    if (runs.empty()) throw Error::data("plexus report: none of the run directories has metrics yet");
    std::vector<std::string> keys;
    for (const auto& k : exp::split_top_level(*group_by)) {
      if (!k.empty()) keys.push_back(k);
    }
    auto files = exp::write_report(runs, dest, keys, !*no_plots);
    if (!*no_plots && !files.plots.empty()) {
      const std::string py = python_with_matplotlib();
      int st = exp::run_to_end({py, report_script().string(), dest.string()});
      if (st != 0) throw Error::io("the plot script exited with status {}; the tables are in {}", st, files.markdown.string());
      for (const auto& p : files.plots) {
        if (!fs::exists(p)) throw Error::io("the plot script did not write '{}'", p.string());
      }
    }
    fmt::print("report: {} runs → {}, {}{}\n", runs.size(), files.markdown.string(), files.html.string(),
               *no_plots ? "" : fmt::format(", {} plot files in {}", files.plots.size(), (dest / "plots").string()));
  });
}

const plexus::app::CommandRegistrar kRegistrar("report", setup);

}  // namespace
