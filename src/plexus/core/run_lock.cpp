#include "plexus/core/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "plexus/core/error.h"

namespace plexus {

namespace fs = std::filesystem;

namespace {

// "pid 123 on host, since 2025-01-02T03:04:05Z: plexus fl run --config x.toml"
std::string holder_text() {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : cmd) c = c == '\0' ? ' ' : c;
  while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
  if (cmd.size() > 200) cmd = cmd.substr(0, 200) + "...";
  return fmt::format("pid {} on {}, since {}{}{}", ::getpid(), host, when, cmd.empty() ? "" : ": ", cmd);
}

}  // namespace

RunLock::RunLock(const fs::path& dir) {
  const fs::path path = dir / "run.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error::io("cannot create the run lock '{}': {}", path.string(), std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw Error::io("cannot lock '{}': {}", path.string(), std::strerror(err));
    std::ifstream in(path);
    std::string holder;
    std::getline(in, holder);
    throw Error::config("run directory '{}' is in use by another plexus run ({}); wait for it to finish or choose "
                        "another run.name (--set run.name=...)",
                        dir.string(), holder.empty() ? "holder unknown" : holder);
  }
  // Record the holder (best effort: the lock, not this text, is what excludes others).
  std::string text = holder_text() + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, text.data(), text.size(), 0);
}

RunLock::RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }

RunLock& RunLock::operator=(RunLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace plexus
