// NumPy .npy/.npz: a hand-encoded .npy header, stored and deflated .npz archives round-trip to the expected
// tensors, numpy's own files (when python3-numpy is installed) read back exactly, and damaged or unsupported
// files give Error(Data) saying what is wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "data_test_util.h"
#include "plexus/data/federated.h"
#include "plexus/data/npz_dataset.h"
#include "plexus/data/numpy_reader.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::expect_error;
using plexus::test::TempDir;
namespace fs = std::filesystem;

namespace {

template <class T> std::vector<uint8_t> raw(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// x: N=3 images 2x2 with C=2 channels, uint8, value 10·n + 4·h + 2·w + c; y = {2, 0, 1}.
std::vector<uint8_t> x_nhwc() {
  std::vector<uint8_t> v;
  for (int n = 0; n < 3; ++n)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 2; ++w)
        for (int c = 0; c < 2; ++c) v.push_back(static_cast<uint8_t>(10 * n + 4 * h + 2 * w + c));
  return v;
}

}  // namespace

TEST(Npy, HandEncodedVersion1HeaderParses) {
  // numpy.save(f, numpy.array([[1.5, -2, 0], [4, 5, 6]], dtype='<f4')) writes exactly this header.
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(h.size()), 0};
  b.insert(b.end(), h.begin(), h.end());
  const auto data = raw(std::vector<float>{1.5f, -2, 0, 4, 5, 6});
  b.insert(b.end(), data.begin(), data.end());
  const NpyArray a = parse_npy(b, "hand.npy");
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  const auto t = a.to_tensor();
  EXPECT_EQ(t.dtype(), torch::kFloat);
  EXPECT_FLOAT_EQ(t[0][0].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(t[0][1].item<float>(), -2.0f);
  EXPECT_FLOAT_EQ(t[1][2].item<float>(), 6.0f);
  // Our encoder writes the same bytes.
  EXPECT_EQ(encode_npy("<f4", {2, 3}, data), b);
  // Unsigned 16-bit labels widen to int64; a 1-element shape is written "(3,)".
  const NpyArray u = parse_npy(encode_npy("<u2", {3}, raw(std::vector<uint16_t>{7, 65535, 0})), "u2");
  EXPECT_EQ(u.to_tensor()[1].item<int64_t>(), 65535);
}

TEST(Npy, BrokenFilesAreDataErrors) {
  const auto good = encode_npy("|u1", {2, 2}, {1, 2, 3, 4});
  auto cut = good;
  cut.pop_back();
  expect_error([&] { parse_npy(cut, "cut.npy"); }, ErrorKind::Data, {"cut.npy", "truncated"});
  auto extra = good;
  extra.push_back(0);
  expect_error([&] { parse_npy(extra, "extra.npy"); }, ErrorKind::Data, {"extra.npy", "trailing"});
  auto magic = good;
  magic[1] = 'X';
  expect_error([&] { parse_npy(magic, "m.npy"); }, ErrorKind::Data, {"m.npy", "NUMPY"});
  auto fortran = encode_npy("|u1", {2, 2}, {1, 2, 3, 4});
  const std::string f = "False";
  auto at = std::search(fortran.begin(), fortran.end(), f.begin(), f.end());
  std::memcpy(&*at, "True ", 5);
  expect_error([&] { parse_npy(fortran, "f.npy"); }, ErrorKind::Data, {"Fortran", "ascontiguousarray"});
  expect_error([&] { parse_npy(encode_npy(">f4", {1}, {0, 0, 0, 0}), "be.npy"); }, ErrorKind::Data, {"big-endian"});
  expect_error([&] { parse_npy(encode_npy("<c8", {1}, std::vector<uint8_t>(8)), "c.npy"); }, ErrorKind::Data,
               {"dtype '<c8' is not supported"});
}

TEST(Npz, StoredAndDeflatedArchivesLoadAsNchwImages) {
  for (bool deflate : {false, true}) {
    TempDir d("npz");
    const fs::path file = d.path / "mine.npz";
    write_npz(file,
              {{"x_train", encode_npy("|u1", {3, 2, 2, 2}, x_nhwc())},
               {"y_train", encode_npy("<i8", {3}, raw(std::vector<int64_t>{2, 0, 1}))},
               {"x_test", encode_npy("|u1", {3, 2, 2, 2}, x_nhwc())},
               {"y_test", encode_npy("<i4", {3}, raw(std::vector<int32_t>{4, 4, 0}))}},
              deflate);
    const TrainTest tt = load_npz_dataset(file.string());
    ASSERT_EQ(tt.train.x.sizes(), (std::vector<int64_t>{3, 2, 2, 2}));
    EXPECT_EQ(tt.train.num_classes, 5);  // the largest label over train and test is 4
    // NHWC → NCHW, uint8 divided by 255.
    for (int n = 0; n < 3; ++n)
      for (int c = 0; c < 2; ++c)
        for (int h = 0; h < 2; ++h)
          for (int w = 0; w < 2; ++w)
            EXPECT_FLOAT_EQ(tt.train.x[n][c][h][w].item<float>(), (10 * n + 4 * h + 2 * w + c) / 255.0f);
    EXPECT_EQ(tt.train.y[0].item<int64_t>(), 2);
    EXPECT_EQ(tt.test.y[1].item<int64_t>(), 4);
  }
}

TEST(Npz, DirectoryLayoutsFloatImagesAndBadArrays) {
  TempDir d("npz");
  // train.npz / test.npz with x, y; float32 [N,H,W] images are taken as they are.
  const std::vector<float> xf = {0.25f, -1, 2, 3, 4, 5, 6, 7};
  write_npz(d.path / "train.npz",
            {{"x", encode_npy("<f4", {2, 2, 2}, raw(xf))}, {"y", encode_npy("|u1", {2}, {1, 0})}}, true);
  write_npz(d.path / "test.npz", {{"x", encode_npy("<f4", {1, 2, 2}, raw(std::vector<float>(4, 1.0f)))},
                                  {"y", encode_npy("|u1", {1}, {1})}},
            false);
  TrainTest tt = load_npz_dataset(d.path.string());
  ASSERT_EQ(tt.train.x.sizes(), (std::vector<int64_t>{2, 1, 2, 2}));
  EXPECT_FLOAT_EQ(tt.train.x[0][0][0][1].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(tt.train.x[1][0][1][1].item<float>(), 7.0f);

  // Negative labels, mismatched counts, int32 images, a missing member.
  auto bad = [&](const std::map<std::string, std::vector<uint8_t>>& m, std::vector<std::string> needles) {
    TempDir e("npz");
    write_npz(e.path / "b.npz", m, false);
    expect_error([&] { load_npz_dataset((e.path / "b.npz").string()); }, ErrorKind::Data, needles);
  };
  const auto x1 = encode_npy("|u1", {1, 2, 2}, {0, 0, 0, 0});
  const auto y1 = encode_npy("<i8", {1}, raw(std::vector<int64_t>{0}));
  bad({{"x_train", x1}, {"y_train", encode_npy("<i8", {1}, raw(std::vector<int64_t>{-3}))}, {"x_test", x1},
       {"y_test", y1}},
      {"label -3 is negative"});
  bad({{"x_train", x1}, {"y_train", encode_npy("<i8", {2}, raw(std::vector<int64_t>{0, 1}))}, {"x_test", x1},
       {"y_test", y1}},
      {"b.npz (train): x holds 1 images but y holds 2 labels", "one row per sample"});
  bad({{"x_train", encode_npy("<i4", {1, 1, 1}, {0, 0, 0, 0})}, {"y_train", y1}, {"x_test", x1}, {"y_test", y1}},
      {"dtype '<i4'", "uint8 (0..255) or float32"});
  bad({{"x_train", x1}, {"y_train", y1}, {"x_test", x1}}, {"no array 'y_test'", "x_test, x_train, y_train"});
  bad({{"x_train", x1}, {"y_train", encode_npy("<f4", {1}, {0, 0, 0, 0})}, {"x_test", x1}, {"y_test", y1}},
      {"must be integers"});
  expect_error([&] { load_npz_dataset((d.path / "none").string()); }, ErrorKind::Data,
               {"NumPy data set not found", "x_train, y_train, x_test, y_test"});
}

TEST(Npz, DamagedArchivesAreDataErrors) {
  TempDir d("npz");
  const fs::path f = d.path / "a.npz";
  write_npz(f, {{"x", encode_npy("|u1", {64}, std::vector<uint8_t>(64, 7))}}, true);
  auto bytes = read_file_bytes(f);
  // Flip a byte of the compressed data (it starts after the 30-byte local header and the 5-byte name "x.npy").
  auto broken = bytes;
  broken[30 + 5 + 3] ^= 0x5a;
  test::write_bytes(f, broken);
  expect_error([&] { read_npz(f); }, ErrorKind::Data, {"a.npz: member x.npy"});
  // Cut the archive: no end-of-central-directory record.
  test::write_bytes(f, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 40));
  expect_error([&] { read_npz(f); }, ErrorKind::Data, {"not a zip/.npz archive"});
  // A stored member whose CRC no longer matches.
  write_npz(f, {{"x", encode_npy("|u1", {64}, std::vector<uint8_t>(64, 7))}}, false);
  bytes = read_file_bytes(f);
  bytes[30 + 5 + 128 + 10] ^= 1;  // a data byte (header is 128 bytes)
  test::write_bytes(f, bytes);
  expect_error([&] { read_npz(f); }, ErrorKind::Data, {"CRC-32 mismatch"});
}

// Files written by numpy itself (savez and savez_compressed), when python3 with numpy is available.
TEST(Npz, FilesWrittenByNumpyReadBackExactly) {
  TempDir d("npz");
  std::string out;
  const std::string py =
      "import numpy as np\n"
      "x = (np.arange(5*3*4*3) % 251).astype(np.uint8).reshape(5, 3, 4, 3)\n"
      "y = np.array([0, 3, 1, 2, 3], dtype=np.int64)\n"
      "np.savez('" + (d.path / "s.npz").string() + "', x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])\n"
      "np.savez_compressed('" + (d.path / "c.npz").string() + "', x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])\n";
  test::write_text(d.path / "w.py", py);
  // Debian's python3-numpy lives under /usr/bin/python3 (a python3 earlier on PATH may lack numpy).
  if (test::run_command("python3 " + (d.path / "w.py").string(), out) != 0 &&
      test::run_command("/usr/bin/python3 " + (d.path / "w.py").string(), out) != 0) {
    GTEST_SKIP() << "python3 with numpy not available: " << out;
  }
  for (const char* name : {"s.npz", "c.npz"}) {
    const TrainTest tt = load_npz_dataset((d.path / name).string());
    ASSERT_EQ(tt.train.x.sizes(), (std::vector<int64_t>{5, 3, 3, 4})) << name;
    for (int64_t n = 0; n < 5; ++n)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 4; ++w)
          for (int64_t c = 0; c < 3; ++c) {
            const int64_t flat = ((n * 3 + h) * 4 + w) * 3 + c;
            ASSERT_FLOAT_EQ(tt.train.x[n][c][h][w].item<float>(), static_cast<float>(flat % 251) / 255.0f) << name;
          }
    EXPECT_EQ(tt.train.y[1].item<int64_t>(), 3);
    EXPECT_EQ(tt.train.num_classes, 4);
  }
}
