// CIFAR-10/100 binary files: records written byte by byte in the documented layout read back to the expected
// tensors; short records, bad labels and missing files give one clear Error naming the file.
#include <gtest/gtest.h>

#include <cstdlib>

#include "data_test_util.h"
#include "plexus/data/cifar.h"
#include "plexus/data/federated.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::expect_error;
using plexus::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Pixel byte k of record j (a pattern that differs per record, channel, row and column).
uint8_t pixel(int64_t j, int64_t k) { return static_cast<uint8_t>((k * 7 + j * 13) % 256); }

// n records with labels label_of(j) (label_bytes each), written byte by byte: <labels><3072 pixels>.
std::vector<uint8_t> records(int64_t n, int label_bytes, int64_t first, std::vector<uint8_t> (*label_of)(int64_t)) {
  std::vector<uint8_t> b;
  for (int64_t j = first; j < first + n; ++j) {
    const auto l = label_of(j);
    b.insert(b.end(), l.begin(), l.begin() + label_bytes);
    for (int64_t k = 0; k < kCifarPixels; ++k) b.push_back(pixel(j, k));
  }
  return b;
}
std::vector<uint8_t> label10(int64_t j) { return {static_cast<uint8_t>(j % 10)}; }
std::vector<uint8_t> label100(int64_t j) { return {static_cast<uint8_t>(j % 20), static_cast<uint8_t>(j % 100)}; }

// CIFAR-10 folder: 5 training batches of 3 records (global indices 0..14) and a test batch of 4 (100..103).
void write_cifar10(const fs::path& dir) {
  for (int b = 1; b <= 5; ++b) {
    test::write_bytes(dir / fmt::format("data_batch_{}.bin", b), records(3, 1, 3 * (b - 1), label10));
  }
  test::write_bytes(dir / "test_batch.bin", records(4, 1, 100, label10));
}

}  // namespace

TEST(Cifar, Cifar10RecordsMapToChannelPlanesRowMajor) {
  TempDir d("cifar");
  write_cifar10(d.path);
  const TrainTest tt = load_cifar(10, false, d.path.string());
  ASSERT_EQ(tt.train.x.sizes(), (std::vector<int64_t>{15, 3, 32, 32}));
  ASSERT_EQ(tt.test.x.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
  EXPECT_EQ(tt.train.num_classes, 10);
  // Byte k = c·1024 + i·32 + w of a record is channel c (R, G, B), row i, column w; values are v/255.
  for (int64_t j : {0, 7, 14}) {
    EXPECT_EQ(tt.train.y[j].item<int64_t>(), j % 10);
    const std::vector<std::array<int64_t, 3>> spots = {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {2, 31, 31}, {1, 5, 9}};
    for (auto [c, i, w] : spots) {
      const int64_t k = c * 1024 + i * 32 + w;
      EXPECT_FLOAT_EQ(tt.train.x[j][c][i][w].item<float>(), pixel(j, k) / 255.0f) << j << " " << k;
    }
  }
  EXPECT_EQ(tt.test.y[3].item<int64_t>(), 103 % 10);
  EXPECT_FLOAT_EQ(tt.test.x[3][2][0][1].item<float>(), pixel(103, 2048 + 1) / 255.0f);
  // Every byte, not just samples: x·255 rounds back to the written pixels.
  auto back = tt.train.x.mul(255).round().to(torch::kUInt8).view({15, kCifarPixels});
  for (int64_t j = 0; j < 15; ++j) {
    for (int64_t k = 0; k < kCifarPixels; k += 97) ASSERT_EQ(back[j][k].item<uint8_t>(), pixel(j, k));
  }
}

TEST(Cifar, Cifar100FineAndCoarseLabels) {
  TempDir d("cifar");
  const fs::path dir = d.path / "cifar-100-binary";  // the parent of the extracted folder is accepted
  test::write_bytes(dir / "train.bin", records(30, 2, 70, label100));
  test::write_bytes(dir / "test.bin", records(5, 2, 0, label100));
  const TrainTest fine = load_cifar(100, false, d.path.string());
  const TrainTest coarse = load_cifar(100, true, d.path.string());
  EXPECT_EQ(fine.train.num_classes, 100);
  EXPECT_EQ(coarse.train.num_classes, 20);
  for (int64_t j = 0; j < 30; ++j) {
    EXPECT_EQ(fine.train.y[j].item<int64_t>(), (70 + j) % 100);
    EXPECT_EQ(coarse.train.y[j].item<int64_t>(), (70 + j) % 20);
  }
  // Two label bytes precede the pixels: pixel 0 of record 0 is byte 2 of the file.
  EXPECT_FLOAT_EQ(fine.train.x[0][0][0][0].item<float>(), pixel(70, 0) / 255.0f);
}

TEST(Cifar, ShortRecordBadLabelAndMissingFileAreDataErrors) {
  TempDir d("cifar");
  write_cifar10(d.path);
  auto bytes = records(3, 1, 0, label10);
  bytes.resize(bytes.size() - 100);  // the last record is cut
  test::write_bytes(d.path / "data_batch_2.bin", bytes);
  expect_error([&] { load_cifar(10, false, d.path.string()); }, ErrorKind::Data,
               {"data_batch_2.bin", "not a whole number of 3073-byte CIFAR records", "cut after 2973 bytes"});

  write_cifar10(d.path);
  bytes = records(3, 1, 0, label10);
  bytes[3073] = 10;  // record 1's label
  test::write_bytes(d.path / "test_batch.bin", bytes);
  expect_error([&] { load_cifar(10, false, d.path.string()); }, ErrorKind::Data,
               {"test_batch.bin", "record 1 has label 10", "outside [0, 10)"});

  // A CIFAR-100 file read as CIFAR-10: 3074-byte records are not whole 3073-byte records.
  write_cifar10(d.path);
  test::write_bytes(d.path / "data_batch_1.bin", records(2, 2, 0, label100));
  expect_error([&] { load_cifar(10, false, d.path.string()); }, ErrorKind::Data, {"data_batch_1.bin"});

  fs::remove(d.path / "data_batch_4.bin");
  expect_error([&] { load_cifar(10, false, d.path.string()); }, ErrorKind::Data,
               {"CIFAR-10 not found", "data_batch_4.bin", "cifar-10-binary.tar.gz", "PLEXUS_CIFAR10"});
  write_cifar10(d.path);
  test::write_bytes(d.path / "data_batch_4.bin", {});
  expect_error([&] { load_cifar(10, false, d.path.string()); }, ErrorKind::Data, {"data_batch_4.bin", "empty"});
}

TEST(Cifar, EnvironmentVariableAndPublishedNormalization) {
  TempDir d("cifar");
  write_cifar10(d.path);
  ::setenv(kCifar10Env, d.path.c_str(), 1);
  DataOptions o;
  o.dataset = "cifar10";
  const TrainTest tt = load_train_test(o, 0);  // path "" → $PLEXUS_CIFAR10
  ::unsetenv(kCifar10Env);
  // x = (v/255 − mean_c)/std_c with the reference code's CIFAR-10 constants.
  for (int64_t c = 0; c < 3; ++c) {
    const double want = (pixel(4, c * 1024 + 3 * 32 + 2) / 255.0 - kCifar10Mean[c]) / kCifar10Std[c];
    EXPECT_NEAR(tt.train.x[4][c][3][2].item<float>(), want, 1e-5);  // float32 rounding of a value of size ~2
  }
  EXPECT_EQ(tt.train.mean, std::vector<double>(kCifar10Mean.begin(), kCifar10Mean.end()));
  // Test images get the same normalization (the training set's statistics, never the test set's own).
  EXPECT_NEAR(tt.test.x[0][1][0][0].item<float>(), (pixel(100, 1024) / 255.0 - kCifar10Mean[1]) / kCifar10Std[1], 1e-5);
  // The augmentation padding is normalized black: (0 − mean)/std per channel.
  ASSERT_EQ(tt.train.augment.fill.size(), 3u);
  EXPECT_NEAR(tt.train.augment.fill[2], -kCifar10Mean[2] / kCifar10Std[2], 1e-6);
  EXPECT_FALSE(tt.train.augment.enabled());
  EXPECT_FALSE(tt.test.augment.enabled());
}
