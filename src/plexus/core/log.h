// Logging to stderr with a subsystem prefix (`gossip: ...`), in the spirit of llama.cpp's function-name
// prefixes. Metrics never go here; they go to metrics.* in the run directory.
#pragma once

#include <fmt/format.h>

#include <cstdio>

namespace plexus {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Quiet = 3 };

/// Global log threshold (default Info; PLEXUS_LOG=debug|info|warn|quiet overrides at startup).
LogLevel log_level();
void set_log_level(LogLevel level);

template <class... A> void log_at(LogLevel lv, fmt::format_string<A...> f, A&&... a) {
  if (lv < log_level()) return;
  std::string s = fmt::format(f, std::forward<A>(a)...);
  if (lv == LogLevel::Warn) s = "warning: " + s;
  std::fputs((s + "\n").c_str(), stderr);
}
template <class... A> void log_info(fmt::format_string<A...> f, A&&... a) { log_at(LogLevel::Info, f, std::forward<A>(a)...); }
template <class... A> void log_warn(fmt::format_string<A...> f, A&&... a) { log_at(LogLevel::Warn, f, std::forward<A>(a)...); }
template <class... A> void log_debug(fmt::format_string<A...> f, A&&... a) { log_at(LogLevel::Debug, f, std::forward<A>(a)...); }

}  // namespace plexus
