// Augmentation: random crop with padding and horizontal flip worked by hand on a 4×4 image with a fixed stream.
#include <gtest/gtest.h>

#include "plexus/data/augment.h"

using namespace plexus;
using namespace plexus::data;

namespace {

// Two 1-channel 4×4 images: image b has pixel (i, j) = 16b + 4i + j.
torch::Tensor images() { return torch::arange(32, torch::kFloat).view({2, 1, 4, 4}); }

}  // namespace

TEST(Augment, CropWithPaddingAndFlipByHand) {
  AugmentOptions o;
  o.crop_padding = 1;
  o.horizontal_flip = true;
  o.fill = {-7.0f};
  Rng rng(11, "augment_test", 3, 2);
  const auto out = augment_batch(images(), o, rng);
  // The same stream, drawn in the documented order: per sample dy, dx ~ {0,1,2}, then flip ~ {0,1}.
  Rng ref(11, "augment_test", 3, 2);
  for (int64_t b = 0; b < 2; ++b) {
    const auto dy = static_cast<int64_t>(ref.below(3)), dx = static_cast<int64_t>(ref.below(3));
    const bool flip = ref.below(2) == 1;
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t j = 0; j < 4; ++j) {
        // Output (i, j) reads padded (dy + i, dx + j') with j' = 3 − j when flipped; padded (r, c) is the image's
        // (r − 1, c − 1) inside and the fill outside.
        const int64_t r = dy + i - 1, c = dx + (flip ? 3 - j : j) - 1;
        const float want = (r < 0 || r > 3 || c < 0 || c > 3) ? -7.0f : static_cast<float>(16 * b + 4 * r + c);
        EXPECT_EQ(out[b][0][i][j].item<float>(), want) << b << " " << i << " " << j;
      }
    }
  }
  EXPECT_EQ(rng(), ref());  // exactly 3 draws per sample were used
}

TEST(Augment, HandWorkedCase) {
  // One image, padding 1: with dy = 0, dx = 2 and a flip, output row 0 is the fill (padded row 0) and output
  // row 1 is image row 0 read at padded columns 2+3, 2+2, 2+1, 2+0 → image columns 4(fill), 3, 2, 1.
  AugmentOptions o;
  o.crop_padding = 1;
  o.horizontal_flip = true;
  // Find a stream whose first draws are (0, 2, 1), then check the output against the numbers written above.
  for (uint64_t key = 0; key < 1000; ++key) {
    Rng probe(key);
    if (probe.below(3) != 0 || probe.below(3) != 2 || probe.below(2) != 1) continue;
    Rng rng(key);
    const auto out = augment_batch(images().narrow(0, 0, 1), o, rng);
    const auto want = torch::tensor({0.f, 0.f, 0.f, 0.f, 0.f, 3.f, 2.f, 1.f, 0.f, 7.f, 6.f, 5.f, 0.f, 11.f, 10.f, 9.f})
                          .view({1, 1, 4, 4});
    EXPECT_TRUE(torch::equal(out, want)) << out;
    return;
  }
  FAIL() << "no stream in 1000 keys starts with (0, 2, 1)";
}

TEST(Augment, OffIsIdentityAndFlipOnlyMirrorsOrKeeps) {
  Rng rng(1, "augment_test");
  const auto x = images();
  EXPECT_TRUE(torch::equal(augment_batch(x, AugmentOptions{}, rng), x));
  Rng untouched(1, "augment_test");
  EXPECT_EQ(rng(), untouched());  // no draws when off
  AugmentOptions flip;
  flip.horizontal_flip = true;
  const auto y = augment_batch(torch::arange(64 * 16, torch::kFloat).view({64, 1, 4, 4}), flip, rng);
  int flipped = 0;
  for (int64_t b = 0; b < 64; ++b) {
    const auto xb = torch::arange(16, torch::kFloat).view({1, 4, 4}).add(16 * b);
    const bool same = torch::equal(y[b], xb), mirrored = torch::equal(y[b], xb.flip({2}));
    EXPECT_TRUE(same || mirrored) << b;
    flipped += mirrored;
  }
  // P(flip) = 1/2: 64 draws give 32 ± 4 (one std); 16..48 holds with probability > 0.9999.
  EXPECT_GT(flipped, 16);
  EXPECT_LT(flipped, 48);
}
