// IDX reader: round trips (gzip and plain), and every kind of damaged file gives Error(Data) naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "plexus/core/error.h"
#include "plexus/data/fashion_mnist.h"
#include "plexus/data/idx_reader.h"

using namespace plexus;
using namespace plexus::data;
namespace fs = std::filesystem;

namespace {

// A fresh temporary directory per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / fmt::format("plexus_idx_test_{}_{}", ::getpid(), counter()++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Expect Error(Data) whose message names the file.
template <class F> void expect_data_error(F&& f, const fs::path& file, const std::string& needle) {
  try {
    f();
    FAIL() << "no error for " << file;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data) << e.what();
    EXPECT_NE(std::string(e.what()).find(file.filename().string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  return v;
}

}  // namespace

TEST(IdxReader, PlainFileHasExactHandEncodedLayout) {
  TempDir d;
  write_idx(d.path / "a.idx", {2, 3}, {1, 2, 3, 4, 5, 6}, /*gzip=*/false);
  // magic 00 00 08 02, dims 2 and 3 big-endian, then the 6 bytes: 4 + 8 + 6 = 18 bytes.
  const std::vector<uint8_t> expected = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(read_bytes(d.path / "a.idx"), expected);
  const IdxArray a = read_idx(d.path / "a.idx", 2);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.bytes, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
}

TEST(IdxReader, GzipAndPlainRoundTripAndGzipIsDetectedByContent) {
  TempDir d;
  const auto data = ramp(5 * 7 * 3);
  write_idx(d.path / "x.gz", {5, 7, 3}, data, true);
  write_idx(d.path / "x_no_suffix", {5, 7, 3}, data, true);  // gzip under a name without .gz
  write_idx(d.path / "x.plain", {5, 7, 3}, data, false);
  const auto gz = read_bytes(d.path / "x.gz");
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(gz[0], 0x1f);  // gzip magic: the file really is compressed
  EXPECT_EQ(gz[1], 0x8b);
  for (const char* name : {"x.gz", "x_no_suffix", "x.plain"}) {
    const IdxArray a = read_idx(d.path / name, 3);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{5, 7, 3})) << name;
    EXPECT_EQ(a.numel(), 105) << name;
    EXPECT_EQ(a.bytes, data) << name;
  }
}

TEST(IdxReader, LargeFileRoundTripsAcrossReadChunks) {
  TempDir d;
  const auto data = ramp(9u << 20);  // 9 MiB: more than two 4 MiB read chunks
  write_idx(d.path / "big.gz", {9, 1024, 1024}, data, true);
  const IdxArray a = read_idx(d.path / "big.gz", 3);
  EXPECT_EQ(a.bytes, data);
}

TEST(IdxReader, BadMagicIsDataError) {
  TempDir d;
  write_bytes(d.path / "bad", {0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 7});
  expect_data_error([&] { read_idx(d.path / "bad", 1); }, d.path / "bad", "not an IDX file");
}

TEST(IdxReader, UnsupportedElementTypeIsDataError) {
  TempDir d;
  write_bytes(d.path / "f32", {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0});  // one float32
  expect_data_error([&] { read_idx(d.path / "f32", 1); }, d.path / "f32", "float32");
}

TEST(IdxReader, WrongDimensionCountIsDataError) {
  TempDir d;
  write_idx(d.path / "labels.gz", {4}, {0, 1, 2, 3}, true);
  expect_data_error([&] { read_idx(d.path / "labels.gz", 3); }, d.path / "labels.gz", "expected 3");
}

TEST(IdxReader, TruncatedPlainFileIsDataError) {
  TempDir d;
  write_idx(d.path / "t", {4, 5}, ramp(20), false);
  auto b = read_bytes(d.path / "t");
  b.resize(b.size() - 3);
  write_bytes(d.path / "t", b);
  expect_data_error([&] { read_idx(d.path / "t", 2); }, d.path / "t", "only 17 are present");
  // A file cut inside the header.
  write_bytes(d.path / "h", {0, 0, 8, 3, 0, 0});
  expect_data_error([&] { read_idx(d.path / "h", 3); }, d.path / "h", "truncated IDX header");
}

TEST(IdxReader, TruncatedGzipIsDataError) {
  TempDir d;
  write_idx(d.path / "t.gz", {64, 64}, ramp(64 * 64), true);
  auto b = read_bytes(d.path / "t.gz");
  b.resize(b.size() / 2);
  write_bytes(d.path / "t.gz", b);
  expect_data_error([&] { read_idx(d.path / "t.gz", 2); }, d.path / "t.gz", "");
}

TEST(IdxReader, GzipWithOnlyTrailerCutIsDataError) {
  // All data inflates, but the 8-byte CRC/size trailer is missing: zlib must report the stream as cut.
  TempDir d;
  write_idx(d.path / "t.gz", {3, 3}, ramp(9), true);
  auto b = read_bytes(d.path / "t.gz");
  b.resize(b.size() - 4);
  write_bytes(d.path / "t.gz", b);
  expect_data_error([&] { read_idx(d.path / "t.gz", 2); }, d.path / "t.gz", "gzip");
}

TEST(IdxReader, CorruptGzipIsDataError) {
  TempDir d;
  write_idx(d.path / "c.gz", {64, 64}, ramp(64 * 64), true);
  auto b = read_bytes(d.path / "c.gz");
  for (size_t i = 20; i < 40 && i + 8 < b.size(); ++i) b[i] ^= 0xA5;  // damage the deflate data
  write_bytes(d.path / "c.gz", b);
  expect_data_error([&] { read_idx(d.path / "c.gz", 2); }, d.path / "c.gz", "");
}

TEST(IdxReader, TrailingBytesAreDataError) {
  TempDir d;
  write_idx(d.path / "x", {2}, {1, 2}, false);
  auto b = read_bytes(d.path / "x");
  b.push_back(9);
  write_bytes(d.path / "x", b);
  expect_data_error([&] { read_idx(d.path / "x", 1); }, d.path / "x", "longer than its header");
}

TEST(IdxReader, MissingFileIsIoError) {
  TempDir d;
  try {
    read_idx(d.path / "nope.gz");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("nope.gz"), std::string::npos);
  }
}

// --- Fashion-MNIST loader on tiny hand-made files ---

namespace {
// Writes a miniature Fashion-MNIST (n_train, n_test images of 28x28) into dir, gzip or plain names.
void write_tiny_fashion(const fs::path& dir, int64_t n_train, int64_t n_test, bool gzip) {
  const std::string ext = gzip ? ".gz" : "";
  for (auto [prefix, n] : {std::pair{"train", n_train}, std::pair{"t10k", n_test}}) {
    std::vector<uint8_t> px(static_cast<size_t>(n * 28 * 28)), lb(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      lb[j] = static_cast<uint8_t>(j % 10);
      for (int64_t k = 0; k < 28 * 28; ++k) px[j * 784 + k] = (k % 2 == 0) ? 0 : 255;  // alternating 0/255
    }
    write_idx(dir / (std::string(prefix) + "-images-idx3-ubyte" + ext), {n, 28, 28}, px, gzip);
    write_idx(dir / (std::string(prefix) + "-labels-idx1-ubyte" + ext), {n}, lb, gzip);
  }
}
}  // namespace

TEST(FashionMnist, LoadsTinyFilesAndNormalizesWithPublishedMeanStd) {
  for (bool gzip : {true, false}) {
    TempDir d;
    write_tiny_fashion(d.path, 12, 5, gzip);
    const TrainTest tt = load_fashion_mnist(d.path.string());
    EXPECT_EQ(tt.train.x.sizes().vec(), (std::vector<int64_t>{12, 1, 28, 28}));
    EXPECT_EQ(tt.test.x.sizes().vec(), (std::vector<int64_t>{5, 1, 28, 28}));
    EXPECT_EQ(tt.train.x.scalar_type(), torch::kFloat);
    EXPECT_EQ(tt.train.y.scalar_type(), torch::kLong);
    EXPECT_EQ(tt.train.num_classes, 10);
    EXPECT_EQ(tt.train.y[11].item<int64_t>(), 1);  // label 11 % 10
    // (0/255 - 0.2860)/0.3530 = -0.810198…, (255/255 - 0.2860)/0.3530 = 2.022663…; float32 rounding 1e-5.
    EXPECT_NEAR(tt.train.x[0][0][0][0].item<float>(), -0.286 / 0.353, 1e-5);
    EXPECT_NEAR(tt.train.x[0][0][0][1].item<float>(), (1 - 0.286) / 0.353, 1e-5);
  }
}

TEST(FashionMnist, MismatchedCountsAndBadLabelsAndSizesAreDataErrors) {
  TempDir d;
  write_tiny_fashion(d.path, 6, 4, true);
  write_idx(d.path / "train-labels-idx1-ubyte.gz", {5}, {0, 1, 2, 3, 4}, true);  // 6 images, 5 labels
  expect_data_error([&] { load_fashion_mnist(d.path.string()); }, d.path / "train-images-idx3-ubyte.gz",
                    "5 labels");
  write_idx(d.path / "train-labels-idx1-ubyte.gz", {6}, {0, 1, 2, 3, 4, 10}, true);  // label 10 of 10 classes
  expect_data_error([&] { load_fashion_mnist(d.path.string()); }, d.path / "train-labels-idx1-ubyte.gz",
                    "label 10");
  write_idx(d.path / "train-labels-idx1-ubyte.gz", {6}, {0, 1, 2, 3, 4, 5}, true);
  write_idx(d.path / "train-images-idx3-ubyte.gz", {6, 27, 28}, std::vector<uint8_t>(6 * 27 * 28), true);
  expect_data_error([&] { load_fashion_mnist(d.path.string()); }, d.path / "train-images-idx3-ubyte.gz",
                    "27x28");
}

TEST(FashionMnist, MissingDatasetNamesDebianPackageAndSettings) {
  TempDir d;
  for (const fs::path& dir : {d.path / "absent", d.path}) {  // a missing directory, then an empty one
    try {
      load_fashion_mnist(dir.string());
      FAIL();
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::Data) << m;
      EXPECT_NE(m.find("dataset-fashion-mnist"), std::string::npos) << m;
      EXPECT_NE(m.find("PLEXUS_FASHION_MNIST"), std::string::npos) << m;
      EXPECT_NE(m.find("[data] path"), std::string::npos) << m;
    }
  }
}

TEST(FashionMnist, EnvironmentVariableOverridesDefaultAndConfigOverridesEnvironment) {
  TempDir d;
  write_tiny_fashion(d.path, 3, 2, false);
  ::setenv(kFashionMnistEnv, d.path.c_str(), 1);
  std::string src;
  EXPECT_EQ(resolve_fashion_mnist_dir("", &src), d.path);
  EXPECT_NE(src.find("PLEXUS_FASHION_MNIST"), std::string::npos);
  EXPECT_EQ(load_fashion_mnist("").train.size(), 3);
  EXPECT_EQ(resolve_fashion_mnist_dir("/some/where"), fs::path("/some/where"));
  ::unsetenv(kFashionMnistEnv);
  EXPECT_EQ(resolve_fashion_mnist_dir(""), fs::path(kFashionMnistDefaultDir));
}

TEST(FashionMnist, DebianCopyHasPublishedCountsAndClassBalance) {
  // Xiao et al. 2017: 60,000 training and 10,000 test images, 6,000 / 1,000 per class.
  if (!fs::exists(fs::path(kFashionMnistDefaultDir) / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
  const TrainTest tt = load_fashion_mnist(kFashionMnistDefaultDir);
  ASSERT_EQ(tt.train.size(), 60000);
  ASSERT_EQ(tt.test.size(), 10000);
  EXPECT_EQ(tt.train.x.sizes().vec(), (std::vector<int64_t>{60000, 1, 28, 28}));
  auto bc_train = torch::bincount(tt.train.y);
  auto bc_test = torch::bincount(tt.test.y);
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(bc_train[c].item<int64_t>(), 6000);
    EXPECT_EQ(bc_test[c].item<int64_t>(), 1000);
  }
  // The normalization constants are the training set's mean/std, so the normalized training pixels have
  // mean ≈ 0 and std ≈ 1 (the constants are rounded to 4 digits: tolerance 2e-3 on mean, 5e-3 on std).
  EXPECT_NEAR(tt.train.x.mean().item<double>(), 0.0, 2e-3);
  EXPECT_NEAR(tt.train.x.std().item<double>(), 1.0, 5e-3);
}
