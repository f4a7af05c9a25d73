#include "plexus/core/checkpoint.h"

#include <regex>

#include "plexus/core/error.h"

namespace plexus {

namespace fs = std::filesystem;
static constexpr int64_t kMagic = 0x504C5853;  // "PLXS"
static constexpr int64_t kVersion = 1;

void save_checkpoint(const fs::path& path, const Checkpoint& ckpt) {
  fs::path tmp = path;
  tmp += ".tmp";
  try {
    torch::serialize::OutputArchive ar;
    ar.write("__magic", torch::tensor({kMagic, kVersion}, torch::kInt64));
    std::string meta = ckpt.meta.dump();
    ar.write("__meta", torch::from_blob(meta.data(), {static_cast<int64_t>(meta.size())}, torch::kUInt8).clone());
    for (const auto& [name, t] : ckpt.tensors) ar.write(name, t.detach().to(torch::kCPU).contiguous());
    ar.save_to(tmp.string());
  } catch (const c10::Error& e) {
    throw Error::io("cannot write checkpoint '{}': {}", tmp.string(), e.what_without_backtrace());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error::io("cannot rename checkpoint into '{}': {}", path.string(), ec.message());
}

Checkpoint load_checkpoint(const fs::path& path) {
  if (!fs::exists(path)) throw Error::io("checkpoint '{}' does not exist", path.string());
  Checkpoint ck;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path.string());
    torch::Tensor magic;
    if (!ar.try_read("__magic", magic) || magic.numel() != 2 || magic[0].item<int64_t>() != kMagic) {
      throw Error::data("'{}' is not a plexus checkpoint", path.string());
    }
    if (magic[1].item<int64_t>() != kVersion) {
      throw Error::data("checkpoint '{}' has format version {}, this build reads {}", path.string(),
                        magic[1].item<int64_t>(), kVersion);
    }
    torch::Tensor meta;
    ar.read("__meta", meta);
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
  }
  return ck;
}

fs::path latest_checkpoint(const fs::path& dir) {
  fs::path best;
  long best_n = -1;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return best;
  static const std::regex re(R"(round_(\d+)\.pt)");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (std::regex_match(name, m, re)) {
      long n = std::stol(m[1]);
      if (n > best_n) best_n = n, best = e.path();
    }
  }
  return best;
}

}  // namespace plexus
