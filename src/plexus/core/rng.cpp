#include "plexus/core/rng.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <numbers>

#include "plexus/core/error.h"

namespace plexus {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t stream_key(uint64_t seed, std::string_view purpose, uint64_t client, uint64_t round) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 over the purpose string
  for (unsigned char c : purpose) h = (h ^ c) * 0x100000001b3ull;
  uint64_t k = splitmix64(seed);
  k = splitmix64(k ^ h);
  k = splitmix64(k ^ (client * 0xD6E8FEB86659FD93ull));
  k = splitmix64(k ^ (round * 0xA0761D6478BD642Full));
  return k;
}

Rng::Rng(uint64_t key) {
  uint64_t x = key;
  for (auto& s : s_) {
    x += 0x9E3779B97F4A7C15ull;
    s = splitmix64(x);
  }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::operator()() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

uint64_t Rng::below(uint64_t n) {
  PLEXUS_CHECK(n > 0, "Rng::below(0)");
  // Lemire's nearly-divisionless rejection keeps the draw exactly uniform.
  uint64_t x = (*this)();
  __uint128_t m = static_cast<__uint128_t>(x) * n;
  uint64_t l = static_cast<uint64_t>(m);
  if (l < n) {
    uint64_t t = (0 - n) % n;
    while (l < t) {
      x = (*this)();
      m = static_cast<__uint128_t>(x) * n;
      l = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = 0.0;
  while (u1 <= 0.0) u1 = uniform();
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

double Rng::gamma(double shape) {
  PLEXUS_CHECK(shape > 0, "gamma shape {} must be > 0", shape);
  if (shape < 1.0) {
    double u = 0.0;
    while (u <= 0.0) u = uniform();
    return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = normal(), v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

std::vector<double> Rng::dirichlet(double alpha, std::size_t k) {
  std::vector<double> g(k);
  double sum = 0;
  for (auto& x : g) sum += (x = gamma(alpha));
  if (sum <= 0) {
    // Tiny alpha can underflow every gamma draw to 0: the Dirichlet limit is a one-hot vector.
    std::fill(g.begin(), g.end(), 0.0);
    g[below(k)] = 1.0;
    return g;
  }
  if (!std::isfinite(sum)) {
    // Huge alpha (≈ 1e308): each draw is finite (≈ alpha) but their sum overflows. Normalise the draws
    // scaled by 1/alpha instead (≈ 1 each): the near-uniform vector the α → ∞ limit calls for.
    sum = 0;
    for (auto& x : g) sum += (x /= alpha);
  }
  for (auto& x : g) x /= sum;
  return g;
}

std::vector<int64_t> Rng::sample_without_replacement(int64_t n, int64_t m) {
  PLEXUS_CHECK(m >= 0 && m <= n, "sample {} of {}", m, n);
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  for (int64_t i = 0; i < m; ++i) std::swap(idx[i], idx[i + static_cast<int64_t>(below(n - i))]);
  idx.resize(m);
  std::sort(idx.begin(), idx.end());
  return idx;
}

at::Generator torch_generator(uint64_t key) { return at::make_generator<at::CPUGeneratorImpl>(key); }

}  // namespace plexus
