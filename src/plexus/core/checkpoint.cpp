#include "plexus/core/checkpoint.h"

#include "plexus/core/checkpoint_store.h"

#include <cstring>

#include "plexus/core/digest.h"
#include "plexus/core/error.h"
#include "plexus/core/file_io.h"
#include "plexus/core/log.h"

namespace plexus {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMagic = 0x504C5853;  // "PLXS", inside the archive
constexpr char kFileMagic[8] = {'P', 'L', 'X', 'S', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 2;
constexpr std::size_t kHeader = 32;

void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get_u64(const std::string& s, std::size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
uint32_t get_u32(const std::string& s, std::size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// Format 1: a bare LibTorch archive (a zip file, "PK\3\4").
bool is_format1(const std::string& bytes) { return bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0; }

// The payload of a format-2 file, or the reason it is unusable ("" payload + problem).
struct Opened {
  std::string problem;
  std::size_t offset = 0, size = 0;  // payload within the file bytes
  bool legacy = false;
};

Opened open_bytes(const std::string& bytes) {
  Opened o;
  if (is_format1(bytes)) {
    o.legacy = true, o.size = bytes.size();
    return o;
  }
  if (bytes.size() < kHeader) {
    o.problem = bytes.empty() ? "empty file" : fmt::format("truncated: {} bytes, shorter than the header", bytes.size());
    return o;
  }
  if (std::memcmp(bytes.data(), kFileMagic, 8) != 0) {
    o.problem = "not a plexus checkpoint (bad magic number)";
    return o;
  }
  const uint32_t version = get_u32(bytes, 8);
  if (version != kVersion) {
    o.problem = fmt::format("format version {}, this build reads {}", version, kVersion);
    return o;
  }
  const uint64_t size = get_u64(bytes, 16), digest = get_u64(bytes, 24);
  if (bytes.size() - kHeader != size) {
    o.problem = fmt::format("truncated: {} payload bytes, the header says {}", bytes.size() - kHeader, size);
    return o;
  }
  const uint64_t actual = xxh64(bytes.data() + kHeader, size);
  if (actual != digest) {
    o.problem = fmt::format("damaged: digest {} but the header says {}", digest_text(actual), digest_text(digest));
    return o;
  }
  o.offset = kHeader, o.size = size;
  return o;
}

std::string read_bytes(const fs::path& path) {
  if (!fs::exists(path)) throw Error::io("checkpoint '{}' does not exist", path.string());
  return read_file(path);
}

}  // namespace

void save_checkpoint(const fs::path& path, const Checkpoint& ckpt) {
  std::string payload;
  try {
    torch::serialize::OutputArchive ar;
    ar.write("__magic", torch::tensor({kMagic, static_cast<int64_t>(kVersion)}, torch::kInt64));
    std::string meta = ckpt.meta.dump();
    ar.write("__meta", torch::from_blob(meta.data(), {static_cast<int64_t>(meta.size())}, torch::kUInt8).clone());
    for (const auto& [name, t] : ckpt.tensors) ar.write(name, t.detach().to(torch::kCPU).contiguous());
    ar.save_to([&](const void* data, size_t n) -> size_t {
      payload.append(static_cast<const char*>(data), n);
      return n;
    });
  } catch (const c10::Error& e) {
    throw Error::io("cannot serialize checkpoint '{}': {}", path.string(), e.what_without_backtrace());
  }
  std::string file(kFileMagic, 8);
  put_u32(file, kVersion);
  put_u32(file, 0);
  put_u64(file, payload.size());
  put_u64(file, xxh64(payload.data(), payload.size()));
  file += payload;
  payload.clear();
  payload.shrink_to_fit();
  atomic_write(path, file);
}

std::string checkpoint_problem(const fs::path& path) {
  std::string bytes;
  try {
    bytes = read_bytes(path);
  } catch (const Error& e) {
    return e.what();
  }
  return open_bytes(bytes).problem;
}

Checkpoint load_checkpoint(const fs::path& path) {
  const std::string bytes = read_bytes(path);
  const Opened o = open_bytes(bytes);
  if (!o.problem.empty()) {
    throw Error::data("checkpoint '{}' is unusable ({}); delete it to resume from an earlier one", path.string(), o.problem);
  }
  if (o.legacy) log_warn("checkpoint '{}' is in format 1 (no digest): it cannot be verified", path.string());
  Checkpoint ck;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(bytes.data() + o.offset, o.size);
    torch::Tensor magic;
    if (!ar.try_read("__magic", magic) || magic.numel() != 2 || magic[0].item<int64_t>() != kMagic) {
      throw Error::data("'{}' is not a plexus checkpoint", path.string());
    }
    torch::Tensor meta;
    ar.read("__meta", meta);
    meta = meta.contiguous();  // numel() bytes are read from data_ptr(): a strided (e.g. expanded) tensor has fewer
    std::string text(reinterpret_cast<const char*>(meta.data_ptr<uint8_t>()), meta.numel());
    ck.meta = nlohmann::json::parse(text);
    for (const auto& key : ar.keys()) {
      if (key.rfind("__", 0) == 0) continue;
      torch::Tensor t;
      ar.read(key, t);
      ck.tensors[key] = t;
    }
  } catch (const c10::Error& e) {
    throw Error::data("checkpoint '{}' is corrupt or truncated ({}); delete it to resume from an earlier one",
                      path.string(), std::string(e.what_without_backtrace()).substr(0, 120));
  } catch (const nlohmann::json::exception& e) {
    throw Error::data("checkpoint '{}' has corrupt metadata: {}", path.string(), e.what());
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // LibTorch's archive reader throws more than c10::Error: a damaged type string in the archive's pickle ends in
    // torch::jit::ErrorReport from its TorchScript type parser (found by fuzz/checkpoint.cpp).
    throw Error::data("checkpoint '{}' is corrupt or truncated ({}); delete it to resume from an earlier one",
                      path.string(), std::string(e.what()).substr(0, 120));
  }
  return ck;
}

}  // namespace plexus
