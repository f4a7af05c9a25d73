// The papers' CIFAR / EMNIST / FEMNIST configs under configs/ parse and run one round end to end through
// `plexus fl run` on tiny data sets in each format, shrunk by --set (3 clients, width-8 models, one local step).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data_test_util.h"
#include "plexus/data/cifar.h"
#include "plexus/data/idx_reader.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::run_command;
using plexus::test::TempDir;
namespace fs = std::filesystem;

namespace {

void write_cifar(const fs::path& dir, bool c100) {
  fs::create_directories(dir);
  auto batch = [&](const fs::path& f, int64_t n) {
    std::vector<uint8_t> labels, pixels;
    for (int64_t j = 0; j < n; ++j) {
      if (c100) labels.push_back(static_cast<uint8_t>(j % 20));
      labels.push_back(static_cast<uint8_t>(c100 ? j % 100 : j % 10));
      for (int64_t p = 0; p < kCifarPixels; ++p) pixels.push_back(static_cast<uint8_t>((p * 7 + j * 31) % 256));
    }
    write_cifar_records(f, labels, pixels, c100 ? 2 : 1);
  };
  if (c100) {
    batch(dir / "train.bin", 200), batch(dir / "test.bin", 20);
  } else {
    for (int b = 1; b <= 5; ++b) batch(dir / fmt::format("data_batch_{}.bin", b), 12);
    batch(dir / "test_batch.bin", 20);
  }
}

void write_emnist_letters(const fs::path& dir) {
  fs::create_directories(dir);
  const std::vector<std::pair<const char*, int64_t>> parts = {{"train", 120}, {"test", 26}};
  for (auto [part, n] : parts) {
    std::vector<uint8_t> im(static_cast<size_t>(n * 784)), lb;
    for (size_t k = 0; k < im.size(); ++k) im[k] = static_cast<uint8_t>((k * 13) % 256);
    for (int64_t j = 0; j < n; ++j) lb.push_back(static_cast<uint8_t>(1 + j % 26));
    const std::string p = std::string("emnist-letters-") + part + "-";
    write_idx(dir / (p + "images-idx3-ubyte.gz"), {n, 28, 28}, im, true);
    write_idx(dir / (p + "labels-idx1-ubyte.gz"), {n}, lb, true);
  }
}

// 4 writers with 28×28 images (784 features, as FEMNIST) and labels 0..3.
void write_leaf(const fs::path& dir) {
  const std::vector<std::pair<const char*, int>> parts = {{"train", 10}, {"test", 3}};
  for (auto [part, n] : parts) {
    nlohmann::json j;
    for (int u = 0; u < 4; ++u) {
      const std::string id = fmt::format("w{}", u);
      j["users"].push_back(id);
      j["num_samples"].push_back(n);
      for (int k = 0; k < n; ++k) {
        std::vector<double> x(784);
        for (int f = 0; f < 784; ++f) x[static_cast<size_t>(f)] = ((f * 7 + k + u) % 10) / 10.0;
        j["user_data"][id]["x"].push_back(x);
        j["user_data"][id]["y"].push_back((u + k) % 4);
      }
    }
    test::write_text(dir / part / "data.json", j.dump());
  }
}

}  // namespace

TEST(PaperDataConfigs, EachRunsOneShrunkRound) {
  TempDir d("configs");
  write_cifar(d.path / "c10", false);
  write_cifar(d.path / "c100", true);
  write_emnist_letters(d.path / "emnist");
  write_leaf(d.path / "leaf");
  // name, data folder, extra overrides (graph configs: 1 neighbour for 3 clients; personalized: 1 body epoch).
  const std::string graph = "--set topology.neighbors=1", pfl = graph + " --set personalization.body_epochs=1";
  const std::vector<std::array<std::string, 3>> configs = {
      {"cifar10_dfedsam", "c10", graph},      {"cifar10_dfedsam_mgs", "c10", graph},
      {"cifar100_dfedsam", "c100", graph},    {"cifar10_dp_fedsam", "c10", ""},
      {"cifar10_dfedalt", "c10", pfl},        {"cifar10_dfedsalt", "c10", pfl},
      {"cifar10_dfedpgp", "c10", pfl},        {"emnist_dp_fedsam", "emnist", ""},
      {"femnist_fedavg", "leaf", ""}};
  const std::string bin = std::getenv("PLEXUS_TEST_BINARY") ? std::getenv("PLEXUS_TEST_BINARY") : PLEXUS_BINARY;
  for (const auto& [name, data, extra] : configs) {
    const std::string cmd = fmt::format(
        "{} fl run --config {}/configs/{}.toml --set data.path='\"{}\"' --set fl.clients=3 --set fl.rounds=1 "
        "--set model.width=8 --set model.groups=2 --set train.local_steps=1 --set train.batch_size=8 "
        "--set data.local_test_size=4 --set run.threads=2 --set run.out_dir='\"{}\"' --set fl.client_fraction=0.7 {}",
        bin, PLEXUS_SOURCE_DIR, name, (d.path / data).string(), (d.path / "runs").string(), extra);
    std::string out;
    ASSERT_EQ(run_command(cmd, out), 0) << name << "\n" << cmd << "\n" << out;
    EXPECT_TRUE(fs::exists(d.path / "runs" / name / "summary.json")) << name << "\n" << out;
  }
}
