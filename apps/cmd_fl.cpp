// `plexus fl run --config FILE [--set section.key=value ...] [--resume] [--ranks R]` and `plexus fl algorithms`.
// Under torchrun, mpirun or srun (their rank variables set; dist/rank_env.h) the process is one rank of a
// multi-process run; --ranks R starts R such ranks locally (docs/distributed.md).
#include <fmt/format.h>

#include <cstdlib>

#include "command_registry.h"
#include "plexus/dist/group.h"
#include "plexus/dist/launch.h"
#include "plexus/dist/rank_env.h"
#include "plexus/dist/rank_failure.h"
#include "plexus/dist/stderr_prefix.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/ranked.h"
#include "plexus/fl/runner.h"

namespace {

struct RunArgs {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false;
  int ranks = 0;  // 0: no local launch
};

void setup(CLI::App& app) {
  auto& fl = plexus::app::subcommand_group(app, "fl", "federated and decentralized learning");
  auto args = std::make_shared<RunArgs>();
  auto* run = fl.add_subcommand("run", "run an FL experiment from a TOML config (see configs/ and docs/config.md)");
  run->add_option("--config,-c", args->config, "TOML config file")->required();
  run->add_option("--set", args->sets, "override a key, e.g. --set fl.rounds=50 (repeatable)");
  run->add_flag("--resume", args->resume, "continue runs/<name>/ from its newest checkpoint");
  run->add_option("--ranks", args->ranks,
                  "run as R local processes over c10d/Gloo, on the CPU or run.device (like torchrun --nproc-per-node R; "
                  "docs/distributed.md)")
      ->check(CLI::Range(1, 1024));
  run->callback([args] {
    namespace dist = plexus::dist;
    const auto env = dist::rank_env();  // a half-set rank environment is an error here, before anything runs
    if (env.distributed()) dist::prefix_stderr(fmt::format("[rank {}] ", env.rank));
    if (args->ranks > 0) {
      // Check once here what every rank would refuse, then start them; the exit code is the first failure's.
      auto cfg = plexus::fl::load_fl_config(args->config, args->sets);
      plexus::fl::check_ranked(cfg, args->ranks);
      const int code = dist::launch_local(args->ranks, dist::without_option(dist::own_command_line(), "--ranks"));
      if (code != 0) std::exit(code);  // the failed rank printed its error; main has nothing to add
      return;
    }
    // Under a launcher even one rank goes through a process group (as llm pretrain and DDP do; `--ranks 1` is how
    // the ranked round is compared with one process, on the CPU and on a GPU). A rank's failure prints one
    // `error:` line for the whole run (dist/rank_failure.h).
    const bool grouped = env.distributed() || !env.launcher.empty();
    std::unique_ptr<dist::Group> group;
    dist::run_as_rank(grouped, env.rank, group, [&] {
      auto cfg = plexus::fl::load_fl_config(args->config, args->sets);
      if (grouped) {
        plexus::fl::check_ranked(cfg, env.world);
        // Gloo whatever run.device is: FL moves rows point to point, which Gloo does from host memory (CUDA
        // rows are staged through it, rank_blocks.h); it lets several ranks share one GPU, which NCCL refuses.
        group = dist::Group::connect(env, dist::dist_timeout_seconds(), dist::Backend::Gloo);
      }
      auto result = plexus::fl::run_fl(cfg, args->resume, group.get());
      if (!group || group->rank() == 0) fmt::print("{}\n", result.summary.dump(2));
    });
  });

  auto* list = fl.add_subcommand("algorithms", "list the FL algorithms with their papers");
  list->callback([] {
    // From the registry: every algorithm file registers itself (src/plexus/fl/algorithm.h).
    for (const auto& a : plexus::fl::algorithms()) {
      using plexus::fl::Family;
      const char* tag = a.family == Family::Personalized ? " [personalized]"
                        : a.family == Family::BlackBox   ? " [black-box]"
                                                         : "";
      fmt::print("{:<16} {:<18} {}{}\n", a.name, a.title, a.source, tag);
    }
  });
}

const plexus::app::CommandRegistrar kRegistrar("fl", setup);

}  // namespace
