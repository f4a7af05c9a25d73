// Client of the black-box model service (api_server.h, docs/serve.md): sends image batches or texts to
// POST /v1/predict and reads back logits and per-example losses, counting the calls and bytes it spends.
// One ApiClient per thread: its HTTP connection is not shared across threads (its methods are not
// thread-safe); any number of clients may talk to one server at once.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plexus::serve {

/// The answer to one /v1/predict call.
struct Prediction {
  torch::Tensor logits;                 ///< [B,K] f32 CPU
  torch::Tensor losses;                 ///< [B] f64 CPU cross-entropy in nats; undefined without labels
  int64_t queries_used = 0;             ///< this key's accepted calls so far, this one included
  std::optional<int64_t> query_budget;  ///< this key's budget (nullopt = unlimited)
};

/// A raw HTTP exchange (tests and debugging).
struct RawReply {
  int status = 0;    ///< HTTP status
  std::string body;  ///< response body
};

class ApiClient {
 public:
  /// A client of the service at `url` (e.g. "http://127.0.0.1:8080") using API key `key`. Connects lazily.
  /// Throws: Error(Config) if `url` is not http://host:port.
  ApiClient(const std::string& url, std::string key);
  ~ApiClient();
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;

  /// GET /v1/info: the task (input shape, classes, class names or label words), limits and this key's usage.
  /// Throws: as predict().
  nlohmann::json info();

  /// POST /v1/predict with an image batch and optional labels.
  /// Shapes: images [B,C,H,W] f32, labels [B] int64 or undefined → logits [B,K] f32, losses [B] f64.
  /// Units: one call = one query of this key's budget.
  /// Throws: Error(Infeasible) when the key's query budget is spent (429); Error(Data) with the server's
  /// message for other refusals (4xx) or an unreadable reply; Error(Io) naming the URL if the server cannot
  /// be reached; Error(Internal) on a 5xx.
  Prediction predict(const torch::Tensor& images, const torch::Tensor& labels = {});

  /// POST /v1/predict with texts (an LLM served through label words). Shapes: B texts, labels [B] → as predict.
  /// Throws: as predict().
  Prediction predict_texts(const std::vector<std::string>& texts, const torch::Tensor& labels = {});

  /// Send any request (no error mapping; the key header only with `with_key`). Give GET no body: the server
  /// does not read one, and its bytes would spoil this connection's next request. Throws: Error(Io) if the
  /// server cannot be reached.
  RawReply send(const std::string& method, const std::string& path, const std::string& body = "",
                bool with_key = true);

  const std::string& url() const { return url_; }
  int64_t bytes_sent() const { return bytes_sent_; }          ///< request bodies, bytes
  int64_t bytes_received() const { return bytes_received_; }  ///< response bodies, bytes
  int64_t calls() const { return calls_; }                    ///< HTTP requests answered (any status)

 private:
  Prediction post_predict(const nlohmann::json& body, int64_t batch);
  RawReply checked(const std::string& method, const std::string& path, const std::string& body);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string url_, key_;
  int64_t bytes_sent_ = 0, bytes_received_ = 0, calls_ = 0;
};

}  // namespace plexus::serve
