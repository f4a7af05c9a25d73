#include "plexus/data/synthetic.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::data {
namespace {

Dataset draw_split(const SyntheticOptions& o, const std::vector<float>& means, int64_t n, uint64_t seed,
                   const char* purpose, const std::string& name) {
  const int64_t d = o.side * o.side;
  Rng rng(seed, purpose);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) labels[static_cast<size_t>(j)] = j % o.classes;
  rng.shuffle(labels);
  const float scale = static_cast<float>(1.0 / std::sqrt(1.0 + o.noise * o.noise));
  auto x = torch::empty({n, 1, o.side, o.side}, torch::kFloat);
  float* px = x.data_ptr<float>();
  for (int64_t j = 0; j < n; ++j) {
    const float* mu = &means[static_cast<size_t>(labels[static_cast<size_t>(j)] * d)];
    for (int64_t k = 0; k < d; ++k) {
      px[j * d + k] = (mu[k] + static_cast<float>(o.noise * rng.normal())) * scale;
    }
  }
  Dataset out;
  out.x = x;
  out.y = torch::tensor(labels, torch::kLong);
  out.num_classes = o.classes;
  out.name = name;
  return out;
}

}  // namespace

TrainTest make_synthetic(const SyntheticOptions& o, uint64_t seed) {
  if (o.train < 1 || o.test < 1 || o.classes < 2 || o.side < 1 || !(o.noise >= 0)) {
    throw Error::config("[data] synthetic task needs synthetic_train ≥ 1, synthetic_test ≥ 1, "
                        "synthetic_classes ≥ 2, synthetic_side ≥ 1 and synthetic_noise ≥ 0");
  }
  const int64_t d = o.side * o.side;
  Rng rng(seed, "synthetic_means");
  std::vector<float> means(static_cast<size_t>(o.classes * d));
  for (auto& m : means) m = static_cast<float>(rng.normal());
  TrainTest out;
  out.train = draw_split(o, means, o.train, seed, "synthetic_train", "synthetic/train");
  out.test = draw_split(o, means, o.test, seed, "synthetic_test", "synthetic/test");
  return out;
}

}  // namespace plexus::data
