// Strict TOML configs: each TOML table maps to one plain Options struct.
//
// An Options struct has in-class defaults and a `static Options parse(ConfigTable& t)` that calls
// `t.get("key", field)` for every field, range-checks with `t.require(...)`, and ends with `t.finish()`,
// which rejects unknown keys naming the nearest valid one. `get` also records the final value (default or
// given) into `t.resolved()`, so the resolved tree written to runs/<name>/config.toml lists every key.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/core/error.h"

namespace plexus {

/// Parse a TOML file. Throws: Error(Io) if unreadable, Error(Config) with line:column on a syntax error.
toml::table load_toml(const std::filesystem::path& path);

/// Parse TOML text (for tests and presets). Throws: Error(Config) on a syntax error, naming `origin`.
toml::table parse_toml(std::string_view text, std::string_view origin = "<string>");

/// Apply one `--set section.key=value` override: the value is read as a TOML value (number, bool, string,
/// array), and a bare word falls back to a string. Creates missing tables.
/// Throws: Error(Config) if the override has no '=' or names a key under a non-table.
void apply_override(toml::table& root, std::string_view assignment);

/// Nearest candidate by edit distance (empty if none is within a reasonable distance).
std::string nearest_name(std::string_view key, const std::vector<std::string>& candidates);

/// Reads one table of a config, tracking which keys were used and recording resolved values.
class ConfigTable {
 public:
  /// `table` may be null (section absent: every field keeps its default). `section` names it in errors.
  ConfigTable(const toml::table* table, std::string section);

  /// Read `key` into `field` if present (type-checked; integers are accepted for doubles); otherwise keep
  /// the default. Records the final value. Throws: Error(Config) on a type mismatch naming the key.
  void get(std::string_view key, bool& field);
  void get(std::string_view key, int64_t& field);
  void get(std::string_view key, int& field);
  void get(std::string_view key, double& field);
  void get(std::string_view key, std::string& field);
  void get(std::string_view key, std::vector<double>& field);
  void get(std::string_view key, std::vector<int64_t>& field);
  void get(std::string_view key, std::vector<std::string>& field);

  /// Read a string key that must be one of `choices`. Throws: Error(Config) naming the choices.
  void get_choice(std::string_view key, std::string& field, const std::vector<std::string>& choices);

  /// Range check: throws Error(Config) "[section] key = <value>: <what>" if `ok` is false.
  void require(bool ok, std::string_view key, std::string_view what) const;

  /// A nested table `key` (may be absent). Its keys count as known here.
  ConfigTable sub(std::string_view key);

  /// Reject unknown keys: throws Error(Config) "[section] unknown key 'x' (did you mean 'y'?)".
  void finish() const;

  /// The resolved values recorded so far (every key that was asked for).
  const toml::table& resolved() const { return resolved_; }
  toml::table& resolved() { return resolved_; }
  const std::string& section() const { return section_; }
  bool present(std::string_view key) const;

 private:
  const toml::node* lookup(std::string_view key);
  [[noreturn]] void type_error(std::string_view key, const char* expected) const;
  std::string value_text(std::string_view key) const;

  const toml::table* table_;
  std::string section_;
  std::vector<std::string> known_;
  toml::table resolved_;
};

/// Write a TOML table to text (the resolved config).
std::string to_toml_string(const toml::table& table);

}  // namespace plexus
