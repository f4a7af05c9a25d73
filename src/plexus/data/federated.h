// The [data] config table and the one call the federated runner makes: load a dataset and split it over
// N clients (training indices plus per-client local test sets). Deterministic in the seed.
// Sources: Fashion-MNIST, synthetic, CIFAR-10/100, EMNIST, LEAF, image folders, NumPy arrays (docs/data.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plexus/core/options.h"
#include "plexus/data/dataset.h"
#include "plexus/data/fashion_mnist.h"
#include "plexus/data/partition.h"
#include "plexus/data/synthetic.h"

namespace plexus::data {

/// Options of the [data] config table.
struct DataOptions {
  // --- dataset ---
  std::string dataset = "fashion_mnist";      // "fashion_mnist" (IDX) | "synthetic" (Gaussian clusters) |
                                              // "cifar10" | "cifar100" (binary version) | "emnist" (IDX) |
                                              // "leaf" (JSON, one client per user) | "image_folder" | "npz"
  std::string path = "";                      // where the files are (a directory; npz: a file or directory);
                                              // "" → $PLEXUS_<DATASET> (e.g. $PLEXUS_CIFAR10), else the default:
                                              // /usr/share/datasets/fashion-mnist, data/cifar-10-batches-bin,
                                              // data/cifar-100-binary, data/emnist, data/leaf, data/images,
                                              // data/dataset.npz
  std::string cifar100_labels = "fine";       // cifar100: "fine" (100 classes) | "coarse" (20 superclasses)
  std::string emnist_split = "balanced";      // emnist: byclass | bymerge | balanced | letters | digits | mnist
  int64_t image_size = 0;                     // image_folder: resize every image to size×size; 0 = keep (all
                                              // images must then share one size); 0..4096
  int64_t image_channels = 3;                 // image_folder: 3 (RGB, as torchvision) | 1 (grey)
  // --- normalization and augmentation (not applied to "synthetic", which is unit-variance already) ---
  bool normalize = true;                      // x = (v − mean_c)/std_c per channel on the [0,1] scale
  std::vector<double> mean = {};              // per-channel mean (one value = all channels); [] → the data set's:
                                              // published for Fashion-MNIST/CIFAR, else computed on the train split
  std::vector<double> std = {};               // per-channel std, as `mean` (give both or neither), each > 0
  int64_t crop_padding = 0;                   // training only: random crop after padding by p pixels (CIFAR
                                              // recipe: 4); 0 = off; 0..64
  bool horizontal_flip = false;               // training only: flip left-right with probability 1/2
  int64_t train_subset = 0;                   // 0 = all training samples; k > 0: a random k of them (seeded;
                                              // fast demos/tests); must be ≤ the training set size
  // --- partition ---
  std::string partition = "dirichlet";        // "iid" | "dirichlet" | "pathological" | "natural" (one client per
                                              // LEAF user; dataset = "leaf" only)
  double dirichlet_alpha = 0.3;               // α > 0 of Dir(α·1): small = strong label skew, large ≈ IID
  std::string dirichlet_form = "per_client";  // "per_client": reference code (equal sizes ⌊n/N⌋/⌈n/N⌉, a
                                              // class prior per client) | "per_class": shares of each class
                                              // over clients ~ Dir(α·1_N) (NIID-Bench; sizes vary)
  int64_t min_client_samples = 10;            // per_class only: redraw (≤ 100 times) until every client has
                                              // ≥ min(this, ⌊n/N⌋) samples; ≥ 1
  int64_t classes_per_client = 2;             // pathological: distinct classes per client, 1..C
  int64_t local_test_size = 0;                // test samples per client (local test set); 0 → ⌈n_test/N⌉; ≥ 0
  // --- synthetic dataset (dataset = "synthetic"; see synthetic.h) ---
  int64_t synthetic_train = 2000;             // training samples, ≥ 1
  int64_t synthetic_test = 500;               // test samples, ≥ 1
  int64_t synthetic_classes = 10;             // classes C, ≥ 2
  int64_t synthetic_dim = 8;                  // image side: samples are [1, dim, dim], ≥ 1
  double synthetic_noise = 2.0;               // within-class noise σ (class means have unit variance), ≥ 0

  /// Every key of [data], declared once (type, range or choices, one-line doc; core/options.h).
  static const OptionSchema<DataOptions>& schema();
  /// Read the [data] table (absent keys keep their defaults). Throws: Error(Config) naming the key on a
  /// wrong type, an out-of-range value, an unknown choice, an unknown key or keys that do not go together
  /// (mean without std, partition = "natural" without dataset = "leaf", image_channels other than 1 or 3).
  static DataOptions parse(plexus::ConfigTable& t);
  /// The synthetic_* keys as SyntheticOptions.
  SyntheticOptions synthetic() const;
};

/// Train and test sets plus per-client index lists.
struct FederatedData {
  Dataset train, test;
  std::vector<std::vector<int64_t>> client_train;  // [N][n_i] indices into train
  std::vector<std::vector<int64_t>> client_test;   // [N][m_i] indices into test (local test sets)
  std::vector<std::string> client_users;           // [N] LEAF user of each client (natural partition; else empty)
};

/// Load the configured dataset, apply train_subset, normalize both splits with one per-channel mean/std (see
/// DataOptions::mean) and set the training split's augmentation. Deterministic in `seed`.
/// Throws: Error(Data) for a missing/corrupt dataset, Error(Config) for bad options.
TrainTest load_train_test(const DataOptions& opts, uint64_t seed);

/// Split `labels` over `clients` clients with the configured partitioner, using Rng(seed, "partition").
/// Shapes: n labels in [0,C) → [N][n_i]. Throws: see partition.h.
ClientIndices partition_labels(const DataOptions& opts, const std::vector<int64_t>& labels, int64_t num_classes,
                               int64_t clients, uint64_t seed);

/// Load the dataset and partition it over `clients` clients. Deterministic in `seed`.
/// Shapes: client_train [N][n_i] into train; client_test [N][m] into test, m = local_test_size or ⌈n_test/N⌉.
/// partition = "natural" (LEAF only): client i is the i-th of N users drawn from Rng(seed, "natural_users") (all users,
/// in id order, when N equals their number) with its own train and test samples (a user without test samples gets
/// a local test set drawn as above).
/// Throws: Error(Data) missing/corrupt dataset; Error(Config) α ≤ 0, bad keys; Error(Infeasible) N > n,
/// impossible partitions.
FederatedData load_federated(const DataOptions& opts, int64_t clients, uint64_t seed);

}  // namespace plexus::data
