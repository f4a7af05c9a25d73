// Fuzz target `config`: a TOML config file plus `--set` overrides, read the way `plexus tune run` reads them
// (load_toml, apply_override, check_sections and every option schema of parse_tune_config; the FL and LLM
// families use the same ConfigTable/OptionSchema code with other keys).
//
// Input: the config file text, then optionally a line "#%set" and one `--set` assignment per line after it.
// Properties beyond "only plexus::Error": the resolved config (written to runs/<name>/config.toml) reads back
// as TOML, parses to the same resolved config, and passes the --resume config check against itself.
#include "fuzz_support.h"

#include "plexus/core/config.h"
#include "plexus/core/run_lifecycle.h"
#include "plexus/tune/tune_runner.h"

namespace {

using namespace plexus;

constexpr std::string_view kSetMarker = "#%set\n";

void one_input(std::string_view input) {
  std::string_view text = input, sets;
  std::size_t at = input.starts_with(kSetMarker) ? 0 : input.find("\n#%set\n");
  if (at != std::string_view::npos) {
    if (input[at] == '\n') ++at;  // the marker line itself
    text = input.substr(0, at);
    sets = input.substr(at + kSetMarker.size());
  }
  // As cmd_tune: no --config means an empty tree that --set fills.
  toml::table root = text.empty() ? toml::table{} : load_toml(fuzz::scratch_file("config.toml", text));
  while (!sets.empty()) {
    auto nl = sets.find('\n');
    std::string_view line = sets.substr(0, nl);
    sets = nl == std::string_view::npos ? std::string_view{} : sets.substr(nl + 1);
    apply_override(root, line);
  }
  const tune::TuneConfig c = tune::parse_tune_config(root);
  const std::string written = to_toml_string(c.resolved);

  toml::table saved;
  try {
    saved = parse_toml(written, "resolved config.toml");
  } catch (const Error& e) {
    fuzz::fail("the resolved config does not read back as TOML ({})", e.what());
  }
  tune::TuneConfig again;
  if (!fuzz::attempt([&] { again = tune::parse_tune_config(saved); })) {
    fuzz::fail("the resolved config is rejected when read back:\n{}", written);
  }
  if (const std::string w2 = to_toml_string(again.resolved); w2 != written) {
    fuzz::fail("the resolved config changes when read back:\n{}\n--- became ---\n{}", written, w2);
  }
  if (!fuzz::attempt([&] { check_resume_config(saved, c.resolved, ResumeRules{}); })) {
    fuzz::fail("--resume would refuse the run's own resolved config:\n{}", written);
  }
}

}  // namespace

PLEXUS_FUZZ_TARGET(config, one_input)
