// In-memory labelled image datasets and helpers shared by the loaders and partitioners.
//
// Letters used throughout src/plexus/data: n samples, C classes, N clients, n_i samples of client i,
// images [n, ch, H, W] (ch = channels; Fashion-MNIST ch=1, H=W=28; CIFAR ch=3, H=W=32).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plexus/data/augment.h"

namespace plexus::data {

/// In-memory labelled image dataset.
struct Dataset {
  torch::Tensor x;           // [n, ch, H, W] float32, normalized per channel: (v - mean_c)/std_c on the [0,1] scale
  torch::Tensor y;           // [n] int64 labels in [0, num_classes)
  int64_t num_classes = 0;   // C
  std::string name;          // "fashion_mnist/train", "synthetic/test", ...
  std::vector<double> mean;  // per-channel mean subtracted on the [0,1] scale (empty: not recorded)
  std::vector<double> std;   // per-channel std divided by (empty: not recorded)
  AugmentOptions augment;    // training-time augmentation applied where minibatches are drawn (off by default;
                             // set on the training split only, so evaluation never augments)
  /// Number of samples n (0 for an empty dataset).
  int64_t size() const;
};

/// Train and test split of one dataset, plus the natural partition of a federated source (LEAF: one client per
/// writer/speaker). `users` is empty for centralized sources.
struct TrainTest {
  Dataset train, test;
  std::vector<std::string> users;                 // [U] user ids (LEAF), sorted
  std::vector<std::vector<int64_t>> train_users;  // [U][n_u] indices into train of user u
  std::vector<std::vector<int64_t>> test_users;   // [U][m_u] indices into test of user u (may be empty lists)
};

/// Per-channel mean and population standard deviation of images. Shapes: x [n,ch,H,W] → two [ch] lists.
/// Units: those of x. Computed in float64 over chunks (exact enough for 10^8 pixels).
void channel_mean_std(const torch::Tensor& x, std::vector<double>& mean, std::vector<double>& std);

/// Normalize images in place: x[:,c] = (x[:,c] − mean_c)/std_c, and record mean/std in `d`.
/// Shapes: d.x [n,ch,H,W]; mean, std: ch values (or one, broadcast). Throws: Error(Config) if the counts do not
/// match the channels or a std is ≤ 0.
void normalize_channels(Dataset& d, const std::vector<double>& mean, const std::vector<double>& std);

/// Where a data set is read from: `configured` ([data] path / --path) if non-empty, else the environment variable
/// `env` if set and non-empty, else `fallback`. `source` (optional) receives which one, for error messages.
std::filesystem::path resolve_data_path(const std::string& configured, const char* env, const char* fallback,
                                        std::string* source = nullptr);

/// The per-sample shape of images as text, "CxHxW" (for messages). Shapes: x [n,C,H,W].
std::string shape_text(const torch::Tensor& x);

/// The whole content of a (small or large) binary file. Throws: Error(Io) naming the file if it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);

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
