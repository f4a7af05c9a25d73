// Strict TOML configs: each TOML table maps to one plain Options struct.
//
// An Options struct declares its keys once in an OptionSchema (options.h); the schema reads them through a
// ConfigTable, which type-checks each value, records the final value (default or given) into `resolved()`
// (the resolved tree written to runs/<name>/config.toml) and, in `finish()`, rejects unknown keys naming the
// nearest valid one.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/core/error.h"

namespace plexus {

/// Parse a TOML config file. Throws: Error(Io) if it does not exist or is unreadable, Error(Config) if it is
/// a directory, holds no key at all (an empty file would silently run every default), or has a syntax error
/// (with line:column).
toml::table load_toml(const std::filesystem::path& path);

/// Parse TOML text (for tests and presets). Throws: Error(Config) on a syntax error, naming `origin`.
toml::table parse_toml(std::string_view text, std::string_view origin = "<string>");

/// Apply one `--set section.key=value` override: the value is read as a TOML value (number, bool, string,
/// array), and a bare word falls back to a string. A string-typed key takes the literal text of its value
/// whatever TOML would read (`--set run.name=2024-12-01` names the run "2024-12-01", not a date). Creates
/// missing tables. Throws: Error(Config) if the override has no '=', an empty key component, a value over
/// several lines (a newline could smuggle in a TOML table header), or names a key under a non-table.
void apply_override(toml::table& root, std::string_view assignment);

/// Reject top-level entries of a config that are not one of `sections` or not tables, with one wording for
/// every family: "unknown table [x] (did you mean [y]?)". Throws: Error(Config).
void check_sections(const toml::table& root, const std::vector<std::string>& sections);

/// The table `name` of `root`, or null when absent. Throws: Error(Config) if `name` is not a table.
const toml::table* section_table(const toml::table& root, std::string_view name);

/// `s` cut to at most `max` bytes (with "…" and the full length) so a huge value never floods an error line.
std::string clip_text(std::string_view s, std::size_t max = 80);

/// Nearest candidate by edit distance (empty if none is within a reasonable distance).
std::string nearest_name(std::string_view key, const std::vector<std::string>& candidates);

/// Reads one table of a config, tracking which keys were used and recording resolved values.
class ConfigTable {
 public:
  /// `table` may be null (section absent: every field keeps its default). `section` names it in errors.
  ConfigTable(const toml::table* table, std::string section);

  /// A table with no TOML behind it whose errors name command-line flags: "plexus llm generate: --top-p = 2:
  /// must be in (0, 1]" (for OptionSchema::check of options given as flags).
  static ConfigTable flags(std::string command);

  /// Read `key` into `field` if present (type-checked; integers are accepted for doubles); otherwise keep
  /// the default. Records the final value. Throws: Error(Config) on a type mismatch naming the key.
  void get(std::string_view key, bool& field);
  void get(std::string_view key, int64_t& field);
  void get(std::string_view key, int& field);
  void get(std::string_view key, uint64_t& field);
  void get(std::string_view key, double& field);
  void get(std::string_view key, std::string& field);
  void get(std::string_view key, std::vector<double>& field);
  void get(std::string_view key, std::vector<int64_t>& field);
  void get(std::string_view key, std::vector<std::string>& field);

  /// Read a string key that must be one of `choices`. Throws: Error(Config) naming the choices.
  void get_choice(std::string_view key, std::string& field, const std::vector<std::string>& choices);

  /// Range check: throws Error(Config) "[section] key = <value>: <what>" if `ok` is false.
  void require(bool ok, std::string_view key, std::string_view what) const;

  /// Reject unknown keys: throws Error(Config) "[section] unknown key 'x' (did you mean 'y'?)".
  void finish() const;

  /// The resolved values recorded so far (every key that was asked for).
  const toml::table& resolved() const { return resolved_; }
  toml::table& resolved() { return resolved_; }
  const std::string& section() const { return section_; }

 private:
  const toml::node* lookup(std::string_view key);
  [[noreturn]] void type_error(std::string_view key, const char* expected) const;
  std::string value_text(std::string_view key) const;

  const toml::table* table_;
  std::string section_;
  bool flags_ = false;  ///< errors name --flags of command `section_` (see flags())
  std::vector<std::string> known_;
  toml::table resolved_;
};

/// Write a TOML table to text (the resolved config): values before sub-tables, floats in shortest round-trip
/// form (0.3, not 0.29999999999999999).
std::string to_toml_string(const toml::table& table);

}  // namespace plexus
