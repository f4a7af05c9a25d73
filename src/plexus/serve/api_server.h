// The black-box model service: an HTTP server on a loopback address with two routes, GET /v1/info and
// POST /v1/predict (docs/serve.md). Every call needs `Authorization: Bearer <key>`; each key has a query
// budget (calls to /v1/predict) counted exactly under concurrent requests. Nothing but the box's info and the
// logits (and losses) of the caller's own inputs ever leaves the server: no parameters, gradients or
// activations. Errors are 4xx/5xx with a JSON body {"error": "<one line>"}, and the server keeps serving.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "plexus/serve/black_box.h"

namespace plexus::serve {

/// API key → query budget (calls to /v1/predict); nullopt = unlimited (e.g. the evaluation key).
using KeyBudgets = std::map<std::string, std::optional<int64_t>>;

/// Read a keys file {"keys": {"<key>": {"budget": 8000}, "<eval key>": {"budget": null}}}.
/// Throws: Error(Io) if it cannot be read; Error(Config) naming the file and the fix if it is not such an
/// object, holds no key, a key is empty or has whitespace/control characters, or a budget is not null or an
/// integer >= 0.
KeyBudgets load_keys(const std::filesystem::path& file);

/// True for the loopback hosts the server may bind: "127.0.0.1", "localhost", "::1".
bool is_loopback_host(const std::string& host);

/// Limits on one request.
struct ServerLimits {
  int64_t max_batch = 1024;                 ///< examples per /v1/predict call (more → 413); >= 1
  int64_t max_body_bytes = 64 << 20;        ///< request body bytes (more → 413); >= 1 KiB. Default 64 MiB
  int64_t threads = 32;                     ///< connection-handling threads (concurrent keep-alive clients); >= 1
};

/// Usage of one key since the server was built.
struct KeyUsage {
  int64_t queries = 0;                  ///< accepted /v1/predict calls
  int64_t examples = 0;                 ///< examples in those calls (Σ B)
  std::optional<int64_t> budget;        ///< the key's budget (nullopt = unlimited)
};

class ApiServer {
 public:
  /// Serve `box` to the holders of the keys in `budgets`.
  /// Throws: Error(Config) if `budgets` is empty, a key is malformed, a budget is negative, or a limit is out of
  /// range.
  ApiServer(std::shared_ptr<const BlackBox> box, KeyBudgets budgets, ServerLimits limits = {});
  ~ApiServer();  ///< stops the server
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  /// Bind `host`:`port` (0 = any free port) and serve on a background thread; returns the bound port.
  /// Throws: Error(Config) if `host` is not a loopback host or the server already runs; Error(Io) if the
  /// address cannot be bound (port in use).
  int start(const std::string& host = "127.0.0.1", int port = 0);

  /// Stop serving and join the thread (idempotent; in-flight requests finish first).
  void stop();

  /// The bound port (0 before start()).
  int port() const;

  /// Per-key usage, every key listed (exact: read under the accounting lock).
  std::map<std::string, KeyUsage> usage() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::serve
