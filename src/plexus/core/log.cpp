#include "plexus/core/log.h"

#include <cstdlib>
#include <string_view>

namespace plexus {

static LogLevel initial_level() {
  const char* env = std::getenv("PLEXUS_LOG");
  if (!env) return LogLevel::Info;
  std::string_view v(env);
  if (v == "debug") return LogLevel::Debug;
  if (v == "warn") return LogLevel::Warn;
  if (v == "quiet") return LogLevel::Quiet;
  return LogLevel::Info;
}

static LogLevel g_level = initial_level();

LogLevel log_level() { return g_level; }
void set_log_level(LogLevel level) { g_level = level; }

}  // namespace plexus
