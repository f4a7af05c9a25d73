#include "plexus/data/federated.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::data {

DataOptions DataOptions::parse(plexus::ConfigTable& t) {
  DataOptions o;
  t.get_choice("dataset", o.dataset, {"fashion_mnist", "synthetic"});
  t.get("path", o.path);
  t.get("train_subset", o.train_subset);
  t.get_choice("partition", o.partition, {"iid", "dirichlet", "pathological"});
  t.get("dirichlet_alpha", o.dirichlet_alpha);
  t.get_choice("dirichlet_form", o.dirichlet_form, {"per_client", "per_class"});
  t.get("min_client_samples", o.min_client_samples);
  t.get("classes_per_client", o.classes_per_client);
  t.get("local_test_size", o.local_test_size);
  t.get("synthetic_train", o.synthetic_train);
  t.get("synthetic_test", o.synthetic_test);
  t.get("synthetic_classes", o.synthetic_classes);
  t.get("synthetic_dim", o.synthetic_dim);
  t.get("synthetic_noise", o.synthetic_noise);
  t.require(o.train_subset >= 0, "train_subset", "must be >= 0 (0 = all samples)");
  t.require(o.dirichlet_alpha > 0 && std::isfinite(o.dirichlet_alpha), "dirichlet_alpha",
            "must be a finite number > 0 (e.g. 0.1 strong skew, 100 near IID)");
  t.require(o.min_client_samples >= 1, "min_client_samples", "must be >= 1");
  t.require(o.classes_per_client >= 1, "classes_per_client", "must be >= 1");
  t.require(o.local_test_size >= 0, "local_test_size", "must be >= 0 (0 = ceil(n_test / clients))");
  t.require(o.synthetic_train >= 1, "synthetic_train", "must be >= 1");
  t.require(o.synthetic_test >= 1, "synthetic_test", "must be >= 1");
  t.require(o.synthetic_classes >= 2, "synthetic_classes", "must be >= 2");
  t.require(o.synthetic_dim >= 1 && o.synthetic_dim <= 1024, "synthetic_dim", "must be in [1, 1024]");
  t.require(o.synthetic_noise >= 0 && std::isfinite(o.synthetic_noise), "synthetic_noise", "must be >= 0");
  t.finish();
  return o;
}

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
  const int64_t m = opts.local_test_size > 0 ? opts.local_test_size : (n_test + clients - 1) / clients;
  fd.client_test = local_test_sets(labels_of(fd.test), fd.test.num_classes, hist, m, seed);
  return fd;
}

}  // namespace plexus::data
