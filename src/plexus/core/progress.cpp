#include "plexus/core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "plexus/core/log.h"

namespace plexus {

std::string format_duration(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{:.0f}m", s / 60);
  return fmt::format("{}h{:02d}m", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
}

Progress::Progress(std::string unit, long total, long first)
    : unit_(std::move(unit)), total_(total), first_(first), tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(long i, const std::string& metrics) {
  if (log_level() > LogLevel::Info) return;
  long done = i - first_ + 1;
  double el = elapsed_seconds();
  double per = done > 0 ? el / done : 0.0;
  double eta = per * static_cast<double>(total_ - i);
  std::string line = fmt::format("{} {}/{}  {}  {:.2f} s/{}  eta {}", unit_, i, total_, metrics, per, unit_,
                                 format_duration(eta));
  if (tty_) {
    int width = 20, filled = total_ > 0 ? static_cast<int>(width * i / total_) : width;
    std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    // Keep a permanent line per update too, so scrollback shows the curve; the bar redraws in place.
    std::fprintf(stderr, "\r\033[K%s\n%s%ld/%ld", line.c_str(), bar.c_str(), i, total_);
    std::fflush(stderr);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

void Progress::finish() {
  if (tty_ && log_level() <= LogLevel::Info) std::fprintf(stderr, "\r\033[K");
}

}  // namespace plexus
