#include "plexus/serve/wire.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (fmt ≥ 11 declares it here only)

#include <bit>
#include <cmath>
#include <cstring>

#include "plexus/core/error.h"

namespace plexus::serve {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for alphabet characters, -1 otherwise.
constexpr std::array<int8_t, 256> decode_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kDecode = decode_table();

// The wire is little-endian; plexus hosts are too (x86-64, aarch64). A big-endian host would need a byte swap here.
static_assert(std::endian::native == std::endian::little, "serve/wire.cpp assumes a little-endian host");

const nlohmann::json& field(const nlohmann::json& request, const char* name) {
  if (!request.is_object()) throw RequestError(400, "the request body must be a JSON object");
  auto it = request.find(name);
  if (it == request.end()) throw RequestError(400, fmt::format("the request has no \"{}\" field", name));
  return *it;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63], out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63], out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63], out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    throw RequestError(400, fmt::format("\"data\" is not base64: its length {} is not a multiple of 4", text.size()));
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      const bool last_group = i + 4 == text.size();
      if (c == '=' && last_group && k >= 2) {
        v[k] = 0, ++pad;
        continue;
      }
      v[k] = kDecode[static_cast<unsigned char>(c)];
      if (v[k] < 0 || pad > 0)
        throw RequestError(400, fmt::format("\"data\" is not base64: bad character at offset {}", i + k));
    }
    const uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out += static_cast<char>((w >> 16) & 255);
    if (pad < 2) out += static_cast<char>((w >> 8) & 255);
    if (pad < 1) out += static_cast<char>(w & 255);
  }
  return out;
}

nlohmann::json images_to_wire(const torch::Tensor& images) {
  if (!images.defined() || images.dim() != 4 || images.scalar_type() != torch::kFloat32)
    throw Error::data("an image batch must be a [B,C,H,W] float32 tensor, got {}",
                      images.defined() ? fmt::format("[{}] {}", fmt::join(images.sizes(), ","), c10::toString(images.scalar_type()))
                                       : std::string("an undefined tensor"));
  auto c = images.detach().to(torch::kCPU).contiguous();
  if (!torch::isfinite(c).all().item<bool>())
    throw Error::data("the image batch holds NaN or Inf values; the service refuses them");
  const std::string_view bytes(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel()) * 4);
  return {{"shape", c.sizes().vec()}, {"dtype", "float32"}, {"data", base64_encode(bytes)}};
}

torch::Tensor images_from_wire(const nlohmann::json& request, const std::array<int64_t, 3>& chw) {
  const auto& shape = field(request, "shape");
  const std::string want = fmt::format("[B,{},{},{}]", chw[0], chw[1], chw[2]);
  if (!shape.is_array() || shape.size() != 4)
    throw RequestError(400, fmt::format("\"shape\" must be [B,C,H,W] = {}, got {}", want, shape.dump().substr(0, 80)));
  std::vector<int64_t> dims;
  for (const auto& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (int64_t{1} << 31))
      throw RequestError(400, fmt::format("\"shape\" must be [B,C,H,W] = {} with positive integers, got {}", want,
                                          shape.dump().substr(0, 80)));
    dims.push_back(d.get<int64_t>());
  }
  if (dims[1] != chw[0] || dims[2] != chw[1] || dims[3] != chw[2])
    throw RequestError(400, fmt::format("\"shape\" {} does not match the served input {}", shape.dump(), want));
  const auto& dtype = field(request, "dtype");
  if (!dtype.is_string() || dtype.get<std::string>() != "float32")
    throw RequestError(400, fmt::format("\"dtype\" must be \"float32\", got {}", dtype.dump().substr(0, 40)));
  const auto& data = field(request, "data");
  if (!data.is_string()) throw RequestError(400, "\"data\" must be a base64 string");
  const int64_t numel = dims[0] * chw[0] * chw[1] * chw[2];
  const auto& text = data.get_ref<const std::string&>();
  // Length check before decoding: 4·numel bytes take exactly ⌈4·numel/3⌉·4 base64 characters.
  const size_t expect_chars = static_cast<size_t>((4 * numel + 2) / 3 * 4);
  if (text.size() != expect_chars)
    throw RequestError(400, fmt::format("\"data\" holds {} base64 characters but shape {} float32 needs {} bytes "
                                        "({} characters)",
                                        text.size(), shape.dump(), 4 * numel, expect_chars));
  const std::string bytes = base64_decode(text);
  if (static_cast<int64_t>(bytes.size()) != 4 * numel)
    throw RequestError(400, fmt::format("\"data\" decodes to {} bytes but shape {} float32 needs {}", bytes.size(),
                                        shape.dump(), 4 * numel));
  auto x = torch::empty(dims, torch::kFloat32);
  std::memcpy(x.data_ptr(), bytes.data(), bytes.size());
  if (!torch::isfinite(x).all().item<bool>()) throw RequestError(400, "\"data\" holds NaN or Inf values");
  return x;
}

nlohmann::json labels_to_wire(const torch::Tensor& labels) {
  auto c = labels.detach().to(torch::kCPU, torch::kInt64).contiguous().view({-1});
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

torch::Tensor labels_from_wire(const nlohmann::json& request, int64_t batch, int64_t classes) {
  if (!request.is_object()) throw RequestError(400, "the request body must be a JSON object");
  auto it = request.find("labels");
  if (it == request.end() || it->is_null()) return {};
  if (!it->is_array() || static_cast<int64_t>(it->size()) != batch)
    throw RequestError(400, fmt::format("\"labels\" must be an array of {} integers (one per example), got {}", batch,
                                        it->is_array() ? fmt::format("{} entries", it->size()) : it->type_name()));
  auto y = torch::empty({batch}, torch::kInt64);
  auto* p = y.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch; ++i) {
    const auto& v = (*it)[static_cast<size_t>(i)];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= classes)
      throw RequestError(400, fmt::format("\"labels\"[{}] = {} must be an integer in [0, {})", i, v.dump().substr(0, 40),
                                          classes));
    p[i] = v.get<int64_t>();
  }
  return y;
}

nlohmann::json matrix_to_json(const torch::Tensor& m) {
  auto c = m.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  PLEXUS_CHECK(c.dim() == 2, "matrix_to_json needs a 2-d tensor, got {} dims", c.dim());
  nlohmann::json rows = nlohmann::json::array();
  const double* p = c.data_ptr<double>();
  for (int64_t i = 0; i < c.size(0); ++i) rows.push_back(std::vector<double>(p + i * c.size(1), p + (i + 1) * c.size(1)));
  return rows;
}

torch::Tensor matrix_from_json(const nlohmann::json& rows, torch::Dtype dtype, const std::string& what) {
  if (!rows.is_array() || rows.empty() || !rows[0].is_array() || rows[0].empty())
    throw Error::data("{}: expected a non-empty array of rows of numbers", what);
  const int64_t b = static_cast<int64_t>(rows.size()), k = static_cast<int64_t>(rows[0].size());
  auto out = torch::empty({b, k}, torch::kFloat64);
  double* p = out.data_ptr<double>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& r = rows[static_cast<size_t>(i)];
    if (!r.is_array() || static_cast<int64_t>(r.size()) != k)
      throw Error::data("{}: row {} does not have {} entries", what, i, k);
    for (int64_t j = 0; j < k; ++j) {
      const auto& v = r[static_cast<size_t>(j)];
      if (!v.is_number()) throw Error::data("{}: entry [{}][{}] is not a number", what, i, j);
      p[i * k + j] = v.get<double>();
    }
  }
  return out.to(dtype);
}

torch::Tensor cross_entropy_per_example(const torch::Tensor& logits, const torch::Tensor& labels) {
  auto lp = torch::log_softmax(logits.to(torch::kFloat64), 1);                  // [B,K]
  return -lp.gather(1, labels.to(torch::kInt64).view({-1, 1})).squeeze(1);       // [B]
}

}  // namespace plexus::serve
