#include "plexus/dist/launch.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>

#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/dist/group.h"
#include "plexus/dist/rank_env.h"
#include "plexus/dist/rank_failure.h"

extern char** environ;

namespace plexus::dist {

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  if (!in) throw Error::io("cannot read /proc/self/cmdline to start the ranks");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::string cur;
  for (char c : all) {
    if (c == '\0') args.push_back(cur), cur.clear();
    else cur += c;
  }
  if (!cur.empty()) args.push_back(cur);
  return args;
}

std::vector<std::string> without_option(const std::vector<std::string>& args, const std::string& name) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name) {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind(name + "=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

namespace {

constexpr const char* kLoopback = "127.0.0.1";

// The environment of rank k: ours without any rank variable, plus the rank's.
std::vector<std::string> rank_environment(int k, int ranks, int port) {
  static const char* kDrop[] = {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=",
                                "MASTER_PORT=", "TORCHELASTIC_USE_AGENT_STORE="};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    bool drop = false;
    for (const char* d : kDrop) drop = drop || v.rfind(d, 0) == 0;
    if (!drop) env.emplace_back(v);
  }
  env.push_back(fmt::format("RANK={}", k));
  env.push_back(fmt::format("LOCAL_RANK={}", k));
  env.push_back(fmt::format("WORLD_SIZE={}", ranks));
  env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", ranks));
  env.push_back(fmt::format("MASTER_ADDR={}", kLoopback));
  env.push_back(fmt::format("MASTER_PORT={}", port));
  env.push_back(fmt::format("TORCHELASTIC_USE_AGENT_STORE={}", "True"));
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// The ranks' stderr, relayed line by line to the launcher's (R > 1). A failed run prints one `error:` line
// (rank_failure.h), but the other ranks keep logging until they notice the failure or the launcher stops them; if
// they wrote to the terminal directly, their "[rank k] ..." lines could land after it. Through the relay, the
// first line that starts with "error: " (only a failing rank's end_rank, or this launcher, writes one unprefixed)
// is the last line shown: everything any rank writes after it is dropped.
class StderrRelay {
 public:
  StderrRelay() : state_(std::make_shared<State>()) {}
  ~StderrRelay() { finish(0); }

  /// Start relaying `fd` (a pipe's read end, closed when its writers are gone).
  void add(int fd) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->open;
    threads_.emplace_back([state = state_, fd] { state->pump(fd); });
  }
  /// Print a line of the launcher's own (an `error: ` line ends the output as a rank's does).
  void line(const std::string& text) { state_->emit(text + "\n"); }
  /// Wait until every relayed pipe is closed, at most `seconds` (a process a rank started may hold one open),
  /// then let the threads go (a detached one keeps the shared state alive).
  void finish(double seconds) {
    {
      std::unique_lock<std::mutex> lock(state_->mutex);
      state_->done.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return state_->open == 0; });
    }
    for (auto& t : threads_) {
      if (t.joinable()) t.detach();  // finished (open == 0) or no longer wanted: the process is about to exit
    }
    threads_.clear();
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable done;
    int open = 0;
    bool closed = false;  // an `error: ` line has been printed

    void emit(const std::string& text) {
      std::lock_guard<std::mutex> lock(mutex);
      if (closed) return;
      std::fwrite(text.data(), 1, text.size(), stderr);
      std::fflush(stderr);
      if (text.rfind("error: ", 0) == 0) closed = true;
    }
    void pump(int fd) {
      std::string pending;
      char buf[4096];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(buf, static_cast<std::size_t>(n));
        for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
          emit(pending.substr(0, nl + 1));
          pending.erase(0, nl + 1);
        }
      }
      if (!pending.empty()) emit(pending);
      ::close(fd);
      std::lock_guard<std::mutex> lock(mutex);
      --open;
      done.notify_all();
    }
  };
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace

int launch_local(int ranks, const std::vector<std::string>& argv) {
  if (ranks < 1) throw Error::config("--ranks {} must be >= 1", ranks);
  if (rank_env().distributed())
    throw Error::config("--ranks starts its own ranks; under torchrun, mpirun or srun leave it out");
  // The store lives in this process for the whole run (a daemon thread answers the ranks).
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    c10d::TCPStoreOptions o;
    o.port = 0;  // any free port
    o.isServer = true;
    o.waitWorkers = false;
    o.numWorkers = static_cast<std::size_t>(ranks);
    store = c10::make_intrusive<c10d::TCPStore>(kLoopback, o);
  } catch (const std::exception& e) {
    throw Error::io("dist: cannot start the rendezvous store on 127.0.0.1: {}", describe_exception(e));
  }
  const int port = store->getPort();
  log_info("dist: starting {} ranks on 127.0.0.1 (store port {})", ranks, port);

  std::vector<pid_t> pids(static_cast<std::size_t>(ranks), -1);
  std::vector<std::string> args = argv;
  auto c_args = c_strings(args);
  const pid_t parent = ::getpid();
  StderrRelay relay;  // R > 1: the ranks' stderr through pipes, nothing after the run's error line
  for (int k = 0; k < ranks; ++k) {
    auto env = rank_environment(k, ranks, port);
    auto c_env = c_strings(env);  // built before fork: the child only calls execve
    int err[2] = {-1, -1};
    if (ranks > 1 && ::pipe2(err, O_CLOEXEC) != 0) err[0] = err[1] = -1;  // no pipe: the rank writes directly
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t p : pids) if (p > 0) ::kill(p, SIGTERM);
      for (int fd : err) if (fd >= 0) ::close(fd);
      throw Error::io("dist: cannot start rank {}: {}", k, std::strerror(errno));
    }
    if (pid == 0) {
      // A rank must not outlive its launcher (killed, or stopped by a scheduler): the kernel sends it SIGTERM
      // when the launcher dies; a launcher that died before this call is caught by the parent check.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(143);
      if (err[1] >= 0) ::dup2(err[1], STDERR_FILENO);  // dup2 clears close-on-exec on the copy
      ::execve("/proc/self/exe", c_args.data(), c_env.data());
      ::_exit(127);
    }
    pids[static_cast<std::size_t>(k)] = pid;
    if (err[1] >= 0) {
      ::close(err[1]);
      relay.add(err[0]);
    }
  }

  // A rank that fails prints its own one-line error (rank_failure.h); one whose failure followed another's
  // exits with kFollowerExit and prints nothing. So the launcher stays quiet about failed ranks, stops the
  // others at the first real failure (as torchrun does) and returns its code; only a rank killed by a signal,
  // which printed nothing, is reported here, after claiming the failure so the other ranks stay quiet.
  int result = 0, running = ranks;
  bool followers = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    int k = -1;
    for (int i = 0; i < ranks; ++i) if (pids[static_cast<std::size_t>(i)] == pid) k = i;
    if (k < 0) continue;
    pids[static_cast<std::size_t>(k)] = -1;
    --running;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kFollowerExit) followers = true;
    const bool ok = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == kFollowerExit);
    if (ok || result != 0) continue;
    result = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (!WIFEXITED(status)) {
      bool first = true;
      try {
        first = store->add(kFailureKey, 1) == 1;
      } catch (const std::exception&) {
      }
      if (first)
        relay.line(fmt::format("error: dist: rank {} was killed by signal {}; stopping the other ranks", k,
                               WTERMSIG(status)));
    } else if (result == 127) {
      relay.line(fmt::format("error: dist: rank {} could not start this binary (/proc/self/exe)", k));
    }
    for (pid_t p : pids) if (p > 0) ::kill(p, SIGTERM);
  }
  relay.finish(5.0);  // the ranks' last lines (their pipes close as they exit)
  if (result == 0 && followers) result = kFollowerExit;  // every failure was a follower's: still a failure
  return result;
}

}  // namespace plexus::dist
