// EMNIST: IDX files written by the test read back with each split's label range (letters are 1-based), the
// transposed storage order turned back to MNIST orientation, and bad label ranges rejected.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "plexus/data/emnist.h"
#include "plexus/data/federated.h"
#include "plexus/data/idx_reader.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::expect_error;
using plexus::test::TempDir;
namespace fs = std::filesystem;

namespace {

// n images, image j with one bright pixel at STORED position (row j % 28, column (3j + 1) % 28), labels given.
void write_split(const fs::path& dir, const std::string& split, const std::string& part,
                 const std::vector<uint8_t>& labels, bool gzip) {
  const auto n = static_cast<int64_t>(labels.size());
  fs::create_directories(dir);
  std::vector<uint8_t> im(static_cast<size_t>(n * 28 * 28), 0);
  for (int64_t j = 0; j < n; ++j) im[static_cast<size_t>(j * 784 + (j % 28) * 28 + (3 * j + 1) % 28)] = 255;
  const std::string p = "emnist-" + split + "-" + part + "-";
  const std::string gz = gzip ? ".gz" : "";
  write_idx(dir / (p + "images-idx3-ubyte" + gz), {n, 28, 28}, im, gzip);
  write_idx(dir / (p + "labels-idx1-ubyte" + gz), {n}, labels, gzip);
}

}  // namespace

TEST(Emnist, LettersAreOneBasedAndImagesAreTransposedBack) {
  TempDir d("emnist");
  const fs::path dir = d.path / "gzip";  // the folder of the unzipped gzip.zip
  std::vector<uint8_t> labels;
  for (int j = 0; j < 52; ++j) labels.push_back(static_cast<uint8_t>(1 + j % 26));  // a..z = 1..26
  write_split(dir, "letters", "train", labels, true);
  write_split(dir, "letters", "test", {26, 1, 13}, false);  // plain (uncompressed) files work too
  const TrainTest tt = load_emnist("letters", d.path.string());
  EXPECT_EQ(tt.train.num_classes, 26);
  ASSERT_EQ(tt.train.x.sizes(), (std::vector<int64_t>{52, 1, 28, 28}));
  for (int64_t j = 0; j < 52; ++j) EXPECT_EQ(tt.train.y[j].item<int64_t>(), j % 26);  // 'a' → 0
  EXPECT_EQ(tt.test.y[0].item<int64_t>(), 25);
  EXPECT_EQ(tt.test.y[1].item<int64_t>(), 0);
  // Stored at (row r, column c) → shown at (row c, column r), the MNIST orientation.
  for (int64_t j : {0, 5, 30}) {
    const int64_t r = j % 28, c = (3 * j + 1) % 28;
    EXPECT_EQ(tt.train.x[j][0][c][r].item<float>(), 1.0f) << j;
    EXPECT_EQ(tt.train.x[j].sum().item<float>(), 1.0f) << j;  // the only bright pixel
  }
}

TEST(Emnist, EverySplitHasItsLabelRange) {
  struct Case {
    const char* split;
    int64_t classes, first;
  };
  for (const Case& k : {Case{"byclass", 62, 0}, Case{"bymerge", 47, 0}, Case{"balanced", 47, 0},
                        Case{"letters", 26, 1}, Case{"digits", 10, 0}, Case{"mnist", 10, 0}}) {
    const EmnistSplit s = emnist_split(k.split);
    EXPECT_EQ(s.classes, k.classes) << k.split;
    EXPECT_EQ(s.first_label, k.first) << k.split;
    TempDir d("emnist");
    // The extreme labels of the range load; one past the end does not.
    const auto lo = static_cast<uint8_t>(k.first), hi = static_cast<uint8_t>(k.first + k.classes - 1);
    write_split(d.path, k.split, "train", {lo, hi, lo}, true);
    write_split(d.path, k.split, "test", {hi}, true);
    const TrainTest tt = load_emnist(k.split, d.path.string());
    EXPECT_EQ(tt.train.y[1].item<int64_t>(), k.classes - 1) << k.split;
    write_split(d.path, k.split, "test", {static_cast<uint8_t>(hi + 1)}, true);
    expect_error([&] { load_emnist(k.split, d.path.string()); }, ErrorKind::Data,
                 {"test-labels", fmt::format("label {} of sample 0 is outside {}..{}", hi + 1, lo, hi)});
  }
}

TEST(Emnist, LetterLabelZeroUnknownSplitAndMissingFiles) {
  TempDir d("emnist");
  write_split(d.path, "letters", "train", {1, 0, 2}, true);
  write_split(d.path, "letters", "test", {1}, true);
  expect_error([&] { load_emnist("letters", d.path.string()); }, ErrorKind::Data,
               {"label 0 of sample 1 is outside 1..26", "letters are labelled 1..26"});
  expect_error([&] { load_emnist("kanji", d.path.string()); }, ErrorKind::Config, {"kanji", "balanced"});
  expect_error([&] { load_emnist("digits", d.path.string()); }, ErrorKind::Data,
               {"EMNIST not found", "emnist-digits-train-images-idx3-ubyte", "nist.gov", "PLEXUS_EMNIST"});
  // Through [data]: emnist_split is checked at parse time.
  auto root = parse_toml("[data]\ndataset = \"emnist\"\nemnist_split = \"lettres\"\n");
  ConfigTable t(root["data"].as_table(), "data");
  expect_error([&] { DataOptions::parse(t); }, ErrorKind::Config, {"emnist_split", "letters"});
}
