// MaxPool2x2: plexus's CPU kernel against LibTorch's max_pool2d(x, 2, 2) (two paths agreeing), bit for bit in the
// output and the input gradient, on inputs full of ties (constant regions, as the zero background of
// Fashion-MNIST gives after a convolution), odd sizes (floor mode) and NaN; plus a hand-worked 4×4 case.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "plexus/nn/max_pool.h"

using plexus::nn::max_pool2x2;

namespace {

// Forward + backward of both paths on x with upstream gradient g; outputs and input gradients must be identical
// (torch::equal: same values; NaN positions compared separately since NaN != NaN).
void expect_same(const torch::Tensor& x, const torch::Tensor& g) {
  auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
  auto ya = max_pool2x2(xa), yb = torch::max_pool2d(xb, 2, 2);
  ASSERT_EQ(ya.sizes(), yb.sizes());
  EXPECT_TRUE(torch::equal(torch::isnan(ya), torch::isnan(yb)));
  EXPECT_TRUE(torch::equal(torch::nan_to_num(ya), torch::nan_to_num(yb)));
  ya.backward(g), yb.backward(g);
  EXPECT_TRUE(torch::equal(xa.grad(), xb.grad()));
  // Without autograd (evaluation): the same values.
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(torch::nan_to_num(max_pool2x2(x)), torch::nan_to_num(yb.detach())));
}

}  // namespace

TEST(MaxPool2x2, HandWorked4x4) {
  // Windows: {1,2,5,6} → 6 at (1,1); {3,3,3,3} all tied → the first (0,2); {9,0,0,9} → first 9 (2,0);
  // {-1,-2,-3,-4} → -1 (2,2).
  auto x = torch::tensor({1.f, 2.f, 3.f, 3.f,   //
                          5.f, 6.f, 3.f, 3.f,   //
                          9.f, 0.f, -1.f, -2.f,  //
                          0.f, 9.f, -3.f, -4.f})
               .view({1, 1, 4, 4})
               .requires_grad_(true);
  auto y = max_pool2x2(x);
  EXPECT_TRUE(torch::equal(y, torch::tensor({6.f, 3.f, 9.f, -1.f}).view({1, 1, 2, 2})));
  y.backward(torch::tensor({10.f, 20.f, 30.f, 40.f}).view({1, 1, 2, 2}));
  auto want = torch::zeros({1, 1, 4, 4});
  want[0][0][1][1] = 10, want[0][0][0][2] = 20, want[0][0][2][0] = 30, want[0][0][2][2] = 40;
  EXPECT_TRUE(torch::equal(x.grad(), want));
}

TEST(MaxPool2x2, MatchesTorchWithTiesAndOddSizes) {
  torch::manual_seed(7);
  for (auto shape : std::vector<std::vector<int64_t>>{{32, 32, 24, 24}, {3, 5, 8, 8}, {2, 4, 7, 9}, {1, 1, 2, 3}}) {
    // Rounded values: many exact ties inside windows; a constant band as a zero image background gives.
    auto x = torch::round(torch::randn(shape) * 2);
    x.narrow(2, 0, 2).fill_(0.25f);
    auto y = torch::max_pool2d(x, 2, 2);
    expect_same(x, torch::randn(y.sizes()));
  }
}

TEST(MaxPool2x2, NaNAndInfinityAsTorch) {
  auto x = torch::randn({2, 3, 6, 6});
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  x[0][0][0][1] = nan;                          // NaN after the first element of a window
  x[0][1][2][2] = nan, x[0][1][3][3] = nan;     // two NaNs in one window
  x[1][2].narrow(0, 0, 2).narrow(1, 0, 2).fill_(-inf);  // a window of −∞ only
  x[1][0][4][4] = inf;
  expect_same(x, torch::randn({2, 3, 3, 3}));
}

TEST(MaxPool2x2, OtherLayoutsFallBackToTorch) {
  // Channels-last and double inputs take torch::max_pool2d itself: same result by construction.
  auto x = torch::randn({2, 4, 6, 6}).contiguous(torch::MemoryFormat::ChannelsLast);
  EXPECT_TRUE(torch::equal(max_pool2x2(x), torch::max_pool2d(x, 2, 2)));
  auto d = torch::randn({2, 4, 6, 6}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(max_pool2x2(d), torch::max_pool2d(d, 2, 2)));
}
