// `plexus config …`: the config keys of every family, from their declarations (core/options.h).
//   plexus config docs                      print every section's key table (markdown)
//   plexus config docs --check docs/config.md   exit 2 unless the file's generated tables match the declarations
//   plexus config docs --write docs/config.md   rewrite the generated tables in place (the prose is kept)
//   plexus config keys                      one line per key: <family> <section> <key> <type>
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "command_registry.h"
#include "plexus/core/error.h"
#include "plexus/core/options.h"
#include "plexus/core/run_dir.h"
#include "plexus/fl/fl_config.h"
#include "plexus/llm/pretrain.h"
#include "plexus/tune/tune_runner.h"

namespace {

using namespace plexus;

/// Every section of every family, in the order docs/config.md shows them.
std::vector<SectionDoc> all_sections() {
  std::vector<SectionDoc> out;
  for (auto&& list : {fl::config_docs(), llm::config_docs(), tune::config_docs()}) out.insert(out.end(), list.begin(), list.end());
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error::io("cannot read '{}'", clip_text(path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void setup(CLI::App& app) {
  auto& g = plexus::app::subcommand_group(app, "config", "config keys of every family, from their declarations");

  auto* docs = g.add_subcommand("docs", "print the key tables of docs/config.md, or check or rewrite that file");
  auto check = std::make_shared<std::string>();
  auto write = std::make_shared<std::string>();
  docs->add_option("--check", *check, "exit 2 unless FILE's generated tables match the declarations");
  docs->add_option("--write", *write, "rewrite FILE's generated tables from the declarations");
  docs->callback([check, write] {
    auto sections = all_sections();
    if (!check->empty()) {
      auto diffs = check_generated_blocks(read_file(*check), sections);
      if (!diffs.empty()) {
        throw Error::config("{} disagrees with the config declarations ({} difference{}; first: {}); run `plexus "
                            "config docs --write {}`",
                            *check, diffs.size(), diffs.size() == 1 ? "" : "s", diffs.front(), *check);
      }
      fmt::print("{}: {} generated tables match the declarations\n", *check, sections.size());
      return;
    }
    if (!write->empty()) {
      atomic_write(*write, fill_generated_blocks(read_file(*write), sections));
      fmt::print("{}: {} generated tables written\n", *write, sections.size());
      return;
    }
    for (const auto& s : sections) {
      fmt::print("<!-- generated: {} -->\n{}<!-- end generated -->\n\n", s.id(), s.table);
    }
  });

  auto* keys = g.add_subcommand("keys", "one line per declared key: <family> <section> <key> <type>");
  keys->callback([] {
    for (const auto& s : all_sections()) {
      for (const auto& k : s.keys) fmt::print("{} {} {} {}\n", s.family, s.section, k.name, k.type);
    }
  });
}

const plexus::app::CommandRegistrar kRegistrar("config", setup);

}  // namespace
