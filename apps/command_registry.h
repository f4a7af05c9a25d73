// Self-registering command families: each apps/cmd_<family>.cpp defines a setup function that adds its
// subcommands to the CLI and registers it with a static CommandRegistrar. plexus.cpp stays unchanged when a
// family is added.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace plexus::app {

using SetupFn = std::function<void(CLI::App&)>;

struct Registration {
  std::string name;  // used only to order setup calls deterministically
  SetupFn setup;
};

std::vector<Registration>& registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, SetupFn setup) { registry().push_back({std::move(name), std::move(setup)}); }
};

/// The subcommand `name` of `app`, created with `description` if absent (so two files can add to `fl`).
CLI::App& subcommand_group(CLI::App& app, const std::string& name, const std::string& description);

}  // namespace plexus::app
