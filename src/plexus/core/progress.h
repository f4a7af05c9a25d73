// Progress lines for long work: `round 12/200  loss 0.412  acc 0.871  1.4 s/round  eta 4m`.
// On a terminal the line is redrawn in place with a bar; otherwise one line per update (logs stay greppable).
#pragma once

#include <chrono>
#include <string>

namespace plexus {

/// Format seconds as "42s", "4m", "1h05m".
std::string format_duration(double seconds);

class Progress {
 public:
  /// `unit` is "round" or "step"; `total` the last index; `first` the index a resumed run starts from.
  Progress(std::string unit, long total, long first = 1);
  /// Report that index `i` finished; `metrics` is preformatted text ("loss 0.412  acc 0.871").
  void update(long i, const std::string& metrics);
  /// Terminate a live line (newline) on a terminal.
  void finish();
  double elapsed_seconds() const;

 private:
  std::string unit_;
  long total_, first_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace plexus
