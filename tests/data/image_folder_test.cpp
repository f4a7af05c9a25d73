// Image folders: PNG/BMP files written with stb_image_write (an encoder independent of the decoder under test)
// in the torchvision ImageFolder layout read back to the exact pixels and sorted-class labels; mixed sizes,
// non-image files and unknown test classes give the right errors; Tiny-ImageNet's val/ annotations work.
#include <gtest/gtest.h>

#if __has_include(<stb/stb_image_write.h>)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
#define HAVE_STB_WRITE 1
#endif

#include "data_test_util.h"
#include "plexus/data/federated.h"
#include "plexus/data/image_folder.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::expect_error;
using plexus::test::TempDir;
namespace fs = std::filesystem;

#if HAVE_STB_WRITE
namespace {

// Pixel (i, j, channel c) of image `seed`: a pattern that differs per image, row, column and channel.
uint8_t value(int seed, int i, int j, int c) { return static_cast<uint8_t>((seed * 31 + i * 17 + j * 5 + c * 80) % 256); }

void write_png(const fs::path& p, int seed, int h, int w, int comp = 3) {
  fs::create_directories(p.parent_path());
  std::vector<uint8_t> px;
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j)
      for (int c = 0; c < comp; ++c) px.push_back(value(seed, i, j, c));
  ASSERT_NE(stbi_write_png(p.c_str(), w, h, comp, px.data(), w * comp), 0) << p;
}

// train/{ant,bee,cat}, test/{bee,ant}: images named by their seed.
void write_tree(const fs::path& root) {
  write_png(root / "train/cat/c1.png", 1, 6, 5);
  write_png(root / "train/ant/a1.png", 2, 6, 5);
  write_png(root / "train/ant/sub/a2.png", 3, 6, 5);  // nested folders count (Tiny-ImageNet's <class>/images/)
  write_png(root / "train/bee/b1.png", 4, 6, 5);
  write_png(root / "test/bee/t1.png", 5, 6, 5);
  write_png(root / "test/ant/t2.png", 6, 6, 5);
}

}  // namespace

TEST(ImageFolder, PngsRoundTripWithSortedClassLabels) {
  TempDir d("imgdir");
  write_tree(d.path);
  test::write_text(d.path / "train/ant/a1_boxes.txt", "not an image, skipped like torchvision");
  test::write_text(d.path / "train/cat/.DS_Store", "hidden");
  std::vector<std::string> classes;
  const TrainTest tt = load_image_folder(d.path.string(), 3, 0, &classes);
  EXPECT_EQ(classes, (std::vector<std::string>{"ant", "bee", "cat"}));
  ASSERT_EQ(tt.train.x.sizes(), (std::vector<int64_t>{4, 3, 6, 5}));
  // Order: classes sorted, files sorted by path within a class: ant/a1, ant/sub/a2, bee/b1, cat/c1.
  const std::vector<int> seeds = {2, 3, 4, 1};
  const std::vector<int64_t> labels = {0, 0, 1, 2};
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_EQ(tt.train.y[k].item<int64_t>(), labels[static_cast<size_t>(k)]);
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 5; ++j)
          ASSERT_FLOAT_EQ(tt.train.x[k][c][i][j].item<float>(), value(seeds[static_cast<size_t>(k)], i, j, c) / 255.0f);
  }
  // test/ folders map to the training class indices (ant 0, bee 1).
  EXPECT_EQ(tt.test.y[0].item<int64_t>(), 0);
  EXPECT_EQ(tt.test.y[1].item<int64_t>(), 1);
  EXPECT_FLOAT_EQ(tt.test.x[0][2][1][1].item<float>(), value(6, 1, 1, 2) / 255.0f);
}

TEST(ImageFolder, GreyChannelsAndResize) {
  TempDir d("imgdir");
  write_tree(d.path);
  write_png(d.path / "train/bee/big.png", 9, 12, 10);  // a different size: resized with image_size
  const TrainTest grey = load_image_folder(d.path.string(), 1, 4);
  ASSERT_EQ(grey.train.x.sizes(), (std::vector<int64_t>{5, 1, 4, 4}));
  EXPECT_GE(grey.train.x.min().item<float>(), 0.0f);
  EXPECT_LE(grey.train.x.max().item<float>(), 1.0f);
  // A constant image stays constant under resizing (bilinear weights sum to 1). Files sort as a1, sub/a2, b1,
  // big, c1, const, so it is sample 5.
  std::vector<uint8_t> flat(9 * 7, 200);
  ASSERT_NE(stbi_write_png((d.path / "train/cat/const.png").c_str(), 7, 9, 1, flat.data(), 7), 0);
  const TrainTest r = load_image_folder(d.path.string(), 1, 4);
  ASSERT_EQ(r.train.size(), 6);
  EXPECT_TRUE(torch::allclose(r.train.x[5], torch::full({1, 4, 4}, 200 / 255.0f), 0, 1e-6)) << r.train.x[5];
  EXPECT_EQ(r.train.y[5].item<int64_t>(), 2);
}

TEST(ImageFolder, MixedSizesNonImagesAndUnknownClassesAreDataErrors) {
  TempDir d("imgdir");
  write_tree(d.path);
  write_png(d.path / "train/cat/c2.png", 7, 8, 5);
  expect_error([&] { load_image_folder(d.path.string(), 3, 0); }, ErrorKind::Data,
               {"mixed image sizes", "c2.png is 5x8", "data.image_size"});
  fs::remove(d.path / "train/cat/c2.png");
  test::write_text(d.path / "train/bee/notes.png", "this is text, not a PNG");
  expect_error([&] { load_image_folder(d.path.string(), 3, 0); }, ErrorKind::Data,
               {"notes.png", "not a readable image"});
  fs::remove(d.path / "train/bee/notes.png");
  write_png(d.path / "test/dog/x.png", 8, 6, 5);
  expect_error([&] { load_image_folder(d.path.string(), 3, 0); }, ErrorKind::Data,
               {"class folder 'dog' does not exist in the training folder"});
  fs::remove_all(d.path / "test/dog");
  fs::create_directories(d.path / "train/emu");
  expect_error([&] { load_image_folder(d.path.string(), 3, 0); }, ErrorKind::Data, {"emu", "holds no image"});
  expect_error([&] { load_image_folder((d.path / "nowhere").string(), 3, 0); }, ErrorKind::Data,
               {"image folder not found", "train/<class>"});
}

TEST(ImageFolder, TinyImagenetValAnnotations) {
  TempDir d("imgdir");
  write_png(d.path / "train/n01/images/n01_0.JPEG.png", 1, 4, 4);
  write_png(d.path / "train/n02/images/n02_0.png", 2, 4, 4);
  write_png(d.path / "val/images/val_0.png", 3, 4, 4);
  write_png(d.path / "val/images/val_1.png", 4, 4, 4);
  test::write_text(d.path / "val/val_annotations.txt", "val_0.png\tn02\t0\t0\t3\t3\nval_1.png\tn01\t1\t1\t2\t2\n");
  const TrainTest tt = load_image_folder(d.path.string(), 3, 0);
  ASSERT_EQ(tt.test.size(), 2);
  EXPECT_EQ(tt.test.y[0].item<int64_t>(), 1);
  EXPECT_EQ(tt.test.y[1].item<int64_t>(), 0);
  EXPECT_FLOAT_EQ(tt.test.x[1][0][2][3].item<float>(), value(4, 2, 3, 0) / 255.0f);
}

TEST(ImageFolder, ThroughDataOptionsWithComputedNormalization) {
  TempDir d("imgdir");
  write_tree(d.path);
  DataOptions o;
  o.dataset = "image_folder";
  o.path = d.path.string();
  const TrainTest tt = load_train_test(o, 0);
  // Per-channel statistics of the training split itself: afterwards mean 0 and std 1 in every channel.
  for (int64_t c = 0; c < 3; ++c) {
    auto ch = tt.train.x.select(1, c);
    EXPECT_NEAR(ch.mean().item<double>(), 0.0, 1e-5);
    EXPECT_NEAR(ch.std(/*unbiased=*/false).item<double>(), 1.0, 1e-5);
  }
}
#else
TEST(ImageFolder, NeedsStbImageWrite) { GTEST_SKIP() << "libstb-dev (stb_image_write.h) not installed"; }
#endif
