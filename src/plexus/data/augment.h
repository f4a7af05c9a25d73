// Training-time image augmentation, the CIFAR recipe of the FL papers' code (DisPFL / DP-FedSAM / DFedPGP
// `data_loader.py`: transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), then Normalize).
//
// Applied on the device to a minibatch that is already normalized, with random draws from the client's addressed
// training stream (Rng(seed, purpose, client, round)), so a run is reproducible and independent of thread count.
// Per sample b, in this order:
//   dy, dx ~ Uniform{0..2p}           (if crop_padding p > 0; the crop's top-left corner in the padded image)
//   f      ~ Uniform{0, 1}            (if horizontal_flip)
//   out[b,c,i,j] = pad(x)[b, c, dy + i, dx + (f ? W−1−j : j)]
// where pad(x) surrounds x with p pixels of `fill[c]` on every side. torchvision pads the raw image with 0 (black)
// before Normalize, so the normalized fill is fill[c] = (0 − mean_c)/std_c; the loaders set it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "plexus/core/rng.h"

namespace plexus::data {

/// What to augment (the [data] keys crop_padding and horizontal_flip).
struct AugmentOptions {
  int64_t crop_padding = 0;      // p: random crop of the input size from the image padded by p pixels (0 = off)
  bool horizontal_flip = false;  // flip each image left-right with probability 1/2
  std::vector<float> fill;       // per-channel value of the padding (normalized black); empty = 0
  /// True when any augmentation is on.
  bool enabled() const { return crop_padding > 0 || horizontal_flip; }
};

/// Augment a minibatch (see the file comment for the exact rule). Draws 2 (crop) + 1 (flip) numbers per sample
/// from `rng`, nothing when `o` is off (then x is returned as is).
/// Shapes: x [B,C,H,W] f32 on any device → [B,C,H,W] on the same device.
/// Source: torchvision RandomCrop(size, padding) + RandomHorizontalFlip(0.5), as the papers' reference loaders.
torch::Tensor augment_batch(const torch::Tensor& x, const AugmentOptions& o, Rng& rng);

}  // namespace plexus::data
