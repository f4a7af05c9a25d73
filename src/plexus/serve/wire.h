// The wire format of the black-box model service (docs/serve.md): image batches travel as base64 of
// little-endian float32 in row-major order inside a JSON object, labels and logits as JSON numbers. The server
// (api_server) and the client (api_client) share these helpers, so the two ends cannot disagree on the format.
//
// Letters (fixed for serve/): B batch, C channels, H×W image size, K classes.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::serve {

/// A request the service refuses: `status` is the HTTP status to answer (400, 401, 404, 405, 413, 429) and
/// what() the one-line message sent back as {"error": "..."}. Thrown by the validation helpers and boxes;
/// the server catches it and keeps serving.
class RequestError : public std::runtime_error {
 public:
  /// `extra`: more fields for the error body (an object, or null for none), e.g. {"query_budget": 100}.
  RequestError(int status, std::string message, nlohmann::json extra = nullptr)
      : std::runtime_error(std::move(message)), status_(status), extra_(std::move(extra)) {}
  int status() const { return status_; }
  const nlohmann::json& extra() const { return extra_; }

 private:
  int status_;
  nlohmann::json extra_;
};

/// Standard base64 (RFC 4648 §4, with '=' padding) of `bytes`.
std::string base64_encode(std::string_view bytes);

/// Bytes of standard base64 `text` (padding required, no whitespace).
/// Throws: RequestError(400) on a character outside the alphabet or a length that is not a multiple of 4.
std::string base64_decode(std::string_view text);

/// An image batch as the request body's tensor fields: {"shape":[B,C,H,W], "dtype":"float32",
/// "data":"<base64 of little-endian f32, row-major>"}.
/// Shapes: images [B,C,H,W] f32 (any device; copied to the CPU) → JSON.
/// Throws: Error(Data) if `images` is not 4-d float32 or holds NaN/Inf (the server would refuse it).
nlohmann::json images_to_wire(const torch::Tensor& images);

/// The image batch of a request, checked against the served input shape.
/// Shapes: request {"shape":[B,C,H,W], ...} → [B,C,H,W] f32 CPU with [C,H,W] = `chw` and B ≥ 1.
/// Throws: RequestError(400) on a missing or mistyped field, a shape of another rank or [C,H,W], a dtype other
/// than "float32", bad base64, a byte length ≠ 4·B·C·H·W, or a NaN/Inf value.
torch::Tensor images_from_wire(const nlohmann::json& request, const std::array<int64_t, 3>& chw);

/// Labels as a JSON array of integers. Shapes: labels [B] integer (any device) → JSON.
nlohmann::json labels_to_wire(const torch::Tensor& labels);

/// The optional "labels" field of a request. Shapes: → [B] int64 CPU, or an undefined tensor when absent.
/// Throws: RequestError(400) if it is not an array of B integers in [0, classes).
torch::Tensor labels_from_wire(const nlohmann::json& request, int64_t batch, int64_t classes);

/// A [B,K] matrix as JSON rows of numbers (f64 text, so f32 values round-trip exactly).
nlohmann::json matrix_to_json(const torch::Tensor& m);

/// JSON rows of numbers back to a tensor. Shapes: → [B,K] of `dtype`.
/// Throws: Error(Data) naming `what` if the rows are ragged, empty, or hold non-numbers.
torch::Tensor matrix_from_json(const nlohmann::json& rows, torch::Dtype dtype, const std::string& what);

/// Per-example cross-entropy −log softmax(logits)_y in nats, computed in f64.
/// Shapes: logits [B,K] f32, labels [B] int64 → [B] f64.
torch::Tensor cross_entropy_per_example(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace plexus::serve
