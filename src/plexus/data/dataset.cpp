#include "plexus/data/dataset.h"

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
  return out;
}

}  // namespace plexus::data
