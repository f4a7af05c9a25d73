// An advisory lock on a run directory, held for the run's lifetime, so two processes never write one run
// (interleaved metrics rows, checkpoints of two different runs). flock(2) locks are released by the
// kernel when the process ends, even on kill -9, so a crashed run never leaves a stale lock behind.
// Local file systems only: flock over NFS is not reliable.
#pragma once

#include <filesystem>
#include <string>

namespace plexus {

/// Exclusive flock(2) on `<dir>/run.lock`. The file holds who took it (pid, host, start time, command) for
/// the message a second process gets; the file stays after the run (the lock itself does not).
class RunLock {
 public:
  RunLock() = default;
  /// Take the lock without waiting. Throws: Error(Config) naming the holder if another process (or another
  /// RunLock in this process) holds it; Error(Io) if the lock file cannot be created.
  explicit RunLock(const std::filesystem::path& dir);
  RunLock(RunLock&& o) noexcept;
  RunLock& operator=(RunLock&& o) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace plexus
