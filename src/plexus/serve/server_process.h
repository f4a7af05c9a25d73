// `plexus serve` as a child process owned by an object (RAII): Fed-BBPT starts its black-box model service
// this way, so the model's parameters live only in the server process and the clients see nothing but the
// HTTP API. The destructor stops the child (SIGTERM, then SIGKILL after 5 s) and reaps it: no zombie, no orphan.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace plexus::serve {

struct ServerProcessOptions {
  std::filesystem::path model;          ///< run directory to serve (--model)
  std::filesystem::path keys;           ///< keys file (--keys)
  std::vector<std::string> extra_args;  ///< more `plexus serve` arguments, e.g. {"--max-batch", "256"}
  std::filesystem::path binary;         ///< the plexus executable; empty = this process's own (/proc/self/exe)
  double startup_timeout_s = 120;       ///< seconds to wait for the `listening on` line
};

class ServerProcess {
 public:
  /// Spawn `<binary> serve --model M --keys K --port 0 <extra_args>` and wait until it prints
  /// `listening on http://<host>:<port>`. The child also gets SIGTERM if the thread that created it exits
  /// (Linux PR_SET_PDEATHSIG): create it on a thread that outlives its use (normally the main thread).
  /// Throws: Error(Io) with the child's last stderr lines if it cannot be spawned, exits before listening, or
  /// does not listen within startup_timeout_s.
  explicit ServerProcess(const ServerProcessOptions& o);
  ~ServerProcess();  ///< stop()
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  /// The service's base URL, e.g. "http://127.0.0.1:41234".
  const std::string& url() const { return url_; }
  /// The child's pid (−1 after stop()).
  pid_t pid() const { return pid_; }

  /// SIGTERM, wait up to 5 s, then SIGKILL; reap the child. Returns its exit status as a shell reports it (the
  /// exit code, or 128 + signal), or −1 if already stopped. Idempotent.
  int stop();

  /// The last `lines` lines the child wrote to stderr (its usage report after stop()).
  std::string stderr_tail(int lines = 20) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string url_;
  pid_t pid_ = -1;
};

}  // namespace plexus::serve
