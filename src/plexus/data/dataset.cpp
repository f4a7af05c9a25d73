#include "plexus/data/dataset.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "plexus/core/error.h"

namespace plexus::data {

int64_t Dataset::size() const { return y.defined() ? y.size(0) : 0; }

std::vector<int64_t> labels_of(const Dataset& d) {
  if (d.size() == 0) return {};
  auto y = d.y.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* p = y.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + y.numel());
}

std::vector<int64_t> class_counts(const std::vector<int64_t>& labels, int64_t num_classes) {
  std::vector<int64_t> counts(static_cast<size_t>(num_classes), 0);
  for (size_t j = 0; j < labels.size(); ++j) {
    const int64_t c = labels[j];
    if (c < 0 || c >= num_classes) {
      throw Error::data("label {} of sample {} is outside [0, {}); the label file is corrupt or has a "
                        "different number of classes",
                        c, j, num_classes);
    }
    ++counts[static_cast<size_t>(c)];
  }
  return counts;
}

std::vector<std::vector<int64_t>> label_histograms(const Dataset& d, const std::vector<std::vector<int64_t>>& idx) {
  const auto labels = labels_of(d);
  const auto n = static_cast<int64_t>(labels.size());
  std::vector<std::vector<int64_t>> hist(idx.size(), std::vector<int64_t>(static_cast<size_t>(d.num_classes), 0));
  for (size_t i = 0; i < idx.size(); ++i) {
    for (int64_t j : idx[i]) {
      if (j < 0 || j >= n) throw Error::data("index {} of client {} is outside dataset '{}' of size {}", j, i, d.name, n);
      const int64_t c = labels[static_cast<size_t>(j)];
      if (c < 0 || c >= d.num_classes) throw Error::data("label {} outside [0, {}) in '{}'", c, d.num_classes, d.name);
      ++hist[i][static_cast<size_t>(c)];
    }
  }
  return hist;
}

Dataset subset(const Dataset& d, const std::vector<int64_t>& idx, const std::string& name) {
  auto index = torch::tensor(idx, torch::kLong);
  Dataset out;
  out.x = d.x.index_select(0, index);
  out.y = d.y.index_select(0, index);
  out.num_classes = d.num_classes;
  out.name = name;
  out.mean = d.mean;
  out.std = d.std;
  out.augment = d.augment;
  return out;
}

void channel_mean_std(const torch::Tensor& x, std::vector<double>& mean, std::vector<double>& std) {
  PLEXUS_CHECK(x.dim() == 4, "channel_mean_std needs [n,ch,H,W], got {} dims", x.dim());
  const int64_t n = x.size(0), ch = x.size(1);
  mean.assign(static_cast<size_t>(ch), 0.0);
  std.assign(static_cast<size_t>(ch), 0.0);
  if (n == 0) return;
  // Two passes in float64 over chunks of 4096 samples: no float32 round-off, no float64 copy of the whole set.
  const double count = static_cast<double>(n) * static_cast<double>(x.size(2) * x.size(3));
  constexpr int64_t kChunk = 4096;
  auto sum = torch::zeros({ch}, torch::kDouble);
  for (int64_t s = 0; s < n; s += kChunk) {
    sum += x.narrow(0, s, std::min(kChunk, n - s)).to(torch::kCPU, torch::kDouble).sum({0, 2, 3});
  }
  auto mu = sum / count;
  auto sq = torch::zeros({ch}, torch::kDouble);
  for (int64_t s = 0; s < n; s += kChunk) {
    auto c = x.narrow(0, s, std::min(kChunk, n - s)).to(torch::kCPU, torch::kDouble) - mu.view({1, ch, 1, 1});
    sq += c.pow(2).sum({0, 2, 3});
  }
  auto sd = (sq / count).sqrt();
  for (int64_t c = 0; c < ch; ++c) {
    mean[static_cast<size_t>(c)] = mu[c].item<double>();
    std[static_cast<size_t>(c)] = sd[c].item<double>();
  }
}

void normalize_channels(Dataset& d, const std::vector<double>& mean_in, const std::vector<double>& std_in) {
  const int64_t ch = d.x.size(1);
  auto widen = [&](const std::vector<double>& v, const char* key) {
    if (static_cast<int64_t>(v.size()) == ch) return v;
    if (v.size() == 1) return std::vector<double>(static_cast<size_t>(ch), v[0]);
    throw Error::config("[data] {} has {} values but '{}' has {} channels; give {} values (or one for all)", key,
                        v.size(), d.name, ch, ch);
  };
  const auto mean = widen(mean_in, "mean"), std = widen(std_in, "std");
  for (int64_t c = 0; c < ch; ++c) {
    const double s = std[static_cast<size_t>(c)];
    if (!(s > 0) || !std::isfinite(s)) {
      throw Error::config("[data] std of channel {} of '{}' is {}; it must be > 0 (a constant channel cannot be "
                          "normalized: set data.normalize = false or give data.std)",
                          c, d.name, s);
    }
    d.x.select(1, c).sub_(mean[static_cast<size_t>(c)]).div_(s);
  }
  d.mean = mean;
  d.std = std;
}

std::filesystem::path resolve_data_path(const std::string& configured, const char* env, const char* fallback,
                                        std::string* source) {
  if (!configured.empty()) {
    if (source) *source = "from [data] path";
    return configured;
  }
  const char* e = std::getenv(env);
  if (e && *e) {
    if (source) *source = std::string("from $") + env;
    return e;
  }
  if (source) *source = std::string("the default; set [data] path (--path) or $") + env;
  return fallback;
}

std::string shape_text(const torch::Tensor& x) {
  std::string s;
  for (int64_t k = 1; k < x.dim(); ++k) s += (s.empty() ? "" : "x") + std::to_string(x.size(k));
  return s;
}

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path) {
  struct Closer {
    void operator()(FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<FILE, Closer> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error::io("{}: cannot open for reading", path.string());
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error::io("{}: cannot read its size ({})", path.string(), ec.message());
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
    throw Error::io("{}: read failed", path.string());
  }
  return bytes;
}

}  // namespace plexus::data
