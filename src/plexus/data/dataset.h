// In-memory labelled image datasets and helpers shared by the loaders and partitioners.
//
// Letters used throughout src/plexus/data: n samples, C classes, N clients, n_i samples of client i,
// images [n, ch, H, W] (ch = channels; Fashion-MNIST ch=1, H=W=28).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace plexus::data {

/// In-memory labelled image dataset.
struct Dataset {
  torch::Tensor x;           // [n, ch, H, W] float32, normalized (Fashion-MNIST: (v/255 - 0.2860)/0.3530)
  torch::Tensor y;           // [n] int64 labels in [0, num_classes)
  int64_t num_classes = 0;   // C
  std::string name;          // "fashion_mnist/train", "synthetic/test", ...
  /// Number of samples n (0 for an empty dataset).
  int64_t size() const;
};

/// The labels of a dataset as a std::vector (for partitioners).
/// Shapes: d.y [n] int64 → n values.
std::vector<int64_t> labels_of(const Dataset& d);

/// Per-class sample counts of `labels`. Shapes: n labels → [C] counts.
/// Throws: Error(Data) if a label is outside [0, num_classes).
std::vector<int64_t> class_counts(const std::vector<int64_t>& labels, int64_t num_classes);

/// Label histogram [N][C] of index lists: hist[i][c] = #{j in idx[i] : y[j] = c}.
/// Shapes: d.y [n], idx N lists of indices into d → [N][C].
/// Throws: Error(Data) if an index is out of range.
std::vector<std::vector<int64_t>> label_histograms(const Dataset& d, const std::vector<std::vector<int64_t>>& idx);

/// The rows `idx` of a dataset (copies). Shapes: [n,…] → [|idx|,…].
Dataset subset(const Dataset& d, const std::vector<int64_t>& idx, const std::string& name);

}  // namespace plexus::data
