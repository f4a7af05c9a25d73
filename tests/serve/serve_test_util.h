// Shared by the serve tests: a tiny in-memory image classifier (an MLP on [1,4,4] inputs with 3 classes) served
// on a free loopback port, and small helpers to build request bodies by hand.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "plexus/nn/models.h"
#include "plexus/serve/api_server.h"
#include "plexus/serve/black_box.h"
#include "plexus/serve/wire.h"

namespace plexus::test {

constexpr std::array<int64_t, 3> kChw = {1, 4, 4};
constexpr int64_t kClasses = 3;

/// The MLP every serve test uses (seeded, so every call builds the same weights).
inline std::shared_ptr<nn::Model> tiny_image_model() {
  torch::manual_seed(7);
  nn::ModelOptions o;
  o.name = "mlp";
  o.hidden = {8};
  return nn::make_model(o, kChw, kClasses);
}

/// A server for tiny_image_model() with keys "eval" (unlimited) and "client" (budget `budget`), started on a free port.
struct TinyService {
  std::shared_ptr<nn::Model> model = tiny_image_model();
  std::shared_ptr<serve::ImageClassifierBox> box = std::make_shared<serve::ImageClassifierBox>(model, kChw, kClasses);
  serve::ApiServer server;
  int port;
  explicit TinyService(std::optional<int64_t> budget = 1000, serve::ServerLimits limits = {})
      : server(box, {{"eval", std::nullopt}, {"client", budget}}, limits), port(server.start("127.0.0.1", 0)) {}
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

/// A valid request body for `x` [B,1,4,4] with optional labels.
inline nlohmann::json image_body(const torch::Tensor& x, const torch::Tensor& y = {}) {
  auto j = serve::images_to_wire(x);
  if (y.defined()) j["labels"] = serve::labels_to_wire(y);
  return j;
}

}  // namespace plexus::test
