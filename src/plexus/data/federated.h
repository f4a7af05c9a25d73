// The [data] config table and the one call the federated runner makes: load a dataset and split it over
// N clients (training indices plus per-client local test sets). Deterministic in the seed.
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
  std::string dataset = "fashion_mnist";      // "fashion_mnist" (IDX files) | "synthetic" (Gaussian clusters)
  std::string path = "";                      // dir with the 4 Fashion-MNIST IDX files (.gz or plain);
                                              // "" → $PLEXUS_FASHION_MNIST, else /usr/share/datasets/fashion-mnist
  int64_t train_subset = 0;                   // 0 = all training samples; k > 0: a random k of them (seeded;
                                              // fast demos/tests); must be ≤ the training set size
  // --- partition ---
  std::string partition = "dirichlet";        // "iid" | "dirichlet" | "pathological"
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

  /// Read the [data] table (absent keys keep their defaults). Throws: Error(Config) naming the key on a
  /// wrong type, an out-of-range value, an unknown choice or an unknown key.
  static DataOptions parse(plexus::ConfigTable& t);
  /// The declared keys of [data] (core/options.h).
  static const plexus::OptionSchema<DataOptions>& schema();
  /// The synthetic_* keys as SyntheticOptions.
  SyntheticOptions synthetic() const;
};

/// Train and test sets plus per-client index lists.
struct FederatedData {
  Dataset train, test;
  std::vector<std::vector<int64_t>> client_train;  // [N][n_i] indices into train
  std::vector<std::vector<int64_t>> client_test;   // [N][m_i] indices into test (local test sets)
};

/// Load the configured dataset (Fashion-MNIST or synthetic) and apply train_subset. Deterministic in `seed`.
/// Throws: Error(Data) for a missing/corrupt dataset, Error(Config) for bad options.
TrainTest load_train_test(const DataOptions& opts, uint64_t seed);

/// Split `labels` over `clients` clients with the configured partitioner, using Rng(seed, "partition").
/// Shapes: n labels in [0,C) → [N][n_i]. Throws: see partition.h.
ClientIndices partition_labels(const DataOptions& opts, const std::vector<int64_t>& labels, int64_t num_classes,
                               int64_t clients, uint64_t seed);

/// Load the dataset and partition it over `clients` clients. Deterministic in `seed`.
/// Shapes: client_train [N][n_i] into train; client_test [N][m] into test, m = local_test_size or ⌈n_test/N⌉.
/// Throws: Error(Data) missing/corrupt dataset; Error(Config) α ≤ 0, bad keys; Error(Infeasible) N > n,
/// impossible partitions.
FederatedData load_federated(const DataOptions& opts, int64_t clients, uint64_t seed);

}  // namespace plexus::data
