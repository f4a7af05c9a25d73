#include "plexus/dist/rank_env.h"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "plexus/core/error.h"

namespace plexus::dist {

namespace {

int parse_int(const char* name, const char* value) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < 0 || v > (1L << 30))
    throw Error::config("environment {}={} must be a non-negative integer", name, value);
  return static_cast<int>(v);
}

// One launcher's variable names, in the order they are looked for.
struct Names {
  const char* launcher;
  const char* rank;
  const char* world;
  const char* local;
};
constexpr Names kLaunchers[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
    {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
    {"srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
};

}  // namespace

RankEnv rank_env_from(const std::function<const char*(const char*)>& get) {
  RankEnv env;
  for (const Names& n : kLaunchers) {
    const char* r = get(n.rank);
    const char* w = get(n.world);
    if (!r && !w) continue;
    if (!r || !w)
      throw Error::config("environment {} is set but {} is not: set both (a {} launch) or neither (one process)",
                          r ? n.rank : n.world, r ? n.world : n.rank, n.launcher);
    env.rank = parse_int(n.rank, r);
    env.world = parse_int(n.world, w);
    if (env.world < 1 || env.rank >= env.world)
      throw Error::config("environment {}={} must lie in [0, {}={})", n.rank, r, n.world, w);
    if (const char* l = get(n.local)) env.local_rank = parse_int(n.local, l);
    env.launcher = n.launcher;
    break;
  }
  const char* addr = get("MASTER_ADDR");
  const char* port = get("MASTER_PORT");
  if (!env.distributed()) {
    // One rank needs no rendezvous; an address given is kept (a group of one uses it, else hosts its own store).
    if (addr && *addr && port) {
      env.master_addr = addr;
      env.master_port = parse_int("MASTER_PORT", port);
      const char* agent = get("TORCHELASTIC_USE_AGENT_STORE");
      env.agent_store = agent && std::string_view(agent) == "True";
    }
    return env;
  }
  if (!addr || !port || !*addr)
    throw Error::config("a {} launch with {} ranks needs MASTER_ADDR and MASTER_PORT (the rendezvous address of "
                        "rank 0); export them, e.g. MASTER_ADDR=$(hostname) MASTER_PORT=29500",
                        env.launcher, env.world);
  env.master_addr = addr;
  env.master_port = parse_int("MASTER_PORT", port);
  if (env.master_port < 1 || env.master_port > 65535)
    throw Error::config("environment MASTER_PORT={} must be a TCP port in [1, 65535]", port);
  const char* agent = get("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = agent && std::string_view(agent) == "True";
  return env;
}

RankEnv rank_env() {
  return rank_env_from([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

double dist_timeout_seconds() {
  const char* v = std::getenv("PLEXUS_DIST_TIMEOUT");
  if (!v) return 300.0;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(s > 0))
    throw Error::config("environment PLEXUS_DIST_TIMEOUT={} must be a positive number of seconds", v);
  return s;
}

}  // namespace plexus::dist
