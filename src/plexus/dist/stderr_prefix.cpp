#include "plexus/dist/stderr_prefix.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "plexus/core/error.h"

namespace plexus::dist {

namespace {

// The stderr relay: the pipe's reader thread copies lines to the original stderr with the prefix.
struct Relay {
  int original = -1;  // dup of the real stderr
  std::thread reader;

  ~Relay() { stop(); }  // at exit

  // Restore fd 2 (closing the pipe's last writer), then let the reader drain the rest.
  void stop() {
    if (original < 0) return;
    std::fflush(stderr);
    ::dup2(original, STDERR_FILENO);
    if (reader.joinable()) reader.join();
    ::close(original);
    original = -1;
  }
};

Relay& relay() {
  static Relay r;
  return r;
}

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

void end_stderr_prefix() { relay().stop(); }

void prefix_stderr(const std::string& prefix) {
  Relay& r = relay();
  if (r.original >= 0) return;
  int fds[2];
  if (::pipe(fds) != 0) throw Error::io("cannot create the stderr pipe for the rank prefix: {}", std::strerror(errno));
  std::fflush(stderr);
  r.original = ::dup(STDERR_FILENO);
  ::fcntl(r.original, F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::dup2(fds[1], STDERR_FILENO);
  ::close(fds[1]);
  std::setvbuf(stderr, nullptr, _IOLBF, 0);
  r.reader = std::thread([in = fds[0], out = r.original, prefix] {
    std::string pending;
    char buf[4096];
    bool at_line_start = true;
    for (;;) {
      const ssize_t n = ::read(in, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.clear();
      for (ssize_t i = 0; i < n; ++i) {
        // A carriage return (a live progress bar) also starts a new visual line.
        if (at_line_start && buf[i] != '\n' && buf[i] != '\r') pending += prefix, at_line_start = false;
        pending += buf[i];
        if (buf[i] == '\n') at_line_start = true;
      }
      write_all(out, pending);
    }
    ::close(in);
  });
}

}  // namespace plexus::dist
