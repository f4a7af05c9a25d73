#include "plexus/core/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace plexus {

toml::table load_toml(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error::io("cannot read config file '{}' (check the path given to --config)", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_toml(ss.str(), path.string());
}

toml::table parse_toml(std::string_view text, std::string_view origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error::config("{}:{}:{}: TOML syntax error: {}", origin, b.line, b.column, e.description());
  }
}

void apply_override(toml::table& root, std::string_view assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw Error::config("--set '{}' must look like section.key=value", assignment);
  }
  std::string path(assignment.substr(0, eq));
  std::string value(assignment.substr(eq + 1));
  // Parse the value as TOML; a bare word (e.g. dfedsam) is taken as a string.
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  toml::table* t = &root;
  std::size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error::config("--set '{}': empty key component", assignment);
    if (dot == std::string::npos) {
      t->insert_or_assign(part, *parsed.get("v"));
      return;
    }
    auto* node = t->get(part);
    if (!node) {
      t->insert(part, toml::table{});
      node = t->get(part);
    }
    if (!node->is_table()) throw Error::config("--set '{}': '{}' is not a table", assignment, part);
    t = node->as_table();
    start = dot + 1;
  }
}

static std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1] ? 1u : 0u)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_name(std::string_view key, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(3, key.size() / 2) + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

ConfigTable::ConfigTable(const toml::table* table, std::string section)
    : table_(table), section_(std::move(section)) {}

bool ConfigTable::present(std::string_view key) const { return table_ && table_->contains(key); }

const toml::node* ConfigTable::lookup(std::string_view key) {
  known_.emplace_back(key);
  return table_ ? table_->get(key) : nullptr;
}

std::string ConfigTable::value_text(std::string_view key) const {
  const toml::node* n = resolved_.get(key);
  if (!n && table_) n = table_->get(key);
  if (!n) return "?";
  std::stringstream ss;
  n->visit([&](auto&& v) { ss << v; });
  return ss.str();
}

void ConfigTable::type_error(std::string_view key, const char* expected) const {
  throw Error::config("[{}] {} must be {} (got {}); fix it in the config or with --set {}.{}=…", section_, key,
                      expected, value_text(key), section_, key);
}

void ConfigTable::get(std::string_view key, bool& field) {
  if (auto* n = lookup(key)) {
    if (!n->is_boolean()) type_error(key, "a boolean (true/false)");
    field = n->as_boolean()->get();
  }
  resolved_.insert_or_assign(key, field);
}

void ConfigTable::get(std::string_view key, int64_t& field) {
  if (auto* n = lookup(key)) {
    if (n->is_integer()) {
      field = n->as_integer()->get();
    } else if (n->is_floating_point() && n->as_floating_point()->get() == static_cast<double>(
                                                                          static_cast<int64_t>(n->as_floating_point()->get()))) {
      field = static_cast<int64_t>(n->as_floating_point()->get());
    } else {
      type_error(key, "an integer");
    }
  }
  resolved_.insert_or_assign(key, field);
}

void ConfigTable::get(std::string_view key, int& field) {
  int64_t v = field;
  get(key, v);
  field = static_cast<int>(v);
}

void ConfigTable::get(std::string_view key, double& field) {
  if (auto* n = lookup(key)) {
    if (n->is_floating_point()) field = n->as_floating_point()->get();
    else if (n->is_integer()) field = static_cast<double>(n->as_integer()->get());
    else type_error(key, "a number");
  }
  resolved_.insert_or_assign(key, field);
}

void ConfigTable::get(std::string_view key, std::string& field) {
  if (auto* n = lookup(key)) {
    if (!n->is_string()) type_error(key, "a string (in quotes)");
    field = n->as_string()->get();
  }
  resolved_.insert_or_assign(key, field);
}

template <class T, class Check, class Read>
static void get_array(const toml::node* n, std::vector<T>& field, Check check, Read read,
                      std::string_view key, const char* expected, auto&& fail) {
  if (!n) return;
  if (!n->is_array()) fail(key, expected);
  std::vector<T> out;
  for (const auto& e : *n->as_array()) {
    if (!check(e)) fail(key, expected);
    out.push_back(read(e));
  }
  field = std::move(out);
}

void ConfigTable::get(std::string_view key, std::vector<double>& field) {
  auto fail = [&](std::string_view k, const char* e) { type_error(k, e); };
  get_array<double>(lookup(key), field, [](const toml::node& e) { return e.is_number(); },
                    [](const toml::node& e) { return e.value<double>().value(); }, key, "an array of numbers", fail);
  toml::array a;
  for (double v : field) a.push_back(v);
  resolved_.insert_or_assign(key, a);
}

void ConfigTable::get(std::string_view key, std::vector<int64_t>& field) {
  auto fail = [&](std::string_view k, const char* e) { type_error(k, e); };
  get_array<int64_t>(lookup(key), field, [](const toml::node& e) { return e.is_integer(); },
                     [](const toml::node& e) { return e.as_integer()->get(); }, key, "an array of integers", fail);
  toml::array a;
  for (int64_t v : field) a.push_back(v);
  resolved_.insert_or_assign(key, a);
}

void ConfigTable::get(std::string_view key, std::vector<std::string>& field) {
  auto fail = [&](std::string_view k, const char* e) { type_error(k, e); };
  get_array<std::string>(lookup(key), field, [](const toml::node& e) { return e.is_string(); },
                         [](const toml::node& e) { return e.as_string()->get(); }, key, "an array of strings", fail);
  toml::array a;
  for (const auto& v : field) a.push_back(v);
  resolved_.insert_or_assign(key, a);
}

void ConfigTable::get_choice(std::string_view key, std::string& field, const std::vector<std::string>& choices) {
  get(key, field);
  if (std::find(choices.begin(), choices.end(), field) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    std::string near = nearest_name(field, choices);
    throw Error::config("[{}] {} = \"{}\" is not one of: {}{}", section_, key, field, list,
                        near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near));
  }
}

void ConfigTable::require(bool ok, std::string_view key, std::string_view what) const {
  if (!ok) {
    throw Error::config("[{}] {} = {}: {} (set {}.{})", section_, key, value_text(key), what, section_, key);
  }
}

ConfigTable ConfigTable::sub(std::string_view key) {
  const toml::node* n = lookup(key);
  if (n && !n->is_table()) type_error(key, "a table");
  return ConfigTable(n ? n->as_table() : nullptr, section_ + "." + std::string(key));
}

void ConfigTable::finish() const {
  if (!table_) return;
  for (const auto& [k, v] : *table_) {
    std::string_view key = k.str();
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::string near = nearest_name(key, known_);
    throw Error::config("[{}] unknown key '{}'{}", section_, key,
                        near.empty() ? " (see docs/config.md for the valid keys)"
                                     : fmt::format(" (did you mean '{}'?)", near));
  }
}

std::string to_toml_string(const toml::table& table) {
  std::stringstream ss;
  ss << table << "\n";
  return ss.str();
}

}  // namespace plexus
