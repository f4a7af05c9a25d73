// `plexus sweep`: the cross product of --grid axes and --seeds, each cell a normal run directory under one
// sweep directory, run as child plexus processes (src/plexus/exp/sweep.h, docs/experiments.md).
//   plexus sweep --config configs/quickstart.toml --grid fl.algorithm=dfedavg,dfedsam --grid train.rho=0.01,0.05 \
//                --seeds 0-4 --jobs 2 [--devices cuda:0,cuda:1] [--out runs/sweep_quickstart]
#include <fmt/format.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "command_registry.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/exp/grid.h"
#include "plexus/exp/sweep.h"
#include "plexus/fl/runner.h"
#include "plexus/tune/tune_runner.h"
#if __has_include("plexus/llm/pretrain.h")
#include "plexus/llm/pretrain.h"
#define PLEXUS_SWEEP_HAS_LLM 1
#endif

namespace {

namespace fs = std::filesystem;
using namespace plexus;

struct SweepArgs {
  std::string config, family, seeds, devices, out, binary;
  std::vector<std::string> grid, sets;
  int jobs = 1, threads = 0;
  bool dry_run = false;
};

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) throw Error::io("cannot find the plexus executable (/proc/self/exe); pass --binary");
  return std::string(buf, static_cast<std::size_t>(n));
}

// Parse one cell's config exactly as its run will, so a bad key or value stops the sweep before it starts.
void validate(const std::string& config, const exp::Family& f, const std::vector<std::string>& sets) {
  toml::table root = load_toml(config);
  for (const auto& s : sets) apply_override(root, s);
  if (f.name == "fl") (void)fl::FlConfig::parse(root);
  else if (f.name == "tune") (void)tune::parse_tune_config(root);
#ifdef PLEXUS_SWEEP_HAS_LLM
  else if (f.name == "llm") (void)llm::PretrainConfig::parse(root);
#endif
}

ErrorKind kind_of_status(int status) {
  switch (status) {
    case 2: return ErrorKind::Config;
    case 3: return ErrorKind::Data;
    case 4: return ErrorKind::Infeasible;
    default: return ErrorKind::Internal;
  }
}

void run(const SweepArgs& a) {
  exp::SweepOptions o;
  o.config = a.config;
  o.family = a.family;
  o.sets = a.sets;
  for (const auto& g : a.grid) o.grid.push_back(exp::parse_grid_axis(g));
  if (!a.seeds.empty()) o.seeds = exp::parse_seeds(a.seeds);
  o.jobs = a.jobs;
  for (const auto& d : exp::split_top_level(a.devices)) {
    if (!d.empty()) o.devices.push_back(d);
  }
  if (a.threads < 0) throw Error::config("--threads-per-job = {} must be >= 0 (0 = cores / jobs)", a.threads);
  o.threads_per_job = a.threads;
  o.out = a.out.empty() ? fs::path("runs") / ("sweep_" + fs::path(a.config).stem().string()) : fs::path(a.out);
  o.binary = a.binary.empty() ? self_exe() : a.binary;
  o.dry_run = a.dry_run;
  auto r = exp::run_sweep(o, [&](const exp::Family& f, const std::vector<std::string>& sets) { validate(a.config, f, sets); });
  if (o.dry_run) return;
  if (r.interrupted > 0) {
    std::fprintf(stderr, "error: sweep interrupted with %d cell(s) unfinished; re-run the same command to continue\n",
                 r.interrupted);
    std::fflush(stdout);
    std::exit(130);
  }
  fmt::print("sweep: {} cells: {} finished earlier, {} done now, {} failed; directory {}\n", r.cells, r.skipped, r.done,
             r.failed, o.out.string());
  if (r.failed > 0) {
    std::string list;
    for (const auto& f : r.failures) list += (list.empty() ? "" : "; ") + f;
    throw Error(kind_of_status(r.first_failure_status),
                fmt::format("sweep: {} of {} cells failed ({}){}. Fix the cause and re-run the same command: finished "
                            "cells are skipped (a grid value that cannot work needs a new --out)",
                            r.failed, r.cells, list, r.failed < r.cells ? "; the others finished" : ""));
  }
  fmt::print("sweep: next: plexus report {}\n", o.out.string());
}

void setup(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto* s = app.add_subcommand("sweep", "run a grid of settings x seeds as run directories under one sweep directory "
                                        "(docs/experiments.md)");
  s->add_option("--config,-c", a->config, "base TOML config (FL, tune or LLM)")->required();
  s->add_option("--grid", a->grid, "an axis, e.g. --grid fl.algorithm=dfedavg,dfedsam (repeatable; cross product)");
  s->add_option("--seeds", a->seeds, "run.seed values, e.g. 0-4 or 0,2,7 (default: the config's)");
  s->add_option("--set", a->sets, "override a key in every cell, e.g. --set fl.rounds=10 (repeatable)");
  s->add_option("--jobs,-j", a->jobs, "cells run at once (child processes)");
  s->add_option("--devices", a->devices, "run.device per cell, spread over the list, e.g. cuda:0,cuda:1");
  s->add_option("--threads-per-job", a->threads, "run.threads per cell (default: cores / jobs unless set)");
  s->add_option("--out,-o", a->out, "sweep directory (default runs/sweep_<config name>)");
  s->add_option("--family", a->family, "fl, tune or llm (default: from the config's tables)");
  s->add_option("--binary", a->binary, "plexus executable to launch per cell (default: this one)");
  s->add_flag("--dry-run", a->dry_run, "print each cell's command and state; run nothing");
  s->callback([a] { run(*a); });
}

const plexus::app::CommandRegistrar kRegistrar("sweep", setup);

}  // namespace
