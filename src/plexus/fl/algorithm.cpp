#include "plexus/fl/algorithm.h"

#include <algorithm>

#include "plexus/core/config.h"
#include "plexus/core/error.h"

namespace plexus::fl {

namespace {

// Construct-on-first-use: registrars in other translation units run before main in unspecified order.
std::vector<Algorithm>& registry() {
  static std::vector<Algorithm> all;
  return all;
}

}  // namespace

AlgorithmRegistrar::AlgorithmRegistrar(Algorithm algorithm) {
  auto& all = registry();
  PLEXUS_CHECK(std::none_of(all.begin(), all.end(), [&](const Algorithm& a) { return a.name == algorithm.name; }),
               "algorithm registered twice");
  all.push_back(std::move(algorithm));
  std::stable_sort(all.begin(), all.end(), [](const Algorithm& a, const Algorithm& b) {
    return a.family != b.family ? a.family < b.family : a.name < b.name;
  });
}

const std::vector<Algorithm>& algorithms() { return registry(); }

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const auto& a : algorithms()) names.push_back(a.name);
  return names;
}

std::vector<std::string> algorithm_names(Family family) {
  std::vector<std::string> names;
  for (const auto& a : algorithms()) {
    if (a.family == family) names.push_back(a.name);
  }
  return names;
}

std::string name_list(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return list;
}

const Algorithm& find_algorithm(const std::string& name) {
  for (const auto& a : algorithms()) {
    if (a.name == name) return a;
  }
  std::string near = nearest_name(name, algorithm_names());
  throw Error::config("[fl] algorithm = \"{}\" is not one of: {}{}", name, name_list(algorithm_names()),
                      near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near));
}

bool is_personalized(const std::string& name) {
  for (const auto& a : algorithms()) {
    if (a.name == name) return a.family == Family::Personalized;
  }
  return false;
}

void require_momentum(const FlConfig& cfg) {
  if (cfg.train.momentum <= 0) {
    throw Error::config("[train] momentum = {}: {} needs heavy-ball momentum > 0 (set train.momentum=0.9)",
                        cfg.train.momentum, cfg.fl.algorithm);
  }
}

}  // namespace plexus::fl
