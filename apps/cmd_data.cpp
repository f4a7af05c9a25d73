// `plexus data partition`: split a dataset over clients and print per-client label histograms (a table or
// JSON). `plexus data info`: load a dataset and print its shapes, class counts, normalization and load time.
// Both work for every source of [data] dataset (Fashion-MNIST, synthetic, CIFAR-10/100, EMNIST, LEAF, image
// folders, NumPy arrays).
// Options come from an optional --config file (an FL config: its [data] table, fl.clients and run.seed), then
// --set section.key=value, then the flags.
#include <fmt/ranges.h>  // fmt::join (not in fmt/format.h on fmt >= 11)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "command_registry.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/data/federated.h"
#include "plexus/fl/fl_config.h"

namespace {

using plexus::data::DataOptions;

struct DataArgs {
  std::string config;
  std::vector<std::string> sets;
  // Flags; written into the [data] table only when given on the command line.
  std::string dataset, path, partition, form;
  double alpha = 0.3;
  int64_t classes_per_client = 2, local_test_size = 0, train_subset = 0, min_client_samples = 10;
  int64_t clients = 20;
  int64_t seed = 0;
  bool json = false;
  CLI::App* cmd = nullptr;
};

bool given(const DataArgs& a, const char* flag) {
  const CLI::Option* o = a.cmd->get_option_no_throw(flag);  // `info` lacks the partition flags
  return o != nullptr && o->count() > 0;
}

struct Resolved {
  DataOptions data;
  int64_t clients = 20;
  uint64_t seed = 0;
};

// Build the resolved options exactly as `plexus fl run` reads the config (same checks, same errors): flags
// win over --set, which wins over the file; the file's fl.clients and run.seed apply unless the flags are given.
Resolved resolve_options(const DataArgs& a) {
  toml::table root;
  if (!a.config.empty()) root = plexus::load_toml(a.config);
  for (const auto& s : a.sets) plexus::apply_override(root, s);
  if (!root.contains("data")) root.insert("data", toml::table{});
  toml::table* t = root["data"].as_table();
  if (!t) throw plexus::Error::config("[data] must be a table");
  if (given(a, "--dataset")) t->insert_or_assign("dataset", a.dataset);
  if (given(a, "--path")) t->insert_or_assign("path", a.path);
  if (given(a, "--partition")) t->insert_or_assign("partition", a.partition);
  if (given(a, "--alpha")) t->insert_or_assign("dirichlet_alpha", a.alpha);
  if (given(a, "--form")) t->insert_or_assign("dirichlet_form", a.form);
  if (given(a, "--classes-per-client")) t->insert_or_assign("classes_per_client", a.classes_per_client);
  if (given(a, "--local-test-size")) t->insert_or_assign("local_test_size", a.local_test_size);
  if (given(a, "--train-subset")) t->insert_or_assign("train_subset", a.train_subset);
  if (given(a, "--min-client-samples")) t->insert_or_assign("min_client_samples", a.min_client_samples);
  if (given(a, "--clients")) {
    if (!root.contains("fl")) root.insert("fl", toml::table{});
    if (auto* fl = root["fl"].as_table()) fl->insert_or_assign("clients", a.clients);
  }
  if (given(a, "--seed")) {
    if (!root.contains("run")) root.insert("run", toml::table{});
    if (auto* run = root["run"].as_table()) run->insert_or_assign("seed", static_cast<int64_t>(a.seed));
  }
  const auto cfg = plexus::fl::FlConfig::parse(root);
  return {cfg.data, cfg.fl.clients, static_cast<uint64_t>(cfg.run.seed)};
}

std::string describe_partition(const DataOptions& o) {
  if (o.partition == "dirichlet") return fmt::format("dirichlet({}, alpha={})", o.dirichlet_form, o.dirichlet_alpha);
  if (o.partition == "pathological") return fmt::format("pathological(classes_per_client={})", o.classes_per_client);
  if (o.partition == "natural") return "natural (one client per LEAF user)";
  return o.partition;
}

void run_partition(const DataArgs& a) {
  using namespace plexus::data;
  const Resolved r = resolve_options(a);
  const DataOptions& o = r.data;
  const auto t0 = std::chrono::steady_clock::now();
  const FederatedData fd = load_federated(o, r.clients, r.seed);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto train_hist = label_histograms(fd.train, fd.client_train);
  const auto test_hist = label_histograms(fd.test, fd.client_test);
  const int64_t C = fd.train.num_classes, N = r.clients;

  std::vector<int64_t> n_train(N), n_test(N), n_classes(N);
  for (int64_t i = 0; i < N; ++i) {
    n_train[i] = static_cast<int64_t>(fd.client_train[i].size());
    n_test[i] = static_cast<int64_t>(fd.client_test[i].size());
    n_classes[i] = std::count_if(train_hist[i].begin(), train_hist[i].end(), [](int64_t v) { return v > 0; });
  }
  const auto [mn, mx] = std::minmax_element(n_train.begin(), n_train.end());
  int64_t total = 0, cls_sum = 0;
  for (int64_t i = 0; i < N; ++i) total += n_train[i], cls_sum += n_classes[i];

  if (a.json) {
    nlohmann::json j = {{"dataset", fd.train.name},
                        {"train_samples", fd.train.size()},
                        {"test_samples", fd.test.size()},
                        {"num_classes", C},
                        {"clients", N},
                        {"partition", o.partition},
                        {"dirichlet_alpha", o.dirichlet_alpha},
                        {"dirichlet_form", o.dirichlet_form},
                        {"classes_per_client", o.classes_per_client},
                        {"seed", r.seed},
                        {"train_sizes", n_train},
                        {"test_sizes", n_test},
                        {"classes_held", n_classes},
                        {"train_histograms", train_hist},
                        {"test_histograms", test_hist},
                        {"assigned_train_samples", total},
                        {"client_users", fd.client_users},
                        {"seconds", secs}};
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("%s: %lld train / %lld test samples, %lld classes, %lld clients, %s, seed %llu\n",
              fd.train.name.c_str(), static_cast<long long>(fd.train.size()), static_cast<long long>(fd.test.size()),
              static_cast<long long>(C), static_cast<long long>(N), describe_partition(o).c_str(),
              static_cast<unsigned long long>(r.seed));
  std::string head = fmt::format("{:>6} {:>7} |", "client", "n_train");
  for (int64_t c = 0; c < C; ++c) head += fmt::format(" {:>5}", fmt::format("c{}", c));
  head += fmt::format(" | {:>7} {:>6}", "classes", "n_test");
  std::printf("%s\n", head.c_str());
  for (int64_t i = 0; i < N; ++i) {
    std::string row = fmt::format("{:>6} {:>7} |", i, n_train[i]);
    for (int64_t c = 0; c < C; ++c) row += fmt::format(" {:>5}", train_hist[i][c]);
    row += fmt::format(" | {:>7} {:>6}", n_classes[i], n_test[i]);
    std::printf("%s\n", row.c_str());
  }
  std::printf("train samples assigned %lld of %lld; client size min %lld mean %.1f max %lld; classes per client "
              "(≥1 sample) mean %.2f; %.2f s\n",
              static_cast<long long>(total), static_cast<long long>(fd.train.size()), static_cast<long long>(*mn),
              static_cast<double>(total) / N, static_cast<long long>(*mx), static_cast<double>(cls_sum) / N, secs);
}

void run_info(const DataArgs& a) {
  using namespace plexus::data;
  const Resolved r = resolve_options(a);
  const auto t0 = std::chrono::steady_clock::now();
  const TrainTest tt = load_train_test(r.data, r.seed);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json j = {{"seconds", secs}};
  if (!tt.users.empty()) j["users"] = tt.users.size();
  j["normalization"] = {{"mean", tt.train.mean}, {"std", tt.train.std}};
  j["augmentation"] = {{"crop_padding", tt.train.augment.crop_padding},
                       {"horizontal_flip", tt.train.augment.horizontal_flip}};
  for (const Dataset* d : {&tt.train, &tt.test}) {
    const auto counts = class_counts(labels_of(*d), d->num_classes);
    nlohmann::json s = {{"name", d->name},
                        {"shape", d->x.sizes().vec()},
                        {"num_classes", d->num_classes},
                        {"class_counts", counts},
                        {"mean", d->x.mean().item<double>()},
                        {"std", d->x.std().item<double>()}};
    j[d == &tt.train ? "train" : "test"] = s;
    if (!a.json) {
      std::printf("%-20s shape %s  mean %.4f  std %.4f  class counts %s\n", d->name.c_str(),
                  fmt::format("{}", fmt::join(d->x.sizes().vec(), "x")).c_str(), s["mean"].get<double>(),
                  s["std"].get<double>(), nlohmann::json(counts).dump().c_str());
    }
  }
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    if (!tt.users.empty()) std::printf("%zu users (natural clients)\n", tt.users.size());
    std::printf("normalization mean %s std %s; augmentation crop_padding %lld horizontal_flip %s\n",
                nlohmann::json(tt.train.mean).dump().c_str(), nlohmann::json(tt.train.std).dump().c_str(),
                static_cast<long long>(tt.train.augment.crop_padding), tt.train.augment.horizontal_flip ? "on" : "off");
    std::printf("loaded in %.2f s\n", secs);
  }
}

void add_common(CLI::App* c, DataArgs& a) {
  c->add_option("--config,-c", a.config, "FL config whose [data] table, fl.clients and run.seed are the starting point");
  c->add_option("--set", a.sets, "override a config key, e.g. --set data.dirichlet_alpha=0.1 (repeatable)");
  c->add_option("--dataset", a.dataset,
                "fashion_mnist | synthetic | cifar10 | cifar100 | emnist | leaf | image_folder | npz");
  c->add_option("--path", a.path, "where the data set's files are (default $PLEXUS_<DATASET>, e.g. "
                                  "$PLEXUS_CIFAR10, else the dataset's default; see docs/data.md)");
  c->add_option("--train-subset", a.train_subset, "use a random k training samples (0 = all)");
  c->add_option("--seed", a.seed, "seed of every random draw (default: the config's run.seed, else 0)");
  c->add_flag("--json", a.json, "print JSON instead of a table");
}

}  // namespace

static plexus::app::CommandRegistrar reg("data", [](CLI::App& app) {
  auto& g = plexus::app::subcommand_group(app, "data", "Datasets (Fashion-MNIST, CIFAR, EMNIST, LEAF, image folders, NumPy) and federated partitions");

  auto pa = std::make_shared<DataArgs>();
  auto* p = g.add_subcommand("partition", "Partition a dataset over clients and print per-client label histograms");
  pa->cmd = p;
  add_common(p, *pa);
  p->add_option("--clients", pa->clients, "number of clients N (default: the config's fl.clients, else 20)");
  p->add_option("--partition", pa->partition,
                "iid | dirichlet | pathological | natural (one client per LEAF user) (default dirichlet)");
  p->add_option("--alpha", pa->alpha, "Dirichlet concentration alpha > 0 (default 0.3)");
  p->add_option("--form", pa->form, "per_client (reference code, equal sizes; default) | per_class");
  p->add_option("--classes-per-client", pa->classes_per_client, "classes per client for pathological (default 2)");
  p->add_option("--local-test-size", pa->local_test_size, "local test samples per client (0 = ceil(n_test/N))");
  p->add_option("--min-client-samples", pa->min_client_samples, "per_class: minimum client size (default 10)");
  p->callback([pa] { run_partition(*pa); });

  auto ia = std::make_shared<DataArgs>();
  auto* i = g.add_subcommand("info", "Load a dataset and print shapes, class counts, pixel statistics and load time");
  ia->cmd = i;
  add_common(i, *ia);
  i->callback([ia] { run_info(*ia); });
});
