// plexus command-line entry point: `plexus fl …`, `plexus data …`, `plexus privacy …`, `plexus tune …`,
// `plexus llm …`. Families register themselves (command_registry.h). main catches every error once and
// prints one `error: <kind>: <message>` line, exiting 2 (config), 3 (data/io), 4 (infeasible) or 1.
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdio>

#include "command_registry.h"
#include "plexus/core/heap.h"
#include "plexus/core/error.h"

namespace plexus::app {

std::vector<Registration>& registry() {
  static std::vector<Registration> r;
  return r;
}

CLI::App& subcommand_group(CLI::App& app, const std::string& name, const std::string& description) {
  for (auto* s : app.get_subcommands([](CLI::App*) { return true; })) {
    if (s->get_name() == name) return *s;
  }
  auto* s = app.add_subcommand(name, description);
  s->require_subcommand(1);
  return *s;
}

}  // namespace plexus::app

int main(int argc, char** argv) {
  plexus::keep_freed_memory();  // before the first tensor: reuse freed memory instead of fresh pages (core/heap.h)
  CLI::App app{"plexus: federated learning, auction tuning and DeepSeek-style LLMs in one C++ engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("plexus ") + PLEXUS_VERSION + " (LibTorch " + TORCH_VERSION + ")");
  auto regs = plexus::app::registry();
  std::sort(regs.begin(), regs.end(), [](auto& a, auto& b) { return a.name < b.name; });
  try {
    for (auto& r : regs) r.setup(app);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // A command-line mistake is a usage error like any other: one `error:` line and exit 2 (CLI11's own
    // codes, 106 and up, are not the documented ones).
    std::fprintf(stderr, "error: usage: %s (see plexus --help, or --help after the command)\n", e.what());
    return 2;
  } catch (const plexus::Error& e) {
    std::fprintf(stderr, "error: %s\n", plexus::describe_exception(e).c_str());
    return plexus::exit_code(e.kind());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", plexus::describe_exception(e).c_str());
    return 1;
  }
  return 0;
}
