// Allowed ranges, TOML literals, the generated key tables and docs/config.md's generated blocks. See options.h.
#include "plexus/core/options.h"

#include <fmt/ranges.h>  // fmt::join (not in fmt/format.h on fmt >= 11)

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

namespace plexus {

namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

double parse_bound(std::string_view text, std::string_view spec) {
  std::string t = trim(text);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  PLEXUS_CHECK(!t.empty() && end == t.c_str() + t.size(), "bad bound '{}' in allowed range '{}'", t, spec);
  return v;
}

std::string join_quoted(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + fmt::format("\"{}\"", n);
  return out;
}

}  // namespace

Allowed::Allowed(const char* spec_c) : kind_(Kind::Range), spec_(trim(spec_c)) {
  std::string_view s = spec_;
  PLEXUS_CHECK(!s.empty(), "empty allowed range");
  if (s[0] == '>' || s[0] == '<') {
    bool eq = s.size() > 1 && s[1] == '=';
    double v = parse_bound(s.substr(eq ? 2 : 1), s);
    if (s[0] == '>') has_lo_ = true, lo_ = v, lo_open_ = !eq;
    else has_hi_ = true, hi_ = v, hi_open_ = !eq;
    return;
  }
  PLEXUS_CHECK((s.front() == '[' || s.front() == '(') && (s.back() == ']' || s.back() == ')'),
               "allowed range '{}' must be '> a', '>= a', '< b', '<= b' or an interval like '[a, b)'", s);
  auto comma = s.find(',');
  PLEXUS_CHECK(comma != std::string_view::npos, "interval '{}' needs a comma", s);
  has_lo_ = has_hi_ = true;
  lo_open_ = s.front() == '(';
  hi_open_ = s.back() == ')';
  lo_ = parse_bound(s.substr(1, comma - 1), s);
  hi_ = parse_bound(s.substr(comma + 1, s.size() - comma - 2), s);
  PLEXUS_CHECK(lo_ <= hi_, "interval '{}' is empty", s);
}

Allowed Allowed::choices(std::vector<std::string> names) {
  Allowed a;
  a.kind_ = Kind::Choice;
  a.names_doc_ = join_quoted(names);
  a.names_ = [names = std::move(names)] { return names; };
  return a;
}

Allowed Allowed::choices(std::function<std::vector<std::string>()> names, std::string doc) {
  Allowed a;
  a.kind_ = Kind::Choice;
  a.names_ = std::move(names);
  a.names_doc_ = std::move(doc);
  return a;
}

bool Allowed::contains(double v) const {
  if (kind_ != Kind::Range) return true;
  if (has_lo_ && (lo_open_ ? !(v > lo_) : !(v >= lo_))) return false;
  if (has_hi_ && (hi_open_ ? !(v < hi_) : !(v <= hi_))) return false;
  return true;
}

std::string Allowed::text() const {
  switch (kind_) {
    case Kind::Any: return "";
    case Kind::Range: return spec_;
    case Kind::Choice: return names_doc_;
  }
  return "";
}

std::string Allowed::requirement() const {
  switch (kind_) {
    case Kind::Any: return "";
    case Kind::Range: return (spec_[0] == '>' || spec_[0] == '<') ? "must be " + spec_ : "must be in " + spec_;
    case Kind::Choice: return "must be one of: " + join_quoted(names());
  }
  return "";
}

std::string toml_literal(bool v) { return v ? "true" : "false"; }
std::string toml_literal(int64_t v) { return fmt::format("{}", v); }
std::string toml_literal(int v) { return fmt::format("{}", v); }
std::string toml_literal(uint64_t v) { return fmt::format("{}", v); }

std::string toml_literal(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v);  // shortest round-trip form
  // TOML needs a '.' or an exponent for a float ("1" would read back as an integer).
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string toml_literal(const std::string& v) {
  std::string out = "\"";
  for (unsigned char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04X}", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

template <class V>
static std::string array_literal(const std::vector<V>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_literal(v[i]);
  return out + "]";
}
std::string toml_literal(const std::vector<double>& v) { return array_literal(v); }
std::string toml_literal(const std::vector<int64_t>& v) { return array_literal(v); }
std::string toml_literal(const std::vector<std::string>& v) { return array_literal(v); }

std::string markdown_table(const std::vector<KeyDoc>& keys) {
  std::string out = "| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
  for (const auto& k : keys) {
    std::string allowed = k.allowed;
    // A '|' would end the markdown cell.
    std::replace(allowed.begin(), allowed.end(), '|', '/');
    out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", k.name, k.type, k.default_text,
                       allowed.empty() ? "any" : allowed, k.doc);
  }
  return out;
}

namespace detail {

void check_allowed(ConfigTable& t, std::string_view key, double v, const Allowed& a) {
  if (!std::isfinite(v)) {
    // "must be finite and in (0, 1]" / "must be finite and >= 0".
    t.require(false, key, a.is_range() ? "must be finite and " + a.requirement().substr(std::string("must be ").size())
                                       : "must be finite");
  }
  if (!a.contains(v)) t.require(false, key, a.requirement());
}

void check_allowed(ConfigTable& t, std::string_view key, const std::string& v, const Allowed& a) {
  if (!a.is_choice()) return;
  auto names = a.names();
  if (std::find(names.begin(), names.end(), v) != names.end()) return;
  std::string again = v;
  t.get_choice(key, again, names);  // throws, naming the value as the user wrote it (ConfigTable::value_text)
  std::string near = nearest_name(v, names);
  throw Error::config("[{}] {} = \"{}\" is not one of: {}{} (set {}.{})", t.section(), key, clip_text(v),
                      fmt::format("{}", fmt::join(names, ", ")),
                      near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near), t.section(), key);
}

}  // namespace detail

namespace {

constexpr std::string_view kBegin = "<!-- generated: ";
constexpr std::string_view kEnd = "<!-- end generated -->";

struct Block {
  std::string id;
  std::size_t body_begin, body_end;  // [begin, end) of the text between the markers
};

std::vector<Block> find_blocks(const std::string& doc) {
  std::vector<Block> out;
  std::size_t pos = 0;
  while ((pos = doc.find(kBegin, pos)) != std::string::npos) {
    auto close = doc.find("-->", pos + kBegin.size());
    if (close == std::string::npos) throw Error::config("docs: unterminated marker at offset {}", pos);
    std::string id = trim(std::string_view(doc).substr(pos + kBegin.size(), close - pos - kBegin.size()));
    auto body = doc.find('\n', close);
    body = body == std::string::npos ? doc.size() : body + 1;
    auto end = doc.find(kEnd, body);
    if (end == std::string::npos) throw Error::config("docs: block '{}' has no '{}'", id, kEnd);
    out.push_back({id, body, end});
    pos = end + kEnd.size();
  }
  return out;
}

}  // namespace

std::string fill_generated_blocks(const std::string& doc, const std::vector<SectionDoc>& sections) {
  std::map<std::string, const SectionDoc*> by_id;
  for (const auto& s : sections) by_id[s.id()] = &s;
  std::string out;
  std::size_t last = 0;
  for (const auto& b : find_blocks(doc)) {
    auto it = by_id.find(b.id);
    if (it == by_id.end()) throw Error::config("docs: generated block '{}' names no config section", b.id);
    out += doc.substr(last, b.body_begin - last) + it->second->table;
    last = b.body_end;
  }
  return out + doc.substr(last);
}

std::vector<std::string> check_generated_blocks(const std::string& doc, const std::vector<SectionDoc>& sections) {
  std::vector<std::string> diffs;
  std::map<std::string, std::string> blocks;
  for (const auto& b : find_blocks(doc)) blocks[b.id] = doc.substr(b.body_begin, b.body_end - b.body_begin);
  std::set<std::string> ids;
  for (const auto& s : sections) {
    ids.insert(s.id());
    auto it = blocks.find(s.id());
    if (it == blocks.end()) {
      diffs.push_back(fmt::format("section [{}] of {} has no generated block '{}'", s.section, s.family, s.id()));
    } else if (it->second != s.table) {
      // Name the first row that differs, so the message says what changed.
      std::string want = s.table, have = it->second;
      std::size_t i = 0;
      while (i < want.size() && i < have.size() && want[i] == have[i]) ++i;
      auto line_of = [&](const std::string& t) {
        auto b = t.rfind('\n', i == 0 ? 0 : i - 1);
        b = (b == std::string::npos || i == 0) ? 0 : b + 1;
        auto e = t.find('\n', b);
        return t.substr(b, e == std::string::npos ? std::string::npos : e - b);
      };
      diffs.push_back(fmt::format("block '{}' differs from the declarations: doc has '{}', declarations give '{}'",
                                  s.id(), line_of(have), line_of(want)));
    }
  }
  for (const auto& [id, body] : blocks) {
    if (!ids.count(id)) diffs.push_back(fmt::format("generated block '{}' names no config section", id));
  }
  return diffs;
}

}  // namespace plexus
