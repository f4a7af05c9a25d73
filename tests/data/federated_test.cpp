// [data] options, load_federated on the synthetic task, and the `plexus data` CLI.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>

#include "plexus/core/error.h"
#include "plexus/data/federated.h"

using namespace plexus;
using namespace plexus::data;

namespace {

DataOptions parse_data(const std::string& toml_text) {
  auto root = parse_toml(toml_text);
  ConfigTable t(root["data"].as_table(), "data");
  return DataOptions::parse(t);
}

DataOptions synthetic_options() {
  DataOptions o;
  o.dataset = "synthetic";
  o.synthetic_train = 600;
  o.synthetic_test = 200;
  return o;
}

// Run a shell command, capture stdout, return the exit status.
int run(const std::string& cmd, std::string& out) {
  out.clear();
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, p.get())) > 0) out.append(buf, k);
  const int status = pclose(p.release());
  return WEXITSTATUS(status);
}

// The plexus CLI under test: $PLEXUS_TEST_BINARY if set (e.g. a binary linked with fewer modules), else
// the build's own.
std::string plexus_binary() {
  const char* env = std::getenv("PLEXUS_TEST_BINARY");
  return env && *env ? env : PLEXUS_BINARY;
}

}  // namespace

TEST(DataOptions, DefaultsAndParsing) {
  const DataOptions d = parse_data("");
  EXPECT_EQ(d.dataset, "fashion_mnist");
  EXPECT_EQ(d.partition, "dirichlet");
  EXPECT_EQ(d.dirichlet_form, "per_client");
  EXPECT_DOUBLE_EQ(d.dirichlet_alpha, 0.3);
  const DataOptions o = parse_data("[data]\npartition = \"pathological\"\nclasses_per_client = 3\n"
                                   "dirichlet_alpha = 1\n");
  EXPECT_EQ(o.partition, "pathological");
  EXPECT_EQ(o.classes_per_client, 3);
  EXPECT_DOUBLE_EQ(o.dirichlet_alpha, 1.0);
}

TEST(DataOptions, BadValuesAreConfigErrorsNamingTheKey) {
  for (const char* text : {"[data]\ndirichlet_alpha = 0\n", "[data]\ndirichlet_alpha = -0.5\n",
                           "[data]\npartition = \"shards\"\n", "[data]\ndirichlet_alfa = 0.1\n",
                           "[data]\nlocal_test_size = -1\n"}) {
    try {
      parse_data(text);
      FAIL() << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
      const std::string m = e.what();
      const bool names_key = m.find("dirichlet_alpha") != std::string::npos || m.find("partition") != std::string::npos ||
                             m.find("local_test_size") != std::string::npos;
      EXPECT_TRUE(names_key) << m;
    }
  }
}

TEST(LoadFederated, SyntheticShapesSizesAndLocalTestDefault) {
  const auto fd = load_federated(synthetic_options(), 7, 0);
  EXPECT_EQ(fd.train.x.sizes().vec(), (std::vector<int64_t>{600, 1, 8, 8}));
  EXPECT_EQ(fd.test.size(), 200);
  EXPECT_EQ(fd.train.num_classes, 10);
  ASSERT_EQ(fd.client_train.size(), 7u);
  ASSERT_EQ(fd.client_test.size(), 7u);
  int64_t total = 0;
  for (size_t i = 0; i < 7; ++i) {
    total += static_cast<int64_t>(fd.client_train[i].size());
    EXPECT_TRUE(fd.client_train[i].size() == 85u || fd.client_train[i].size() == 86u);  // 600 = 5·86 + 2·85
    EXPECT_EQ(fd.client_test[i].size(), 29u);                                            // ⌈200/7⌉
    for (auto j : fd.client_test[i]) EXPECT_LT(j, 200);
  }
  EXPECT_EQ(total, 600);
  // Local test labels follow the training histogram: a class absent from a client's training data is absent
  // from its local test set.
  const auto htr = label_histograms(fd.train, fd.client_train);
  const auto hte = label_histograms(fd.test, fd.client_test);
  for (size_t i = 0; i < 7; ++i)
    for (int c = 0; c < 10; ++c)
      if (htr[i][c] == 0) EXPECT_EQ(hte[i][c], 0);
}

TEST(LoadFederated, DeterministicInSeed) {
  auto o = synthetic_options();
  const auto a = load_federated(o, 5, 42), b = load_federated(o, 5, 42), c = load_federated(o, 5, 43);
  EXPECT_TRUE(torch::equal(a.train.x, b.train.x));
  EXPECT_EQ(a.client_train, b.client_train);
  EXPECT_EQ(a.client_test, b.client_test);
  EXPECT_FALSE(torch::equal(a.train.x, c.train.x));
  EXPECT_NE(a.client_train, c.client_train);
}

TEST(LoadFederated, TrainSubsetAndItsLimits) {
  auto o = synthetic_options();
  o.train_subset = 100;
  o.partition = "iid";
  const auto fd = load_federated(o, 4, 1);
  EXPECT_EQ(fd.train.size(), 100);
  for (auto& c : fd.client_train) EXPECT_EQ(c.size(), 25u);
  o.train_subset = 601;
  try {
    load_federated(o, 4, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("train_subset"), std::string::npos);
  }
  o.train_subset = 0;
  try {
    load_federated(o, 601, 1);  // more clients than samples
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Infeasible);
  }
}

TEST(Synthetic, NearestCentroidClassifierIsAccurate) {
  // Learnability check independent of any model code: class centroids estimated on the training set
  // classify the test set. With d = 64 and σ = 2 the Bayes error is ≈ 2% (synthetic.h); centroids from
  // ~60 samples per class add a little, so require ≥ 90% (chance is 10%).
  const TrainTest tt = make_synthetic(SyntheticOptions{}, 7);
  const auto xtr = tt.train.x.reshape({tt.train.size(), -1}), xte = tt.test.x.reshape({tt.test.size(), -1});
  auto centroids = torch::zeros({10, xtr.size(1)});
  centroids.index_add_(0, tt.train.y, xtr);
  centroids /= torch::bincount(tt.train.y, {}, 10).unsqueeze(1).to(torch::kFloat);
  const auto pred = torch::cdist(xte, centroids).argmin(1);
  const double acc = pred.eq(tt.test.y).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(acc, 0.9);
  // Balanced labels and unit pixel variance, as documented.
  EXPECT_EQ(torch::bincount(tt.train.y).min().item<int64_t>(), 200);
  EXPECT_NEAR(tt.train.x.var().item<double>(), 1.0, 0.1);  // 128k pixels; class means add O(1/sqrt(640)) noise
}

TEST(DataCli, PartitionJsonMatchesLibraryAndTableListsEveryClient) {
  std::string out;
  const std::string bin = plexus_binary();
  ASSERT_EQ(run(bin + " data partition --dataset synthetic --clients 6 --alpha 0.5 --seed 3 --json", out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["clients"], 6);
  const auto sizes = j["train_sizes"].get<std::vector<int64_t>>();
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}), 2000);
  // Same settings through the library give the same histograms.
  auto o = DataOptions{};
  o.dataset = "synthetic";
  o.dirichlet_alpha = 0.5;
  const auto fd = load_federated(o, 6, 3);
  EXPECT_EQ(j["train_histograms"].get<std::vector<std::vector<int64_t>>>(), label_histograms(fd.train, fd.client_train));

  ASSERT_EQ(run(bin + " data partition --dataset synthetic --clients 6 --partition pathological", out), 0);
  for (int i = 0; i < 6; ++i) EXPECT_NE(out.find(fmt::format("\n{:>6} ", i)), std::string::npos) << out;
}

TEST(DataCli, BadInputExitsWithOneErrorLine) {
  std::string out;
  const std::string bin = plexus_binary();
  // stderr is redirected into the captured output.
  EXPECT_EQ(run(bin + " data partition --dataset synthetic --alpha 0 2>&1", out), 2);
  EXPECT_NE(out.find("error: config:"), std::string::npos) << out;
  EXPECT_NE(out.find("dirichlet_alpha"), std::string::npos) << out;
  EXPECT_EQ(run(bin + " data partition --path /nonexistent/fmnist 2>&1", out), 3);
  EXPECT_NE(out.find("dataset-fashion-mnist"), std::string::npos) << out;
  EXPECT_EQ(run(bin + " data partition --dataset synthetic --clients 5000 2>&1", out), 4);
  EXPECT_NE(out.find("error: infeasible:"), std::string::npos) << out;
}
