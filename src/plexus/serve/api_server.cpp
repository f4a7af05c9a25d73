#include "plexus/serve/api_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <charconv>
#include <mutex>
#include <thread>

#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/file_io.h"

namespace fs = std::filesystem;

namespace plexus::serve {

namespace {

constexpr const char* kInfoRoute = "/v1/info";
constexpr const char* kPredictRoute = "/v1/predict";

// Keys travel in a header: printable ASCII without spaces.
bool key_ok(const std::string& key) {
  if (key.empty() || key.size() > 256) return false;
  for (unsigned char c : key)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

void check_budgets(const KeyBudgets& budgets, const std::string& where) {
  if (budgets.empty()) throw Error::config("{}: no API key; add at least one under \"keys\"", where);
  for (const auto& [key, budget] : budgets) {
    if (!key_ok(key))
      throw Error::config("{}: key '{}' must be 1-256 printable ASCII characters without spaces", where,
                          clip_text(key, 40));
    if (budget && *budget < 0)
      throw Error::config("{}: key '{}' has budget {} < 0; give an integer >= 0 or null (unlimited)", where, key,
                          *budget);
  }
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message,
                const nlohmann::json& extra = nullptr) {
  nlohmann::json body = {{"error", message}};
  if (extra.is_object()) body.update(extra);
  send_json(res, status, body);
}

const char* status_text(int status) {
  switch (status) {
    case 400: return "malformed HTTP request (a POST needs a Content-Length header and a JSON body)";
    case 401: return "missing or unknown API key";
    case 404: return "no such route; the routes are GET /v1/info and POST /v1/predict";
    case 405: return "method not allowed";
    case 411: return "a Content-Length header is required";
    case 413: return "request body too large";
    case 414: return "request URI too long";
    case 429: return "query budget spent";
    default: return "request failed";
  }
}

}  // namespace

KeyBudgets load_keys(const fs::path& file) {
  const std::string where = fmt::format("keys file '{}'", file.string());
  if (!fs::exists(file)) throw Error::io("{} does not exist; write {{\"keys\": {{\"<key>\": {{\"budget\": 8000}}}}}}", where);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw Error::config("{} is not JSON ({}); write {{\"keys\": {{\"<key>\": {{\"budget\": 8000}}}}}}", where,
                        clip_text(e.what(), 120));
  }
  if (!j.is_object() || !j.contains("keys") || !j["keys"].is_object())
    throw Error::config("{} must be {{\"keys\": {{\"<key>\": {{\"budget\": N or null}}, ...}}}}", where);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "keys") throw Error::config("{}: unknown top-level field \"{}\"; only \"keys\" is read", where, it.key());
  KeyBudgets out;
  for (const auto& [key, v] : j["keys"].items()) {
    if (!v.is_object())
      throw Error::config("{}: keys.\"{}\" must be an object {{\"budget\": N or null}}", where, clip_text(key, 40));
    for (const auto& [field, _] : v.items())
      if (field != "budget")
        throw Error::config("{}: keys.\"{}\" has unknown field \"{}\"; only \"budget\" is read", where, clip_text(key, 40),
                            field);
    if (!v.contains("budget"))
      throw Error::config("{}: keys.\"{}\" has no \"budget\"; give an integer >= 0 or null (unlimited)", where,
                          clip_text(key, 40));
    const auto& b = v["budget"];
    if (b.is_null()) out[key] = std::nullopt;
    else if (b.is_number_integer()) out[key] = b.get<int64_t>();
    else
      throw Error::config("{}: keys.\"{}\".budget = {} must be an integer >= 0 or null (unlimited)", where,
                          clip_text(key, 40), clip_text(b.dump(), 40));
  }
  check_budgets(out, where);
  return out;
}

bool is_loopback_host(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

struct ApiServer::Impl {
  std::shared_ptr<const BlackBox> box;
  ServerLimits limits;
  struct Account {
    std::optional<int64_t> budget;
    int64_t queries = 0, examples = 0;
  };
  mutable std::mutex accounts_mutex;
  std::map<std::string, Account> accounts;

  httplib::Server server;
  std::thread thread;
  int port = 0;

  // The key of a request, or throws RequestError(401).
  const std::string& authorize(const httplib::Request& req) const {
    const std::string h = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (h.empty()) throw RequestError(401, "missing API key: send the header 'Authorization: Bearer <key>'");
    if (h.rfind(prefix, 0) != 0)
      throw RequestError(401, "the Authorization header must be 'Bearer <key>'");
    auto it = accounts.find(h.substr(prefix.size()));  // the key set never changes: no lock needed to find
    if (it == accounts.end()) throw RequestError(401, "unknown API key");
    return it->first;
  }

  void info(const httplib::Request& req, httplib::Response& res) const {
    const std::string& key = authorize(req);
    nlohmann::json j = box->info();
    j["limits"] = {{"max_batch", limits.max_batch}, {"max_body_bytes", limits.max_body_bytes}};
    {
      std::lock_guard<std::mutex> lock(accounts_mutex);
      const auto& a = accounts.at(key);
      j["queries_used"] = a.queries;
      j["query_budget"] = a.budget ? nlohmann::json(*a.budget) : nlohmann::json(nullptr);
      j["queries_left"] = a.budget ? nlohmann::json(std::max<int64_t>(0, *a.budget - a.queries)) : nlohmann::json(nullptr);
    }
    send_json(res, 200, j);
  }

  void predict(const httplib::Request& req, httplib::Response& res) {
    const std::string& key = authorize(req);
    if (static_cast<int64_t>(req.body.size()) > limits.max_body_bytes)
      throw RequestError(413, fmt::format("request body of {} bytes is over the limit of {}", req.body.size(),
                                          limits.max_body_bytes));
    const auto request = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded()) throw RequestError(400, "the request body is not valid JSON");
    const int64_t B = box->batch_size(request);
    if (B > limits.max_batch)
      throw RequestError(413, fmt::format("batch of {} examples is over the limit of {} per call; split it",
                                          B, limits.max_batch));
    const auto labels = labels_from_wire(request, B, box->classes());  // [B] int64 or undefined
    auto spent = [&](const Account& a) { return a.budget && a.queries >= *a.budget; };
    auto refuse = [&](const Account& a) {
      throw RequestError(429, fmt::format("query budget of {} calls for this key is spent", *a.budget),
                         {{"query_budget", *a.budget}, {"queries_used", a.queries}});
    };
    {  // early refusal, so a spent key costs no forward pass
      std::lock_guard<std::mutex> lock(accounts_mutex);
      if (spent(accounts.at(key))) refuse(accounts.at(key));
    }
    const torch::Tensor logits = box->logits(request);  // [B,K] f32; RequestError(400) if malformed
    int64_t used = 0;
    std::optional<int64_t> budget;
    {  // check and count in one critical section: exactly `budget` calls succeed under any concurrency
      std::lock_guard<std::mutex> lock(accounts_mutex);
      auto& a = accounts.at(key);
      if (spent(a)) refuse(a);
      a.queries += 1, a.examples += B;
      used = a.queries, budget = a.budget;
    }
    nlohmann::json j;
    j["logits"] = matrix_to_json(logits);
    if (labels.defined()) {
      auto losses = cross_entropy_per_example(logits, labels).contiguous();  // [B] f64
      j["losses"] = std::vector<double>(losses.data_ptr<double>(), losses.data_ptr<double>() + B);
    }
    j["queries_used"] = used;
    j["query_budget"] = budget ? nlohmann::json(*budget) : nlohmann::json(nullptr);
    send_json(res, 200, j);
  }

  // Runs a route body, turning every exception into a JSON error: the server keeps serving.
  template <class F> static httplib::Server::Handler guarded(F f) {
    return [f](const httplib::Request& req, httplib::Response& res) {
      try {
        f(req, res);
      } catch (const RequestError& e) {
        send_error(res, e.status(), e.what(), e.extra());
      } catch (const std::exception& e) {
        send_error(res, 500, describe_exception(e));
      }
    };
  }
};

ApiServer::ApiServer(std::shared_ptr<const BlackBox> box, KeyBudgets budgets, ServerLimits limits)
    : impl_(std::make_unique<Impl>()) {
  if (!box) throw Error::config("ApiServer: no model to serve");
  check_budgets(budgets, "ApiServer");
  if (limits.max_batch < 1) throw Error::config("--max-batch = {} must be >= 1", limits.max_batch);
  if (limits.max_body_bytes < 1024)
    throw Error::config("--max-body-bytes = {} must be >= 1024", limits.max_body_bytes);
  if (limits.threads < 1) throw Error::config("ApiServer: threads = {} must be >= 1", limits.threads);
  impl_->box = std::move(box);
  impl_->limits = limits;
  for (const auto& [key, budget] : budgets) impl_->accounts[key].budget = budget;

  auto& s = impl_->server;
  Impl* self = impl_.get();
  const size_t threads = static_cast<size_t>(limits.threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(static_cast<size_t>(limits.max_body_bytes));  // httplib answers 413 before reading
  s.set_keep_alive_max_count(1000);  // a Fed-BBPT client makes thousands of calls on one connection
  s.set_tcp_nodelay(true);           // small replies must not wait for the peer's delayed ACK (~40 ms per call)
  // An idle keep-alive connection holds a worker until this timeout, and stop() waits for the workers: 1 s keeps
  // shutdown quick; a client idle for longer simply reconnects (cheap on loopback).
  s.set_keep_alive_timeout(1);
  s.set_read_timeout(60);            // seconds to receive a request (64 MiB on loopback takes far less)
  // A body over the limit is refused from its headers, before any of it is read. httplib 0.11 would instead
  // read and discard Content-Length bytes (skip_content_with_length), so a request that declares a huge body and
  // sends none held a worker, and left its client waiting, for the whole read timeout before the 413. A chunked
  // body has no length to check (httplib 0.11 reads it whatever its size), so it is refused too. The unread body
  // makes the connection unusable: the reply says `Connection: close` (httplib's client then reconnects), and
  // the server closes the connection once it idles for the keep-alive timeout.
  const int64_t body_limit = limits.max_body_bytes;
  s.set_pre_routing_handler([body_limit](const httplib::Request& req, httplib::Response& res) {
    const auto refuse = [&](int status, const std::string& msg) {
      res.set_header("Connection", "close");
      send_error(res, status, msg);
      return httplib::Server::HandlerResponse::Handled;
    };
    if (req.has_header("Transfer-Encoding"))
      return refuse(411, "chunked or encoded bodies are not accepted; send the body with a Content-Length header");
    if (!req.has_header("Content-Length")) return httplib::Server::HandlerResponse::Unhandled;
    const std::string len = req.get_header_value("Content-Length");
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (len.empty() || ec == std::errc::invalid_argument || end != len.data() + len.size())
      return refuse(400, fmt::format("Content-Length '{}' is not a byte count", clip_text(len, 40)));
    if (ec == std::errc::result_out_of_range || n > static_cast<uint64_t>(body_limit))
      return refuse(413, fmt::format("request body of {} bytes (Content-Length) is over the limit of {} bytes "
                                     "(--max-body-bytes)", clip_text(len, 40), body_limit));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto not_allowed = [](const char* allow) {
    return Impl::guarded([allow](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allow);
      send_error(res, 405, fmt::format("{} {} is not allowed; use {} {}", req.method, req.path, allow, req.path));
    });
  };
  s.Get(kInfoRoute, Impl::guarded([self](const httplib::Request& q, httplib::Response& r) { self->info(q, r); }));
  s.Post(kPredictRoute, Impl::guarded([self](const httplib::Request& q, httplib::Response& r) { self->predict(q, r); }));
  s.Post(kInfoRoute, not_allowed("GET"));
  s.Get(kPredictRoute, not_allowed("POST"));
  for (const char* route : {kInfoRoute, kPredictRoute}) {
    const char* allow = route == std::string(kInfoRoute) ? "GET" : "POST";
    s.Put(route, not_allowed(allow));
    s.Patch(route, not_allowed(allow));
    s.Delete(route, not_allowed(allow));
    s.Options(route, not_allowed(allow));
  }
  // Statuses set by httplib itself (404 no route, 413 body over the limit, 400 unparsable request) get a JSON
  // body; errors our routes already answered keep theirs.
  const int64_t max_body = limits.max_body_bytes;
  s.set_error_handler(httplib::Server::HandlerWithResponse([max_body](const httplib::Request& req,
                                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string msg = status_text(res.status);
    if (res.status == 404) msg = fmt::format("{} {}: {}", req.method, clip_text(req.path, 80), msg);
    if (res.status == 413) msg = fmt::format("request body over the limit of {} bytes (--max-body-bytes)", max_body);
    send_error(res, res.status, msg);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal: unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = describe_exception(e);
    } catch (...) {
    }
    send_error(res, 500, msg);
  });
}

ApiServer::~ApiServer() { stop(); }

int ApiServer::start(const std::string& host, int port) {
  if (!is_loopback_host(host))
    throw Error::config("--host {}: the model service binds loopback addresses only (127.0.0.1, localhost, ::1)",
                        clip_text(host, 60));
  if (impl_->thread.joinable()) throw Error::config("ApiServer::start: the server already runs on port {}", impl_->port);
  if (port < 0 || port > 65535) throw Error::config("--port {} must be in 0..65535 (0 = any free port)", port);
  auto& s = impl_->server;
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which lets a second server bind a port already
  // in use, and the two would then split the requests and each keep its own budgets.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (port == 0) {
    port = s.bind_to_any_port(host);
    if (port < 0) throw Error::io("cannot bind {} to a free port", host);
  } else if (!s.bind_to_port(host, port)) {
    throw Error::io("cannot bind {}:{} (in use?); choose another --port or 0 for any free port", host, port);
  }
  impl_->port = port;
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  // Return once the accept loop runs: a stop() before that would not reach it and join() would hang.
  while (!s.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port;
}

void ApiServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

int ApiServer::port() const { return impl_->port; }

std::map<std::string, KeyUsage> ApiServer::usage() const {
  std::lock_guard<std::mutex> lock(impl_->accounts_mutex);
  std::map<std::string, KeyUsage> out;
  for (const auto& [key, a] : impl_->accounts) out[key] = {a.queries, a.examples, a.budget};
  return out;
}

}  // namespace plexus::serve
