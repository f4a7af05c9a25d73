// LEAF JSON: every user becomes its own client and keeps exactly its own training and test samples; malformed
// files (count mismatch, mixed row lengths, text features) give Error(Data) naming file and user.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data_test_util.h"
#include "plexus/data/federated.h"
#include "plexus/data/leaf.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::expect_error;
using plexus::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Sample k of user u: 4 features (a 2x2 image) that identify both, and label (u + k) % 3.
std::vector<double> features(int u, int k) { return {u + 0.1 * k, 1.0, -1.0 * u, k * 0.5}; }

nlohmann::json user_file(const std::vector<std::pair<int, int>>& users, int k0) {
  nlohmann::json j;
  j["users"] = nlohmann::json::array();
  j["num_samples"] = nlohmann::json::array();
  j["hierarchies"] = nlohmann::json::array();
  for (auto [u, n] : users) {
    const std::string id = fmt::format("f{:04d}", u);
    j["users"].push_back(id);
    j["num_samples"].push_back(n);
    nlohmann::json x = nlohmann::json::array(), y = nlohmann::json::array();
    for (int k = k0; k < k0 + n; ++k) x.push_back(features(u, k)), y.push_back((u + k) % 3);
    j["user_data"][id] = {{"x", x}, {"y", y}};
  }
  return j;
}

// Users 2, 0 in one training file and 1 in another (sizes 3, 2, 4); each has 2 test samples (k = 10, 11).
void write_leaf(const fs::path& dir) {
  test::write_text(dir / "train/all_data_0_train.json", user_file({{2, 3}, {0, 2}}, 0).dump());
  test::write_text(dir / "train/all_data_1_train.json", user_file({{1, 4}}, 0).dump());
  test::write_text(dir / "test/all_data_0_test.json", user_file({{2, 2}, {0, 2}, {1, 2}}, 10).dump());
}

}  // namespace

TEST(Leaf, UsersAreSortedAndEachClientKeepsItsOwnSamples) {
  TempDir d("leaf");
  write_leaf(d.path);
  const TrainTest tt = load_leaf(d.path.string());
  EXPECT_EQ(tt.users, (std::vector<std::string>{"f0000", "f0001", "f0002"}));
  ASSERT_EQ(tt.train.x.sizes(), (std::vector<int64_t>{9, 1, 2, 2}));  // 4 features → a 2x2 image
  EXPECT_EQ(tt.train.num_classes, 3);

  DataOptions o;
  o.dataset = "leaf";
  o.path = d.path.string();
  o.partition = "natural";
  o.normalize = false;  // compare the stored values
  const FederatedData fd = load_federated(o, 3, 5);
  EXPECT_EQ(fd.client_users, tt.users);
  const std::vector<int> sizes = {2, 4, 3};  // users 0, 1, 2
  for (int u = 0; u < 3; ++u) {
    ASSERT_EQ(fd.client_train[static_cast<size_t>(u)].size(), static_cast<size_t>(sizes[static_cast<size_t>(u)]));
    for (size_t k = 0; k < fd.client_train[static_cast<size_t>(u)].size(); ++k) {
      const int64_t j = fd.client_train[static_cast<size_t>(u)][k];
      const auto want = features(u, static_cast<int>(k));
      for (int f = 0; f < 4; ++f) EXPECT_FLOAT_EQ(fd.train.x[j].view(-1)[f].item<float>(), want[f]) << u << k;
      EXPECT_EQ(fd.train.y[j].item<int64_t>(), (u + static_cast<int>(k)) % 3);
    }
    // The local test set is the user's own 2 test samples.
    ASSERT_EQ(fd.client_test[static_cast<size_t>(u)].size(), 2u);
    for (size_t k = 0; k < 2; ++k) {
      const int64_t j = fd.client_test[static_cast<size_t>(u)][k];
      EXPECT_FLOAT_EQ(fd.test.x[j].view(-1)[0].item<float>(), static_cast<float>(u + 0.1 * (10 + k)));
    }
  }
  // Fewer clients than users: a seeded subset of users, each still with its own samples; more is infeasible.
  const FederatedData two = load_federated(o, 2, 5);
  ASSERT_EQ(two.client_users.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const int u = std::stoi(two.client_users[i].substr(1));
    EXPECT_EQ(two.client_train[i].size(), static_cast<size_t>(sizes[static_cast<size_t>(u)]));
  }
  expect_error([&] { load_federated(o, 4, 5); }, ErrorKind::Infeasible, {"4 clients", "3 users"});
}

TEST(Leaf, NaturalPartitionNeedsLeafAndIsAskedFor) {
  auto parse = [](const std::string& text) {
    auto root = parse_toml(text);
    ConfigTable t(root["data"].as_table(), "data");
    return DataOptions::parse(t);
  };
  EXPECT_EQ(parse("[data]\ndataset = \"leaf\"\npartition = \"natural\"\n").partition, "natural");
  EXPECT_EQ(parse("[data]\ndataset = \"leaf\"\n").partition, "dirichlet");  // pooled, re-partitioned
  expect_error([&] { parse("[data]\ndataset = \"cifar10\"\npartition = \"natural\"\n"); }, ErrorKind::Config,
               {"partition", "leaf"});
}

TEST(Leaf, MalformedFilesAreDataErrors) {
  TempDir d("leaf");
  write_leaf(d.path);
  auto j = user_file({{1, 4}}, 0);
  j["num_samples"][0] = 5;
  test::write_text(d.path / "train/all_data_1_train.json", j.dump());
  expect_error([&] { load_leaf(d.path.string()); }, ErrorKind::Data,
               {"all_data_1_train.json", "user 'f0001' has num_samples 5 but 4 x rows"});
  j = user_file({{1, 4}}, 0);
  j["user_data"]["f0001"]["x"][2].push_back(9.0);
  test::write_text(d.path / "train/all_data_1_train.json", j.dump());
  expect_error([&] { load_leaf(d.path.string()); }, ErrorKind::Data, {"sample 2 has 5 features", "same length"});
  j = user_file({{1, 1}}, 0);
  j["user_data"]["f0001"]["x"][0] = "to be or not to b";
  test::write_text(d.path / "train/all_data_1_train.json", j.dump());
  expect_error([&] { load_leaf(d.path.string()); }, ErrorKind::Data, {"text features", "FEMNIST"});
  test::write_text(d.path / "train/all_data_1_train.json", "{\"users\": [");
  expect_error([&] { load_leaf(d.path.string()); }, ErrorKind::Data, {"not valid JSON"});
  expect_error([&] { load_leaf((d.path / "none").string()); }, ErrorKind::Data,
               {"LEAF data not found", "train/*.json", "preprocess.sh"});
}
