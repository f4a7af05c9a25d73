#include "plexus/data/augment.h"

#include "plexus/core/error.h"

namespace plexus::data {

torch::Tensor augment_batch(const torch::Tensor& x, const AugmentOptions& o, Rng& rng) {
  if (!o.enabled()) return x;
  PLEXUS_CHECK(x.dim() == 4, "augment_batch needs [B,C,H,W], got {} dims", x.dim());
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), p = o.crop_padding;
  // The random draws happen on the CPU (a few per sample, from the addressed stream); the pixels move on the device.
  std::vector<int64_t> rows(static_cast<size_t>(B * H)), cols(static_cast<size_t>(B * W));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t dy = p > 0 ? static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * p + 1))) : 0;
    const int64_t dx = p > 0 ? static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * p + 1))) : 0;
    const bool flip = o.horizontal_flip && rng.below(2) == 1;
    for (int64_t i = 0; i < H; ++i) rows[static_cast<size_t>(b * H + i)] = dy + i;
    for (int64_t j = 0; j < W; ++j) cols[static_cast<size_t>(b * W + j)] = dx + (flip ? W - 1 - j : j);
  }
  torch::Tensor padded = x;
  if (p > 0) {
    auto fill = torch::zeros({1, C, 1, 1}, x.options());
    if (!o.fill.empty()) {
      PLEXUS_CHECK(static_cast<int64_t>(o.fill.size()) == C, "augment fill has {} values for {} channels",
                   o.fill.size(), C);
      fill = torch::tensor(o.fill, torch::kFloat).view({1, C, 1, 1}).to(x.options());
    }
    padded = fill.expand({B, C, H + 2 * p, W + 2 * p}).clone();  // [B,C,H+2p,W+2p]
    padded.narrow(2, p, H).narrow(3, p, W).copy_(x);
  }
  auto dev = torch::TensorOptions().dtype(torch::kInt64).device(x.device());
  auto r = torch::tensor(rows, torch::kInt64).to(dev).view({B, 1, H, 1}).expand({B, C, H, W + 2 * p});
  auto c = torch::tensor(cols, torch::kInt64).to(dev).view({B, 1, 1, W}).expand({B, C, H, W});
  return padded.gather(2, r).gather(3, c);  // rows, then columns: [B,C,H,W+2p] → [B,C,H,W]
}

}  // namespace plexus::data
