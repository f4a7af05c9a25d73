#include "plexus/serve/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "plexus/core/error.h"

namespace fs = std::filesystem;

namespace plexus::serve {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kListening = "listening on ";
constexpr size_t kKeepStderr = 64 * 1024;  // bytes of the child's stderr kept for messages

int shell_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

struct ServerProcess::Impl {
  int out_fd = -1, err_fd = -1;
  mutable std::mutex mutex;
  std::string out, err;  // stdout until the listening line; stderr's last kKeepStderr bytes
  std::thread drain;

  // Read what is available on the open fds, waiting at most `timeout_ms`. Returns false once both are closed.
  bool pump(int timeout_ms) {
    pollfd fds[2];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (n == 0) return false;
    const int r = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
    if (r < 0 && errno != EINTR) return false;
    for (int i = 0; i < n && r > 0; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      const bool is_out = fds[i].fd == out_fd;
      if (got <= 0) {  // EOF (or an error): stop watching this pipe
        ::close(fds[i].fd);
        (is_out ? out_fd : err_fd) = -1;
        continue;
      }
      std::lock_guard<std::mutex> lock(mutex);
      std::string& s = is_out ? out : err;
      s.append(buf, static_cast<size_t>(got));
      if (s.size() > 2 * kKeepStderr) s.erase(0, s.size() - kKeepStderr);
    }
    return out_fd >= 0 || err_fd >= 0;
  }

  // The URL of the first complete `listening on <url>` line on stdout, or "".
  std::string listening_url() {
    std::lock_guard<std::mutex> lock(mutex);
    size_t start = 0;
    for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = out.substr(start, nl - start);
      if (line.rfind(kListening, 0) == 0) return line.substr(std::strlen(kListening));
    }
    return "";
  }

  void close_fds() {
    for (int* fd : {&out_fd, &err_fd})
      if (*fd >= 0) ::close(*fd), *fd = -1;
  }
};

ServerProcess::ServerProcess(const ServerProcessOptions& o) : impl_(std::make_unique<Impl>()) {
  std::error_code ec;
  const fs::path binary = o.binary.empty() ? fs::read_symlink("/proc/self/exe", ec) : o.binary;
  if (binary.empty() || !fs::exists(binary))
    throw Error::io("cannot find the plexus executable to start `plexus serve` ('{}')", binary.string());
  std::vector<std::string> args = {binary.string(), "serve", "--model", o.model.string(),
                                   "--keys", o.keys.string(), "--port", "0"};
  args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error::io("cannot create a pipe for plexus serve: {}", std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]), ::close(out_pipe[1]);
    throw Error::io("cannot create a pipe for plexus serve: {}", std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw Error::io("cannot fork to start plexus serve: {}", std::strerror(errno));
  }
  if (pid == 0) {  // child: async-signal-safe calls only until exec
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execv(argv[0], argv.data());
    const char msg[] = "error: io: cannot execute the plexus binary\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  pid_ = pid;
  ::close(out_pipe[1]), ::close(err_pipe[1]);
  impl_->out_fd = out_pipe[0], impl_->err_fd = err_pipe[0];

  const auto deadline = Clock::now() + std::chrono::duration<double>(o.startup_timeout_s);
  const std::string command = fmt::format("{} serve --model {}", binary.filename().string(), o.model.string());
  while (url_.empty()) {
    const bool open = impl_->pump(100);
    url_ = impl_->listening_url();
    if (!url_.empty()) break;
    int status = 0;
    if (!open || ::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited before listening
      if (open) {  // reaped: collect what is left in the pipes
        while (impl_->pump(50)) {
        }
      } else {
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
      impl_->close_fds();
      throw Error::io("`{}` exited with status {} before listening: {}", command, shell_status(status),
                      stderr_tail(5));
    }
    if (Clock::now() > deadline) {
      stop();
      throw Error::io("`{}` did not print 'listening on' within {} s: {}", command, o.startup_timeout_s,
                      stderr_tail(5));
    }
  }
  // Keep draining both pipes so the child never blocks on a full pipe; ends at the child's exit.
  impl_->drain = std::thread([impl = impl_.get()] {
    while (impl->pump(-1)) {
    }
  });
}

ServerProcess::~ServerProcess() { stop(); }

int ServerProcess::stop() {
  int result = -1;
  if (pid_ > 0) {
    int status = 0;
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    pid_t r = 0;
    while ((r = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (r == 0) {
      ::kill(pid_, SIGKILL);
      r = ::waitpid(pid_, &status, 0);
    }
    result = r == pid_ ? shell_status(status) : -1;
    pid_ = -1;
  }
  if (impl_->drain.joinable()) impl_->drain.join();  // the pipes reach EOF once the child is gone
  impl_->close_fds();
  return result;
}

std::string ServerProcess::stderr_tail(int lines) const {
  std::string s;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    s = impl_->err;
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return "(no output on stderr)";
  size_t pos = s.size();
  for (int k = 0; k < lines && pos != std::string::npos && pos > 0; ++k) pos = s.rfind('\n', pos - 1);
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

}  // namespace plexus::serve
