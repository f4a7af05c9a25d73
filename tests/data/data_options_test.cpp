// The [data] keys added for the new sources: ranges and combinations are Error(Config) naming the key; user
// mean/std and normalize = false act as documented.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "plexus/data/federated.h"
#include "plexus/data/npz_dataset.h"

using namespace plexus;
using namespace plexus::data;
using plexus::test::expect_error;

namespace {

DataOptions parse(const std::string& text) {
  auto root = parse_toml(text);
  ConfigTable t(root["data"].as_table(), "data");
  return DataOptions::parse(t);
}

}  // namespace

TEST(DataOptionsSources, BadValuesNameTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[data]\ndataset = \"cifar\"\n", "dataset"},
      {"[data]\ncifar100_labels = \"super\"\n", "cifar100_labels"},
      {"[data]\nimage_channels = 2\n", "image_channels"},
      {"[data]\nimage_size = -1\n", "image_size"},
      {"[data]\ncrop_padding = 65\n", "crop_padding"},
      {"[data]\nmean = [0.5]\n", "std"},
      {"[data]\nmean = [0.5]\nstd = [0.0]\n", "std"},
      {"[data]\nhorizontal_flip = 1\n", "horizontal_flip"},
      {"[data]\npartition = \"natural\"\n", "partition"},
  };
  for (const auto& [text, key] : cases) expect_error([&] { parse(text); }, ErrorKind::Config, {key});
  const DataOptions o = parse("[data]\ndataset = \"cifar100\"\ncifar100_labels = \"coarse\"\ncrop_padding = 4\n"
                              "horizontal_flip = true\nmean = [0.5]\nstd = [0.25]\n");
  EXPECT_EQ(o.crop_padding, 4);
  EXPECT_TRUE(o.horizontal_flip);
  EXPECT_EQ(o.mean, std::vector<double>{0.5});
}

TEST(DataOptionsSources, UserStatisticsNormalizeOffAndCropLimit) {
  test::TempDir d("options");
  // 2 grey 2×2 images with pixels 0, 51, 102, 255 (uint8) and labels 0, 1.
  const std::vector<uint8_t> px = {0, 51, 102, 255, 0, 51, 102, 255};
  write_npz(d.path / "d.npz",
            {{"x_train", encode_npy("|u1", {2, 2, 2}, px)},
             {"y_train", encode_npy("|u1", {2}, {0, 1})},
             {"x_test", encode_npy("|u1", {2, 2, 2}, px)},
             {"y_test", encode_npy("|u1", {2}, {1, 0})}},
            false);
  DataOptions o;
  o.dataset = "npz";
  o.path = (d.path / "d.npz").string();
  o.mean = {0.2};
  o.std = {0.5};
  TrainTest tt = load_train_test(o, 0);
  EXPECT_FLOAT_EQ(tt.train.x[0][0][0][1].item<float>(), (51 / 255.0f - 0.2f) / 0.5f);  // (0.2 − 0.2)/0.5 = 0
  EXPECT_FLOAT_EQ(tt.test.x[1][0][1][1].item<float>(), (1.0f - 0.2f) / 0.5f);
  EXPECT_FLOAT_EQ(tt.train.augment.fill[0], -0.4f);  // normalized black
  o.mean.clear(), o.std.clear();
  o.normalize = false;
  tt = load_train_test(o, 0);
  EXPECT_FLOAT_EQ(tt.train.x[0][0][1][0].item<float>(), 102 / 255.0f);
  EXPECT_TRUE(tt.train.mean.empty());
  o.crop_padding = 2;  // not smaller than the 2×2 images
  expect_error([&] { load_train_test(o, 0); }, ErrorKind::Config, {"crop_padding = 2", "1x2x2"});
}
