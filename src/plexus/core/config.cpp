#include "plexus/core/config.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/ranges.h>  // fmt::join (not in fmt/format.h on fmt >= 11)

#include "plexus/core/options.h"

namespace plexus {

namespace {
// Source path given to the one-line TOML documents that --set values are parsed from; the literal text follows
// it, so a string-typed key can take the text as written (see apply_override).
constexpr std::string_view kSetOrigin = "--set=";
}  // namespace

namespace {

std::string key_text(std::string_view k) {
  bool bare = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return bare ? std::string(k) : toml_literal(std::string(k));
}

std::string value_text_of(const toml::node& n);

std::string inline_table(const toml::table& t) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : t) {
    out += (first ? " " : ", ") + key_text(k.str()) + " = " + value_text_of(v);
    first = false;
  }
  return out + (first ? "}" : " }");
}

std::string value_text_of(const toml::node& n) {
  if (auto v = n.value_exact<double>()) return toml_literal(*v);
  if (auto v = n.value_exact<int64_t>()) return toml_literal(*v);
  if (auto v = n.value_exact<bool>()) return toml_literal(*v);
  if (auto v = n.value_exact<std::string>()) return toml_literal(*v);
  if (auto* a = n.as_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + value_text_of((*a)[i]);
    return out + "]";
  }
  if (auto* t = n.as_table()) return inline_table(*t);
  std::stringstream ss;  // dates and times
  n.visit([&](auto&& v) { ss << v; });
  return ss.str();
}

void write_table(const toml::table& t, const std::string& path, std::string& out) {
  for (const auto& [k, v] : t) {
    if (!v.is_table()) out += key_text(k.str()) + " = " + value_text_of(v) + "\n";
  }
  for (const auto& [k, v] : t) {
    if (!v.is_table()) continue;
    std::string sub = path.empty() ? key_text(k.str()) : path + "." + key_text(k.str());
    if (!out.empty()) out += "\n";
    out += "[" + sub + "]\n";
    write_table(*v.as_table(), sub, out);
  }
}

}  // namespace

std::string clip_text(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  return fmt::format("{}… ({} bytes)", s.substr(0, max), s.size());
}

toml::table load_toml(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error::config("--config '{}' is a directory; pass a TOML file such as configs/quickstart.toml",
                        clip_text(path.string()));
  }
  std::ifstream in(path);
  if (!in) {
    throw Error::io("cannot read config file '{}' (check the path given to --config)", clip_text(path.string()));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto root = parse_toml(ss.str(), path.string());
  if (root.empty()) {
    throw Error::config("config file '{}' is empty (no table or key); an empty config would run every default — "
                        "start from a file in configs/", clip_text(path.string()));
  }
  return root;
}

toml::table parse_toml(std::string_view text, std::string_view origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error::config("{}:{}:{}: TOML syntax error: {}", origin, b.line, b.column, e.description());
  }
}

// Offset of the first byte of `s` that is not well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF), or npos.
static std::size_t invalid_utf8_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b >> 6) != 0x2) return i;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t min = n == 1 ? 0 : n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n;
  }
  return std::string_view::npos;
}

void apply_override(toml::table& root, std::string_view assignment) {
  // TOML text is UTF-8, and toml++ refuses anything else: a value with other bytes would be written into the
  // resolved config.toml as text no TOML reader accepts, and the run could never be resumed (fuzz/config property).
  if (auto at = invalid_utf8_at(assignment); at != std::string_view::npos) {
    throw Error::config("--set '{}…': byte {} is not valid UTF-8; configs are UTF-8 text (a path with other bytes "
                        "cannot be recorded in config.toml: rename or link it)", clip_text(assignment.substr(0, at), 40),
                        at + 1);
  }
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw Error::config("--set '{}' must look like section.key=value", clip_text(assignment));
  }
  std::string path(assignment.substr(0, eq));
  std::string value(assignment.substr(eq + 1));
  if (value.find_first_of("\n\r") != std::string::npos) {
    throw Error::config("--set {}: the value spans several lines; a value is one TOML value on one line",
                        clip_text(path));
  }
  // Parse the value as TOML; a bare word (e.g. dfedsam) is taken as a string. The literal text rides along
  // in the source path, for string-typed keys (ConfigTable::get).
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value, std::string(kSetOrigin) + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  if (parsed.size() != 1) {
    throw Error::config("--set {}: '{}' is more than one value", clip_text(path), clip_text(value));
  }
  toml::table* t = &root;
  std::size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error::config("--set '{}': empty key component", clip_text(assignment));
    if (dot == std::string::npos) {
      // A section is set key by key: a table value (`--set 'fl={rounds=1}'`) or a value over a whole table
      // would replace the section and silently drop the config file's other keys.
      if (parsed.get("v")->is_table() || (t->get(part) && t->get(part)->is_table())) {
        throw Error::config("--set '{}': sets a whole table; set its keys one by one (e.g. --set {}.key=value)",
                            clip_text(assignment), clip_text(path));
      }
      // Moved, not copied: a toml++ copy drops the source region that carries the literal text.
      parsed.get("v")->visit([&](auto&& v) { t->insert_or_assign(part, std::move(v)); });
      return;
    }
    auto* node = t->get(part);
    if (!node) {
      t->insert(part, toml::table{});
      node = t->get(part);
    }
    if (!node->is_table()) throw Error::config("--set '{}': '{}' is not a table", clip_text(assignment), part);
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
  // Up to 2 edits for short names, a third of the name for long ones: "trian" → "train", but "zzz" suggests
  // nothing rather than "run". A suggestion must keep at least one character of what was written: "" (or "x")
  // is 2 edits from "on" but is no misspelling of it, so it suggests nothing and the message's list of valid
  // values speaks alone.
  std::size_t best_d = std::max<std::size_t>(2, key.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(key, c);
    if (d < best_d && d < std::max(key.size(), c.size())) best_d = d, best = c;
  }
  return best;
}

void check_sections(const toml::table& root, const std::vector<std::string>& sections) {
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (std::find(sections.begin(), sections.end(), key) == sections.end()) {
      std::string near = nearest_name(key, sections);
      throw Error::config("unknown table [{}]{}", clip_text(key),
                          near.empty() ? fmt::format(" (valid tables: {})", fmt::join(sections, ", "))
                                       : fmt::format(" (did you mean [{}]?)", near));
    }
    if (!v.is_table()) throw Error::config("'{}' must be a table: write it as [{}] with keys under it", key, key);
  }
}

const toml::table* section_table(const toml::table& root, std::string_view name) {
  const toml::node* n = root.get(name);
  if (n && !n->is_table()) throw Error::config("'{}' must be a table: write it as [{}] with keys under it", name, name);
  return n ? n->as_table() : nullptr;
}

ConfigTable::ConfigTable(const toml::table* table, std::string section)
    : table_(table), section_(std::move(section)) {}

ConfigTable ConfigTable::flags(std::string command) {
  ConfigTable t(nullptr, std::move(command));
  t.flags_ = true;
  return t;
}

static std::string flag_name(std::string_view key) {
  std::string f = "--" + std::string(key);
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

const toml::node* ConfigTable::lookup(std::string_view key) {
  known_.emplace_back(key);
  return table_ ? table_->get(key) : nullptr;
}

std::string ConfigTable::value_text(std::string_view key) const {
  const toml::node* n = resolved_.get(key);
  const toml::node* written = table_ ? table_->get(key) : nullptr;
  // A string key given a bare --set value (`--set bbpt.shift=3`) holds the text "3": show it as written, not "3".
  if (n && n->is_string() && written && !written->is_string()) {
    const auto& origin = written->source().path;
    if (origin && origin->rfind(kSetOrigin, 0) == 0) return clip_text(origin->substr(kSetOrigin.size()));
  }
  if (!n) n = written;
  if (!n) return "?";
  // A long string is clipped inside its quotes, so the quotes stay paired and the byte count is the value's.
  if (auto v = n->value_exact<std::string>(); v && v->size() > 80) return fmt::format("\"{}\"", clip_text(*v));
  return clip_text(value_text_of(*n));
}

void ConfigTable::type_error(std::string_view key, const char* expected) const {
  if (flags_) throw Error::config("{}: {} must be {} (got {})", section_, flag_name(key), expected, value_text(key));
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
    } else if (auto d = n->value_exact<double>();
               d && std::trunc(*d) == *d && *d >= -9.2e18 && *d <= 9.2e18) {  // 1e4 for an integer key
      field = static_cast<int64_t>(*d);
    } else if (d && std::isfinite(*d) && std::trunc(*d) == *d) {
      require(false, key, "must be an integer in [-9.2e18, 9.2e18]");
    } else {
      type_error(key, "an integer");
    }
  }
  resolved_.insert_or_assign(key, field);
}

void ConfigTable::get(std::string_view key, int& field) {
  int64_t v = field;
  get(key, v);
  require(v >= INT_MIN && v <= INT_MAX, key, fmt::format("must fit a 32-bit integer (|value| < {})", INT_MAX));
  field = static_cast<int>(v);
  resolved_.insert_or_assign(key, static_cast<int64_t>(field));
}

void ConfigTable::get(std::string_view key, uint64_t& field) {
  int64_t v = field > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(field);
  get(key, v);
  require(v >= 0, key, "must be >= 0");
  field = static_cast<uint64_t>(v);
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
    const auto& origin = n->source().path;
    if (n->is_string()) {
      field = n->as_string()->get();
    } else if (origin && origin->rfind(kSetOrigin, 0) == 0) {
      field = origin->substr(kSetOrigin.size());  // --set run.name=2024-12-01: the text as written
    } else {
      type_error(key, "a string (in quotes)");
    }
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
    throw Error::config("[{}] {} = {} is not one of: {}{} (set {}.{})", section_, key, value_text(key), list,
                        near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near), section_, key);
  }
}

void ConfigTable::require(bool ok, std::string_view key, std::string_view what) const {
  if (!ok && flags_) throw Error::config("{}: {} = {}: {}", section_, flag_name(key), value_text(key), what);
  if (!ok) {
    throw Error::config("[{}] {} = {}: {} (set {}.{})", section_, key, value_text(key), what, section_, key);
  }
}

void ConfigTable::finish() const {
  if (!table_) return;
  for (const auto& [k, v] : *table_) {
    std::string_view key = k.str();
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::string near = nearest_name(key, known_);
    // The keys this section read are the valid ones: list them (every family, including sections that
    // docs/config.md does not generate).
    throw Error::config("[{}] unknown key '{}'{}", section_, clip_text(key),
                        !near.empty() ? fmt::format(" (did you mean '{}'?)", near)
                        : known_.empty() ? std::string(" (this section takes no keys)")
                                         : fmt::format(" (valid keys: {})", fmt::join(known_, ", ")));
  }
}


std::string to_toml_string(const toml::table& table) {
  std::string out;
  write_table(table, "", out);
  return out;
}

}  // namespace plexus
