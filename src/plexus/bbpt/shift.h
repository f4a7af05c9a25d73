// The downstream task of black-box prompt tuning: the source task's images under a domain shift, so that a
// prompt has something to undo (docs/bbpt.md "Tasks"). The served model was trained on the unshifted images.
#pragma once

#include <string>

#include "plexus/data/federated.h"

namespace plexus::bbpt {

/// Apply `shift` to both splits of `d` in place. Pixel shifts act on the [0,1] scale v = x·std_c + mean_c and
/// re-normalise with the same per-channel statistics, so a shifted image is what the source task would see:
///   invert        v' = 1 − v                          (negatives: every dark pixel light)
///   low_contrast  v' = 0.5 + 0.25 (v − 0.5)           (a quarter of the contrast, mid-grey background)
///   rotate        v' = v rotated by 90° (counter-clockwise; square images only)
///   relabel       y' = (y + 1) mod C                  (same images, classes renamed)
///   none          unchanged
/// Shapes: x [n,C,H,W] f32, y [n] int64. Throws: Error(Config) for an unknown shift, a rotation of non-square
/// images, or data without recorded normalisation statistics (data.normalize = false is fine: mean 0, std 1).
void apply_shift(data::FederatedData& d, const std::string& shift);

}  // namespace plexus::bbpt
