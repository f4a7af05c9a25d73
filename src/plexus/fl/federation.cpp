#include "plexus/fl/federation.h"

#include <fmt/ranges.h>

#include "plexus/core/error.h"

namespace plexus::fl {

Federation Federation::replicate(const nn::ParamLayout& layout, const torch::Tensor& x0, int64_t n,
                                 torch::Device device) {
  Federation f;
  f.layout = layout;
  f.X = x0.detach().to(device, torch::kFloat32).reshape({1, -1}).repeat({n, 1}).contiguous();
  f.M = torch::zeros_like(f.X);
  return f;
}

torch::Tensor Federation::mean() const { return X.mean(0); }

double Federation::consensus_distance() const {
  return (X - X.mean(0, /*keepdim=*/true)).pow(2).sum(1).mean().item<double>();
}

void Federation::save_into(Checkpoint& ck) const {
  ck.tensors["X"] = X;
  ck.tensors["M"] = M;
}

void Federation::load_from(const Checkpoint& ck) {
  for (const char* name : {"X", "M"}) {
    auto it = ck.tensors.find(name);
    if (it == ck.tensors.end()) throw Error::data("checkpoint lacks tensor '{}'", name);
    if (it->second.sizes() != X.sizes()) {
      throw Error::data("checkpoint tensor {} has shape {} but this config needs {} (clients or model changed)",
                        name, fmt::join(it->second.sizes(), "x"), fmt::join(X.sizes(), "x"));
    }
  }
  X.copy_(ck.tensors.at("X"));
  M.copy_(ck.tensors.at("M"));
}

}  // namespace plexus::fl
