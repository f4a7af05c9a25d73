#include "plexus/data/federated.h"

#include <cmath>

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/rng.h"
#include "plexus/data/cifar.h"
#include "plexus/data/emnist.h"
#include "plexus/data/image_folder.h"
#include "plexus/data/leaf.h"
#include "plexus/data/npz_dataset.h"

namespace plexus::data {

const OptionSchema<DataOptions>& DataOptions::schema() {
  using O = DataOptions;
  static const auto s =
      OptionSchema<O>("data")
          .key("dataset", &O::dataset, "the data set (docs/data.md)",
               one_of({"fashion_mnist", "synthetic", "cifar10", "cifar100", "emnist", "leaf", "image_folder", "npz"}))
          .key("path", &O::path,
               "where its files are; `\"\"` → `$PLEXUS_<DATASET>` (e.g. `$PLEXUS_CIFAR10`), else the source's default")
          .key("cifar100_labels", &O::cifar100_labels, "cifar100: fine (100 classes) or coarse (20 superclasses)",
               one_of({"fine", "coarse"}))
          .key("emnist_split", &O::emnist_split, "emnist: the split (letters are 1-based in the files)",
               one_of({"byclass", "bymerge", "balanced", "letters", "digits", "mnist"}))
          .key("image_size", &O::image_size, "image_folder: resize to s×s; 0 = keep (all images must agree)",
               "[0, 4096]")
          .key("image_channels", &O::image_channels, "image_folder: 3 (RGB) or 1 (grey)", "[1, 3]")
          .key("normalize", &O::normalize, "per-channel (v − mean)/std on the [0,1] scale (not for synthetic)")
          .key("mean", &O::mean, "per-channel mean (one value = all); [] → published (Fashion-MNIST, CIFAR) or the "
                                 "training split's own")
          .key("std", &O::std, "per-channel std, as mean (give both or neither)", "> 0")
          .key("crop_padding", &O::crop_padding,
               "training augmentation: random crop after padding by p pixels (CIFAR recipe: 4); 0 = off", "[0, 64]")
          .key("horizontal_flip", &O::horizontal_flip, "training augmentation: left-right flip with probability 1/2")
          .key("train_subset", &O::train_subset, "use a random k training samples (0 = all)", ">= 0")
          .key("partition", &O::partition, "how training samples are split over clients (natural: LEAF users)",
               one_of({"iid", "dirichlet", "pathological", "natural"}))
          .key("dirichlet_alpha", &O::dirichlet_alpha, "α of Dir(α·1): small = strong label skew, large ≈ IID", "> 0")
          .key("dirichlet_form", &O::dirichlet_form,
               "per_client (reference code: equal sizes, a class prior per client) or per_class (NIID-Bench)",
               one_of({"per_client", "per_class"}))
          .key("min_client_samples", &O::min_client_samples, "per_class: minimum client size (bounded redraws)",
               ">= 1")
          .key("classes_per_client", &O::classes_per_client, "pathological: classes per client", ">= 1")
          .key("local_test_size", &O::local_test_size,
               "test samples per client, in proportion to its training labels (0 = ⌈n_test/N⌉; at most the test "
               "set's size)",
               "[0, 1000000]")
          .key("synthetic_train", &O::synthetic_train, "synthetic: training samples", "[1, 10000000]")
          .key("synthetic_test", &O::synthetic_test, "synthetic: test samples", "[1, 10000000]")
          .key("synthetic_classes", &O::synthetic_classes, "synthetic: classes", ">= 2")
          .key("synthetic_dim", &O::synthetic_dim, "synthetic: images are [1, dim, dim]", "[1, 1024]")
          .key("synthetic_noise", &O::synthetic_noise, "synthetic: within-class noise σ", ">= 0");
  return s;
}

DataOptions DataOptions::parse(plexus::ConfigTable& t) {
  DataOptions o = schema().parse(t);
  t.require(o.image_channels == 1 || o.image_channels == 3, "image_channels", "must be 1 (grey) or 3 (RGB)");
  t.require(o.mean.empty() == o.std.empty(), o.mean.empty() ? "mean" : "std",
            "give data.mean and data.std together (or neither, for the data set's own)");
  t.require(o.partition != "natural" || o.dataset == "leaf", "partition",
            "\"natural\" needs a data set with its own clients (dataset = \"leaf\"); use iid, dirichlet or "
            "pathological");
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

namespace {

template <size_t K> std::vector<double> vec(const std::array<double, K>& a) { return {a.begin(), a.end()}; }

// The source's data on the [0,1] scale, plus its published per-channel mean/std where there is one.
TrainTest load_source(const DataOptions& o, uint64_t seed, std::vector<double>& mean, std::vector<double>& std) {
  if (o.dataset == "fashion_mnist") {
    mean = {kFashionMnistMean}, std = {kFashionMnistStd};
    return load_fashion_mnist(o.path, 0.0, 1.0);
  }
  if (o.dataset == "synthetic") return make_synthetic(o.synthetic(), seed);
  if (o.dataset == "cifar10") {
    mean = vec(kCifar10Mean), std = vec(kCifar10Std);
    return load_cifar(10, false, o.path);
  }
  if (o.dataset == "cifar100") {
    mean = vec(kCifar100Mean), std = vec(kCifar100Std);
    return load_cifar(100, o.cifar100_labels == "coarse", o.path);
  }
  if (o.dataset == "emnist") return load_emnist(o.emnist_split, o.path);
  if (o.dataset == "leaf") return load_leaf(o.path);
  if (o.dataset == "image_folder") return load_image_folder(o.path, static_cast<int>(o.image_channels), o.image_size);
  if (o.dataset == "npz") return load_npz_dataset(o.path);
  throw Error::config("[data] dataset = \"{}\" is not one of fashion_mnist, synthetic, cifar10, cifar100, emnist, "
                      "leaf, image_folder, npz",
                      o.dataset);
}

// Keep only the training samples `keep` (sorted), renumbering the users' index lists.
void keep_train(TrainTest& tt, const std::vector<int64_t>& keep) {
  std::vector<int64_t> new_index(static_cast<size_t>(tt.train.size()), -1);
  for (size_t k = 0; k < keep.size(); ++k) new_index[static_cast<size_t>(keep[k])] = static_cast<int64_t>(k);
  for (auto& list : tt.train_users) {
    std::vector<int64_t> kept;
    for (int64_t j : list) {
      if (new_index[static_cast<size_t>(j)] >= 0) kept.push_back(new_index[static_cast<size_t>(j)]);
    }
    list = std::move(kept);
  }
  tt.train = subset(tt.train, keep, tt.train.name);
}

}  // namespace

TrainTest load_train_test(const DataOptions& opts, uint64_t seed) {
  std::vector<double> mean, std;
  TrainTest tt;
  if (opts.dataset == "fashion_mnist" && opts.normalize && opts.mean.empty()) {
    tt = load_fashion_mnist(opts.path);  // normalized while converting (one pass, as before)
    for (auto* d : {&tt.train, &tt.test}) d->mean = {kFashionMnistMean}, d->std = {kFashionMnistStd};
  } else {
    tt = load_source(opts, seed, mean, std);
    if (opts.normalize && opts.dataset != "synthetic") {
      if (!opts.mean.empty()) mean = opts.mean, std = opts.std;
      if (mean.empty()) channel_mean_std(tt.train.x, mean, std);  // the training split's own statistics
      normalize_channels(tt.train, mean, std);
      normalize_channels(tt.test, mean, std);
    }
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
    keep_train(tt, rng.sample_without_replacement(n, opts.train_subset));
  }
  // Augmentation pads with black: the normalized value of pixel 0 in each channel.
  AugmentOptions aug;
  aug.crop_padding = opts.crop_padding;
  aug.horizontal_flip = opts.horizontal_flip;
  const int64_t ch = tt.train.x.size(1);
  for (int64_t c = 0; c < ch; ++c) {
    const auto& m = tt.train.mean;
    const auto& s = tt.train.std;
    aug.fill.push_back(m.empty() ? 0.0f : static_cast<float>(-m[static_cast<size_t>(c) % m.size()] /
                                                              s[static_cast<size_t>(c) % s.size()]));
  }
  if (aug.crop_padding > 0 && (aug.crop_padding >= tt.train.x.size(2) || aug.crop_padding >= tt.train.x.size(3))) {
    throw Error::config("[data] crop_padding = {} is not smaller than the {} images of {}; use a smaller padding",
                        aug.crop_padding, shape_text(tt.train.x), tt.train.name);
  }
  tt.train.augment = aug;
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
  std::vector<int64_t> users;  // natural partition: the users that become clients 0..N-1
  if (opts.partition == "natural") {
    const auto U = static_cast<int64_t>(tt.users.size());
    if (U == 0) {
      throw Error::config("[data] partition = \"natural\": {} has no users of its own; use iid, dirichlet or "
                          "pathological",
                          fd.train.name);
    }
    if (clients > U) {
      throw Error::infeasible("{} clients requested but the LEAF data has {} users; use at most {} clients (fl.clients "
                              "/ --clients) or a larger LEAF sample",
                              clients, U, U);
    }
    users = Rng(seed, "natural_users").sample_without_replacement(U, clients);  // sorted; all users when N = U
    for (int64_t u : users) {
      fd.client_train.push_back(tt.train_users[static_cast<size_t>(u)]);
      fd.client_users.push_back(tt.users[static_cast<size_t>(u)]);
    }
    for (size_t i = 0; i < users.size(); ++i) {
      if (fd.client_train[i].empty()) {
        throw Error::infeasible("LEAF user '{}' has no training sample left (data.train_subset too small?)",
                                tt.users[static_cast<size_t>(users[i])]);
      }
    }
  } else {
    if (!tt.users.empty()) {
      log_info("data: the {} LEAF users' samples are pooled and split by partition = \"{}\"; set data.partition = "
               "\"natural\" for one client per user",
               tt.users.size(), opts.partition);
    }
    fd.client_train = partition_labels(opts, labels_of(fd.train), fd.train.num_classes, clients, seed);
  }
  const auto hist = label_histograms(fd.train, fd.client_train);
  const int64_t n_test = fd.test.size();
  if (opts.local_test_size > n_test) {
    // Draws beyond the test set repeat samples: no information, only time and memory (N × size indices).
    throw Error::config("[data] local_test_size = {} exceeds the test set's {} samples; set data.local_test_size "
                        "to at most {} (0 = ⌈n_test/N⌉)", opts.local_test_size, n_test, n_test);
  }
  const int64_t m = opts.local_test_size > 0 ? opts.local_test_size : (n_test + clients - 1) / clients;
  fd.client_test = local_test_sets(labels_of(fd.test), fd.test.num_classes, hist, m, seed);
  // LEAF: a user's own test samples are its local test set (the drawn one only for users without any).
  for (size_t i = 0; i < users.size(); ++i) {
    const auto& own = tt.test_users[static_cast<size_t>(users[i])];
    if (!own.empty()) fd.client_test[i] = own;
  }
  return fd;
}

}  // namespace plexus::data
