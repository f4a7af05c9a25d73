// `plexus fl run --config FILE [--set section.key=value ...] [--resume]` and `plexus fl algorithms`.
#include <fmt/format.h>

#include "command_registry.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/runner.h"

namespace {

struct RunArgs {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false;
};

void setup(CLI::App& app) {
  auto& fl = plexus::app::subcommand_group(app, "fl", "federated and decentralized learning");
  auto args = std::make_shared<RunArgs>();
  auto* run = fl.add_subcommand("run", "run an FL experiment from a TOML config (see configs/ and docs/config.md)");
  run->add_option("--config,-c", args->config, "TOML config file")->required();
  run->add_option("--set", args->sets, "override a key, e.g. --set fl.rounds=50 (repeatable)");
  run->add_flag("--resume", args->resume, "continue runs/<name>/ from its newest checkpoint");
  run->callback([args] {
    auto cfg = plexus::fl::load_fl_config(args->config, args->sets);
    auto result = plexus::fl::run_fl(cfg, args->resume);
    fmt::print("{}\n", result.summary.dump(2));
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
