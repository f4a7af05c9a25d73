#include "plexus/fl/algorithm.h"

#include "plexus/core/config.h"
#include "plexus/core/error.h"

namespace plexus::fl {

const std::vector<AlgorithmSpec>& algorithms() {
  static const std::vector<AlgorithmSpec> all = {
      fedavg_spec(),    fedsam_spec(),    dpsgd_spec(),          dfedavg_spec(),         dfedavgm_spec(),
      dfedsam_spec(),   dfedsam_mgs_spec(), dp_fedavg_spec(),    dp_fedsam_spec(),       dp_fedsam_topk_spec(),
      fed_smp_randk_spec(), fed_smp_topk_spec()};
  return all;
}

const AlgorithmSpec& find_algorithm(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& a : algorithms()) {
    if (a.name == name) return a;
    names.push_back(a.name);
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  std::string near = nearest_name(name, names);
  throw Error::config("[fl] algorithm = \"{}\" is not one of: {}{}", name, list,
                      near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near));
}

}  // namespace plexus::fl
