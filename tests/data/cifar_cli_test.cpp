// End to end through the CLI: a synthetic CIFAR-10-format data set written by the test, `plexus data info` and
// `plexus data partition` on it, and two rounds of `plexus fl run` (DFedSAM, augmentation on) that write metrics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "data_test_util.h"
#include "plexus/data/cifar.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::run_command;
using plexus::test::TempDir;
namespace fs = std::filesystem;

namespace {

// CIFAR-10 files with n_per_file records each: class y has mean brightness 20 + 20y plus a per-pixel ramp.
void write_synthetic_cifar10(const fs::path& dir, int64_t n_per_file) {
  int64_t j = 0;
  auto batch = [&](const fs::path& file) {
    std::vector<uint8_t> labels, pixels;
    for (int64_t k = 0; k < n_per_file; ++k, ++j) {
      const auto y = static_cast<uint8_t>(j % 10);
      labels.push_back(y);
      for (int64_t p = 0; p < kCifarPixels; ++p) pixels.push_back(static_cast<uint8_t>(20 + 20 * y + (p * 3 + j) % 17));
    }
    write_cifar_records(file, labels, pixels, 1);
  };
  for (int b = 1; b <= 5; ++b) batch(dir / fmt::format("data_batch_{}.bin", b));
  batch(dir / "test_batch.bin");
}

std::string plexus_binary() {
  const char* env = std::getenv("PLEXUS_TEST_BINARY");
  return env && *env ? env : PLEXUS_BINARY;
}

}  // namespace

TEST(CifarCli, InfoPartitionAndTwoRoundsOfDfedsam) {
  TempDir d("cifar_cli");
  const fs::path data = d.path / "cifar-10-batches-bin";
  fs::create_directories(data);
  write_synthetic_cifar10(data, 24);  // 120 training, 24 test images
  const std::string bin = plexus_binary();
  std::string out;

  ASSERT_EQ(run_command(bin + " data info --dataset cifar10 --path " + d.path.string() + " --json", out), 0) << out;
  auto info = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(info["train"]["shape"].get<std::vector<int64_t>>(), (std::vector<int64_t>{120, 3, 32, 32}));
  EXPECT_EQ(info["test"]["shape"].get<std::vector<int64_t>>(), (std::vector<int64_t>{24, 3, 32, 32}));
  EXPECT_EQ(info["train"]["class_counts"].get<std::vector<int64_t>>(), std::vector<int64_t>(10, 12));

  ASSERT_EQ(run_command(bin + " data partition --dataset cifar10 --path " + data.string() +
                            " --clients 4 --alpha 0.5 --json",
                        out),
            0)
      << out;
  auto part = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(part["assigned_train_samples"].get<int64_t>(), 120);

  const fs::path cfg = d.path / "cifar.toml";
  test::write_text(cfg, fmt::format(R"([run]
name = "cifar_two_rounds"
out_dir = "{}"
seed = 1
threads = 2
[data]
dataset = "cifar10"
path = "{}"
partition = "dirichlet"
dirichlet_alpha = 0.5
crop_padding = 4
horizontal_flip = true
[model]
name = "cnn"
[fl]
algorithm = "dfedsam"
clients = 4
rounds = 2
eval_every = 1
[topology]
kind = "ring"
[train]
batch_size = 8
local_steps = 2
lr = 0.01
rho = 0.05
)",
                                    (d.path / "runs").string(), data.string()));
  ASSERT_EQ(run_command(bin + " fl run --config " + cfg.string(), out), 0) << out;
  const fs::path run = d.path / "runs" / "cifar_two_rounds";
  std::ifstream metrics(run / "metrics.jsonl");
  std::string line;
  int rows = 0;
  while (std::getline(metrics, line)) {
    const auto row = nlohmann::json::parse(line);
    ++rows;
    EXPECT_EQ(row["round"].get<int64_t>(), rows) << line;
  }
  EXPECT_EQ(rows, 2);
  EXPECT_TRUE(fs::exists(run / "summary.json"));
  // The resolved config records the data keys.
  std::ifstream resolved(run / "config.toml");
  const std::string text((std::istreambuf_iterator<char>(resolved)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("crop_padding = 4"), std::string::npos) << text;

  // A missing data set: one error line naming the expected file and where CIFAR-10 is published; exit code 3.
  EXPECT_EQ(run_command(bin + " data info --dataset cifar10 --path " + (d.path / "none").string(), out), 3) << out;
  EXPECT_NE(out.find("error: data: CIFAR-10 not found: no data_batch_1.bin"), std::string::npos) << out;
  EXPECT_NE(out.find("cs.toronto.edu"), std::string::npos) << out;
}
