// A small, learnable, seeded classification task for tests and quick checks: Gaussian class clusters
// shaped as tiny one-channel images.
//
//   μ_c ~ N(0, I_d)                 c = 0..C-1, d = side² (class means, stream (seed, "synthetic_means"))
//   y_j = j mod C, then shuffled    (balanced classes)
//   x_j = (μ_{y_j} + σ ε_j) / sqrt(1 + σ²),  ε_j ~ N(0, I_d)   reshaped to [1, side, side]
//
// Dividing by sqrt(1+σ²) gives every pixel unit variance, like normalized images. Two class means are
// ‖μ_a − μ_b‖ ≈ sqrt(2d) apart, so the Bayes error of one pair is about Φ(−sqrt(2d)/(2σ)); with the defaults
// (d = 64, σ = 2) that is Φ(−2.83) ≈ 0.2% per pair, i.e. a linear model or MLP reaches ≈ 97-99% accuracy in
// a few epochs while chance is 1/C. Train and test share the class means and use separate noise streams.
#pragma once

#include <cstdint>

#include "plexus/data/fashion_mnist.h"

namespace plexus::data {

/// Knobs of the synthetic task (the `synthetic_*` keys of [data]).
struct SyntheticOptions {
  int64_t train = 2000;   // training samples, ≥ 1
  int64_t test = 500;     // test samples, ≥ 1
  int64_t classes = 10;   // C, ≥ 2
  int64_t side = 8;       // images are [1, side, side], ≥ 1 (d = side²)
  double noise = 2.0;     // σ, within-class noise relative to the unit-variance class means, ≥ 0
};

/// Generate the synthetic train/test sets. Deterministic in `seed`.
/// Shapes: train x [train,1,side,side] f32, y [train] i64; test likewise.
/// Source: plexus (a standard Gaussian-mixture benchmark, not from a paper).
TrainTest make_synthetic(const SyntheticOptions& o, uint64_t seed);

}  // namespace plexus::data
