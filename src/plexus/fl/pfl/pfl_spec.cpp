#include "plexus/fl/pfl/pfl_spec.h"

#include "plexus/core/error.h"

namespace plexus::fl {

const std::vector<PflSpec>& pfl_algorithms() {
  static const std::vector<PflSpec> all = {dfedalt_spec(),  dfedsalt_spec(), dfedpgp_spec(),
                                           local_spec(),    fedavg_ft_spec(), fedper_spec(),
                                           fedrep_spec(),   fedbabu_spec(),  pfl_dfedavgm_spec(), ditto_spec()};
  return all;
}

bool is_personalized(const std::string& name) {
  for (const auto& a : pfl_algorithms()) {
    if (a.name == name) return true;
  }
  return false;
}

const PflSpec& find_pfl_algorithm(const std::string& name) {
  for (const auto& a : pfl_algorithms()) {
    if (a.name == name) return a;
  }
  throw Error(ErrorKind::Internal, fmt::format("not a personalized algorithm: {}", name));
}

}  // namespace plexus::fl
