#include "plexus/serve/api_client.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (fmt ≥ 11 declares it here only)
#include <httplib.h>

#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/serve/wire.h"

namespace plexus::serve {

struct ApiClient::Impl {
  explicit Impl(const std::string& url) : http(url) {}
  httplib::Client http;
};

ApiClient::ApiClient(const std::string& url, std::string key) : url_(url), key_(std::move(key)) {
  if (url_.rfind("http://", 0) != 0 || url_.size() <= 7)
    throw Error::config("model service URL '{}' must look like http://127.0.0.1:<port>", clip_text(url_, 80));
  while (url_.size() > 7 && url_.back() == '/') url_.pop_back();
  impl_ = std::make_unique<Impl>(url_);
  if (!impl_->http.is_valid()) throw Error::config("model service URL '{}' is not http://host:port", url_);
  impl_->http.set_keep_alive(true);
  impl_->http.set_tcp_nodelay(true);  // without it every call waits ~40 ms for a delayed ACK on loopback
  impl_->http.set_connection_timeout(10);
  impl_->http.set_read_timeout(600);  // a large batch on a large model may take minutes on a CPU
  impl_->http.set_write_timeout(60);
}

ApiClient::~ApiClient() = default;
ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;

RawReply ApiClient::send(const std::string& method, const std::string& path, const std::string& body, bool with_key) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  if (with_key) req.set_header("Authorization", "Bearer " + key_);
  if (!body.empty() || method == "POST") {
    req.body = body;
    req.set_header("Content-Type", "application/json");
  }
  auto res = impl_->http.send(req);
  if (!res)
    throw Error::io("cannot reach the model service at {} ({}); is `plexus serve` running there?", url_,
                    httplib::to_string(res.error()));
  bytes_sent_ += static_cast<int64_t>(body.size());
  bytes_received_ += static_cast<int64_t>(res->body.size());
  calls_ += 1;
  return {res->status, res->body};
}

RawReply ApiClient::checked(const std::string& method, const std::string& path, const std::string& body) {
  RawReply r = send(method, path, body);
  if (r.status == 200) return r;
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  const std::string msg = j.is_object() && j.contains("error") && j["error"].is_string()
                              ? j["error"].get<std::string>()
                              : clip_text(r.body, 200);
  if (r.status == 429) {
    const std::string budget = j.is_object() && j.contains("query_budget") ? j["query_budget"].dump() : "?";
    throw Error::infeasible("query budget of {} calls for this client's key is spent at {}: raise bbpt.query_budget",
                            budget, url_);
  }
  if (r.status >= 500) throw Error::internal("model service {} failed on {} {}: {}", url_, method, path, msg);
  throw Error::data("model service {} refused {} {} (HTTP {}): {}", url_, method, path, r.status, msg);
}

nlohmann::json ApiClient::info() {
  const RawReply r = checked("GET", "/v1/info", "");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) throw Error::data("model service {}: /v1/info answered with something that is not a JSON object", url_);
  return j;
}

Prediction ApiClient::post_predict(const nlohmann::json& body, int64_t batch) {
  const RawReply r = checked("POST", "/v1/predict", body.dump());
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  const std::string what = fmt::format("model service {}: /v1/predict reply", url_);
  if (!j.is_object() || !j.contains("logits") || !j.contains("queries_used"))
    throw Error::data("{} lacks \"logits\" or \"queries_used\"", what);
  Prediction p;
  p.logits = matrix_from_json(j["logits"], torch::kFloat32, what + " \"logits\"");  // [B,K]
  if (p.logits.size(0) != batch)
    throw Error::data("{} has {} rows of logits for {} examples", what, p.logits.size(0), batch);
  if (j.contains("losses")) {
    const auto& l = j["losses"];
    if (!l.is_array() || static_cast<int64_t>(l.size()) != batch)
      throw Error::data("{} has \"losses\" that are not {} numbers", what, batch);
    p.losses = torch::empty({batch}, torch::kFloat64);
    for (int64_t i = 0; i < batch; ++i) {
      if (!l[static_cast<size_t>(i)].is_number()) throw Error::data("{}: \"losses\"[{}] is not a number", what, i);
      p.losses[i] = l[static_cast<size_t>(i)].get<double>();
    }
  }
  if (!j["queries_used"].is_number_integer()) throw Error::data("{}: \"queries_used\" is not an integer", what);
  p.queries_used = j["queries_used"].get<int64_t>();
  if (j.contains("query_budget") && j["query_budget"].is_number_integer()) p.query_budget = j["query_budget"].get<int64_t>();
  return p;
}

Prediction ApiClient::predict(const torch::Tensor& images, const torch::Tensor& labels) {
  nlohmann::json body = images_to_wire(images);  // Error(Data) if not [B,C,H,W] f32 or not finite
  const int64_t B = images.size(0);
  if (labels.defined()) {
    if (labels.dim() != 1 || labels.size(0) != B)
      throw Error::data("labels [{}] do not match the batch of {} images (need [B] int64)", fmt::join(labels.sizes(), ","), B);
    body["labels"] = labels_to_wire(labels);
  }
  return post_predict(body, B);
}

Prediction ApiClient::predict_texts(const std::vector<std::string>& texts, const torch::Tensor& labels) {
  const int64_t B = static_cast<int64_t>(texts.size());
  nlohmann::json body = {{"texts", texts}};
  if (labels.defined()) {
    if (labels.dim() != 1 || labels.size(0) != B)
      throw Error::data("labels [{}] do not match the batch of {} texts (need [B] int64)", fmt::join(labels.sizes(), ","), B);
    body["labels"] = labels_to_wire(labels);
  }
  return post_predict(body, B);
}

}  // namespace plexus::serve
