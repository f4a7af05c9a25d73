#include "plexus/data/federated.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::data {

const OptionSchema<DataOptions>& DataOptions::schema() {
  using D = DataOptions;
  static const auto s =
      OptionSchema<D>("data")
          .key("dataset", &D::dataset,
               "`\"fashion_mnist\"` (IDX files) or `\"synthetic\"` (seeded Gaussian clusters, for tests)",
               one_of({"fashion_mnist", "synthetic"}))
          .key("path", &D::path,
               "directory of the IDX files; `\"\"` → `$PLEXUS_FASHION_MNIST`, else `/usr/share/datasets/fashion-mnist`")
          .key("train_subset", &D::train_subset, "use a random k training samples (0 = all)", ">= 0")
          .key("partition", &D::partition, "how training samples are split over clients",
               one_of({"iid", "dirichlet", "pathological"}))
          .key("dirichlet_alpha", &D::dirichlet_alpha, "α of Dir(α·1); small = strong label skew", "> 0")
          .key("dirichlet_form", &D::dirichlet_form,
               "`per_client` (reference code: equal client sizes, per-client class prior) or `per_class` "
               "(per-class proportions over clients)",
               one_of({"per_client", "per_class"}))
          .key("min_client_samples", &D::min_client_samples,
               "per_class only: minimum samples per client (bounded redraws, then a clear error)", ">= 1")
          .key("classes_per_client", &D::classes_per_client, "pathological: classes per client", ">= 1")
          .key("local_test_size", &D::local_test_size,
               "test samples per client, split in proportion to its training label histogram (0 = ⌈n_test/N⌉; "
               "at most the test set's size)",
               "[0, 1000000]")
          .key("synthetic_train", &D::synthetic_train, "synthetic: training samples", "[1, 10000000]")
          .key("synthetic_test", &D::synthetic_test, "synthetic: test samples", "[1, 10000000]")
          .key("synthetic_classes", &D::synthetic_classes, "synthetic: classes C", "[2, 1000]")
          .key("synthetic_dim", &D::synthetic_dim, "synthetic: image side (samples are [1, dim, dim])", "[1, 1024]")
          .key("synthetic_noise", &D::synthetic_noise, "synthetic: within-class noise σ (class means have unit "
               "variance)", ">= 0");
  return s;
}

DataOptions DataOptions::parse(plexus::ConfigTable& t) { return schema().parse(t); }

SyntheticOptions DataOptions::synthetic() const {
  SyntheticOptions s;
  s.train = synthetic_train;
  s.test = synthetic_test;
  s.classes = synthetic_classes;
  s.side = synthetic_dim;
  s.noise = synthetic_noise;
  return s;
}

TrainTest load_train_test(const DataOptions& opts, uint64_t seed) {
  TrainTest tt;
  if (opts.dataset == "fashion_mnist") {
    tt = load_fashion_mnist(opts.path);
  } else if (opts.dataset == "synthetic") {
    tt = make_synthetic(opts.synthetic(), seed);
  } else {
    throw Error::config("[data] dataset = \"{}\" is not one of fashion_mnist, synthetic", opts.dataset);
  }
  if (opts.train_subset < 0) throw Error::config("[data] train_subset = {} must be >= 0", opts.train_subset);
  const int64_t n = tt.train.size();
  if (opts.train_subset > n) {
    throw Error::config("[data] train_subset = {} exceeds the {} training samples of {}; use at most {} (or 0 "
                        "for all)",
                        opts.train_subset, n, tt.train.name, n);
  }
  if (opts.train_subset > 0 && opts.train_subset < n) {
    Rng rng(seed, "train_subset");
    tt.train = subset(tt.train, rng.sample_without_replacement(n, opts.train_subset), tt.train.name);
  }
  return tt;
}

ClientIndices partition_labels(const DataOptions& opts, const std::vector<int64_t>& labels, int64_t num_classes,
                               int64_t clients, uint64_t seed) {
  Rng rng(seed, "partition");
  if (opts.partition == "iid") return partition_iid(static_cast<int64_t>(labels.size()), clients, rng);
  if (opts.partition == "dirichlet") {
    if (opts.dirichlet_form == "per_client") {
      return partition_dirichlet_per_client(labels, num_classes, clients, opts.dirichlet_alpha, rng);
    }
    if (opts.dirichlet_form == "per_class") {
      return partition_dirichlet_per_class(labels, num_classes, clients, opts.dirichlet_alpha,
                                           opts.min_client_samples, rng);
    }
    throw Error::config("[data] dirichlet_form = \"{}\" is not one of per_client, per_class", opts.dirichlet_form);
  }
  if (opts.partition == "pathological") {
    return partition_pathological(labels, num_classes, clients, opts.classes_per_client, rng);
  }
  throw Error::config("[data] partition = \"{}\" is not one of iid, dirichlet, pathological", opts.partition);
}

FederatedData load_federated(const DataOptions& opts, int64_t clients, uint64_t seed) {
  if (clients < 1) throw Error::config("number of clients = {} must be >= 1", clients);
  auto tt = load_train_test(opts, seed);
  FederatedData fd;
  fd.train = std::move(tt.train);
  fd.test = std::move(tt.test);
  fd.client_train = partition_labels(opts, labels_of(fd.train), fd.train.num_classes, clients, seed);
  const auto hist = label_histograms(fd.train, fd.client_train);
  const int64_t n_test = fd.test.size();
  if (opts.local_test_size > n_test) {
    // Draws beyond the test set repeat samples: no information, only time and memory (N × size indices).
    throw Error::config("[data] local_test_size = {} exceeds the test set's {} samples; set data.local_test_size "
                        "to at most {} (0 = ⌈n_test/N⌉)", opts.local_test_size, n_test, n_test);
  }
  const int64_t m = opts.local_test_size > 0 ? opts.local_test_size : (n_test + clients - 1) / clients;
  fd.client_test = local_test_sets(labels_of(fd.test), fd.test.num_classes, hist, m, seed);
  return fd;
}

}  // namespace plexus::data
