#include "plexus/exp/grid.h"

#include <algorithm>
#include <set>

#include "plexus/core/config.h"  // clip_text
#include "plexus/core/error.h"

namespace plexus::exp {

namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::string last_component(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// A value as it appears in a directory name: quotes dropped, anything but [A-Za-z0-9._+-] → '_'.
std::string name_part(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '"' || c == '\'') continue;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '+' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

}  // namespace

std::vector<std::string> split_top_level(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(trim(cur));
  return out;
}

GridAxis parse_grid_axis(std::string_view spec) {
  auto eq = spec.find('=');
  if (eq == std::string_view::npos) {
    throw Error::config("--grid '{}' must look like section.key=value1,value2 (e.g. fl.rho=0.01,0.05)", spec);
  }
  GridAxis a{trim(spec.substr(0, eq)), split_top_level(spec.substr(eq + 1))};
  if (a.key.empty()) throw Error::config("--grid '{}': the key before '=' is empty", spec);
  if (a.key == "run.seed") throw Error::config("--grid run.seed=...: give seeds with --seeds (e.g. --seeds 0-4)");
  for (const char* own : {"run.name", "run.out_dir", "run.root"}) {
    if (a.key == own) throw Error::config("--grid {}: the sweep sets {} for each cell itself; remove this axis", own, own);
  }
  std::set<std::string> seen;
  for (const auto& v : a.values) {
    if (v.empty()) throw Error::config("--grid '{}': empty value (check for a stray comma)", spec);
    if (!seen.insert(v).second) throw Error::config("--grid '{}': value '{}' is listed twice", spec, v);
  }
  return a;
}

std::vector<int64_t> parse_seeds(std::string_view spec) {
  constexpr int64_t kMaxSeeds = 10000;
  std::vector<int64_t> seeds;
  auto number = [&](const std::string& s) -> int64_t {
    std::size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (s.empty() || used != s.size()) {
      throw Error::config("--seeds '{}': '{}' is not a whole number (use e.g. 0-4 or 0,2,5)", spec, s);
    }
    if (v < 0) throw Error::config("--seeds '{}': seed {} must be >= 0", spec, v);
    return v;
  };
  for (const auto& part : split_top_level(spec)) {
    auto dash = part.find('-', 1);  // position 0 would be a minus sign
    if (dash == std::string::npos) {
      seeds.push_back(number(part));
      continue;
    }
    int64_t lo = number(trim(part.substr(0, dash))), hi = number(trim(part.substr(dash + 1)));
    if (hi < lo) throw Error::config("--seeds '{}': range {} runs backwards (write {}-{})", spec, part, hi, lo);
    // Each seed is a run directory: a typo like 0-99999999 must fail at once, not fill memory expanding it.
    if (hi - lo >= kMaxSeeds || static_cast<int64_t>(seeds.size()) + (hi - lo + 1) > kMaxSeeds) {
      throw Error::config("--seeds '{}': more than {} seeds (each is a run); give a shorter range", clip_text(spec), kMaxSeeds);
    }
    for (int64_t s = lo; s <= hi; ++s) seeds.push_back(s);
  }
  if (static_cast<int64_t>(seeds.size()) > kMaxSeeds) {
    throw Error::config("--seeds '{}': more than {} seeds (each is a run); give fewer", clip_text(spec), kMaxSeeds);
  }
  std::set<int64_t> seen;
  for (auto s : seeds) {
    if (!seen.insert(s).second) throw Error::config("--seeds '{}': seed {} is listed twice", spec, s);
  }
  return seeds;
}

std::vector<Cell> expand_grid(const std::vector<GridAxis>& axes, const std::vector<int64_t>& seeds) {
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (axes[i].key == axes[j].key) throw Error::config("--grid {} is given twice; list all its values in one --grid", axes[i].key);
    }
  }
  for (const auto& a : axes) {
    std::string shortk = last_component(a.key);
    int same = 0;
    for (const auto& b : axes) same += last_component(b.key) == shortk;
    labels.push_back(same > 1 ? a.key : shortk);
  }
  // Mixed-radix counter over the axes, the last axis fastest.
  std::vector<Cell> cells;
  std::vector<std::optional<int64_t>> seed_list;
  if (seeds.empty()) seed_list.push_back(std::nullopt);
  for (auto s : seeds) seed_list.push_back(s);
  std::size_t combos = 1;
  for (const auto& a : axes) combos *= a.values.size();
  for (const auto& seed : seed_list) {
    for (std::size_t c = 0; c < combos; ++c) {
      Cell cell;
      cell.seed = seed;
      std::size_t rest = c;
      std::vector<std::size_t> idx(axes.size());
      for (std::size_t k = axes.size(); k-- > 0;) idx[k] = rest % axes[k].values.size(), rest /= axes[k].values.size();
      for (std::size_t k = 0; k < axes.size(); ++k) {
        const auto& v = axes[k].values[idx[k]];
        cell.assign.emplace_back(axes[k].key, v);
        cell.name += (cell.name.empty() ? "" : ",") + labels[k] + "=" + name_part(v);
      }
      if (seed) cell.name += (cell.name.empty() ? "" : ",") + std::string("seed=") + std::to_string(*seed);
      if (cell.name.empty()) cell.name = "run";
      cells.push_back(std::move(cell));
    }
  }
  std::set<std::string> names;
  for (const auto& c : cells) {
    if (!names.insert(c.name).second) {
      throw Error::config("two sweep cells would share the directory name '{}' (values that differ only in "
                          "punctuation); change one of the --grid values", c.name);
    }
  }
  return cells;
}

}  // namespace plexus::exp
