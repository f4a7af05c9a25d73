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

// Only X is saved: M is scratch. Every local rule clears a client's row before its first step of a round
// (StepRule::train in step_rule.cpp, which FedProx, SCAFFOLD and Ditto reuse; AlternatingRule::train before
// each of its step plans; Ditto's personal solve and fine-tuning use their own zeroed buffers), so no momentum
// crosses a round boundary -- DFedAvgM's heavy ball included -- and a resume with M = 0 is bit-identical
// (tested by the resume tests). State that does cross rounds is saved by its part (SCAFFOLD's control
// variates, push-sum weights, Ditto's V).
void Federation::save_into(Checkpoint& ck) const { ck.tensors["X"] = X; }

void Federation::load_from(const Checkpoint& ck) {
  auto it = ck.tensors.find("X");
  if (it == ck.tensors.end()) throw Error::data("checkpoint lacks tensor 'X'");
  if (it->second.sizes() != X.sizes()) {
    throw Error::data("checkpoint tensor X has shape {} but this config needs {} (clients or model changed)",
                      fmt::join(it->second.sizes(), "x"), fmt::join(X.sizes(), "x"));
  }
  X.copy_(it->second);
  M.zero_();  // older checkpoints also hold M; it is zeroed at the next round start either way
}

}  // namespace plexus::fl
