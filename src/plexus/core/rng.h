// Addressed randomness: every random draw comes from a stream keyed by (seed, purpose, client, round).
//
// Results then do not depend on thread count or execution order, and a resumed run replays exactly the
// same draws. `purpose` is a short string ("partition", "batch", "topology", "noise", ...) hashed with
// FNV-1a, so modules add purposes without a central enum. Keys are mixed with SplitMix64; the generator is
// xoshiro256** (Blackman & Vigna 2018), seeded from the key by SplitMix64 as its authors recommend.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace plexus {

/// 64-bit key of a random stream. Different (seed, purpose, client, round) give unrelated keys.
uint64_t stream_key(uint64_t seed, std::string_view purpose, uint64_t client = 0, uint64_t round = 0);

/// SplitMix64 finalizer (a bijective 64-bit mixer).
uint64_t splitmix64(uint64_t x);

/// xoshiro256** engine keyed by a stream key; satisfies UniformRandomBitGenerator. All helpers are
/// implemented here (not via <random> distributions) so draws are identical across standard libraries.
class Rng {
 public:
  using result_type = uint64_t;
  explicit Rng(uint64_t key);
  Rng(uint64_t seed, std::string_view purpose, uint64_t client = 0, uint64_t round = 0)
      : Rng(stream_key(seed, purpose, client, round)) {}

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()();

  /// Uniform double in [0, 1).
  double uniform();
  /// Uniform integer in [0, n). Throws Error(Internal) if n == 0.
  uint64_t below(uint64_t n);
  /// Standard normal N(0, 1) (Box–Muller).
  double normal();
  /// Gamma(shape, 1) (Marsaglia–Tsang; shape < 1 by the boost u^{1/shape}). shape > 0.
  double gamma(double shape);
  /// Dirichlet(alpha · 1_k) sample: k non-negative numbers summing to 1.
  std::vector<double> dirichlet(double alpha, std::size_t k);
  /// Fisher–Yates shuffle.
  template <class T> void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  /// A uniformly random subset of size m from [0, n), sorted ascending. Requires m <= n.
  std::vector<int64_t> sample_without_replacement(int64_t n, int64_t m);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

/// A LibTorch CPU generator seeded from a stream key, for torch::randn/randperm/normal_ with a generator.
at::Generator torch_generator(uint64_t key);

}  // namespace plexus
