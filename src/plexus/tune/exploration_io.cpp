#include "plexus/tune/exploration_io.h"

#include "plexus/core/error.h"
#include "plexus/core/run_dir.h"
#include "plexus/tune/log_io.h"

namespace plexus::tune {

void save_exploration(const ExplorationLog& e, const std::filesystem::path& path) {
  ColumnFile f;
  f.meta = {{"kind", "exploration_log"}, {"params", e.params}, {"theta0", e.theta0}, {"sd", e.sd},
            {"kpis", e.samples.kpi_names}, {"dim", e.samples.dim}};
  f.columns.push_back({"theta", e.samples.theta});
  f.columns.push_back({"log_q", e.samples.log_q});
  f.columns.push_back({"kpi", e.samples.kpi});
  atomic_write(path, encode_columns(f));
}

ExplorationLog load_exploration(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw Error::io("exploration log {} does not exist (write one with `plexus tune explore --out {}`)", path.string(), path.string());
  const std::string origin = path.string();
  ColumnFile f = decode_columns(read_file(path), origin);
  ExplorationLog e;
  try {
    if (f.meta.value("kind", std::string()) != "exploration_log")
      throw Error::data("{} is not an exploration log (kind '{}')", origin, f.meta.value("kind", std::string("?")));
    e.params = f.meta.at("params").get<std::vector<std::string>>();
    e.theta0 = f.meta.at("theta0").get<std::vector<double>>();
    e.sd = f.meta.at("sd").get<std::vector<double>>();
    e.samples.kpi_names = f.meta.at("kpis").get<std::vector<std::string>>();
    e.samples.dim = f.meta.at("dim").get<int>();
  } catch (const nlohmann::json::exception& ex) {
    throw Error::data("exploration log {} is corrupt: bad meta ({})", origin, ex.what());
  }
  e.samples.theta = f.get<double>("theta", origin);
  e.samples.log_q = f.get<double>("log_q", origin);
  e.samples.kpi = f.get<double>("kpi", origin);
  const auto n = e.samples.log_q.size();
  const auto d = static_cast<std::size_t>(e.samples.dim);
  if (d < 1 || e.params.size() != d || e.theta0.size() != d || e.sd.size() != d || e.samples.theta.size() != n * d ||
      e.samples.kpi.size() != n * e.samples.kpi_names.size() || n == 0)
    throw Error::data("exploration log {} is inconsistent (dimensions or row counts disagree, or it is empty)", origin);
  return e;
}

}  // namespace plexus::tune
