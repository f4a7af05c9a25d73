#include "plexus/nn/functional_models.h"

#include "plexus/core/error.h"
#include "plexus/nn/max_pool.h"

namespace plexus::nn {

bool has_batched_forward(const ModelOptions& o) { return o.name == "mlp" || o.name == "cnn"; }

namespace {
const ParamEntry& find_entry(const ParamLayout& layout, const std::string& name) {
  for (const auto& e : layout.entries()) {
    if (e.name == name) return e;
  }
  PLEXUS_CHECK(false, "batched forward: the layout has no parameter '{}'", name);
  return layout.entries().front();  // unreachable
}
}  // namespace

BatchedForward::BatchedForward(const ModelOptions& o, const ParamLayout& layout) {
  if (!has_batched_forward(o)) {
    throw Error::config("run.client_batching: model '{}' has no batched forward (mlp and cnn have one); set "
                        "run.client_batching = \"off\"", o.name);
  }
  auto layer = [&](const std::string& prefix) {
    const auto& w = find_entry(layout, prefix + ".weight");
    const auto& b = find_entry(layout, prefix + ".bias");
    return Layer{w.offset, b.offset, w.shape, w.shape[0]};
  };
  cnn_ = o.name == "cnn";
  if (cnn_) {
    convs_ = {layer("conv2d_1"), layer("conv2d_2")};
    linears_ = {layer("linear_1"), layer("output_layer")};
  } else {
    for (std::size_t i = 0; i < o.hidden.size(); ++i) linears_.push_back(layer(fmt::format("fc{}", i + 1)));
    linears_.push_back(layer("output_layer"));
  }
}

torch::Tensor BatchedForward::weight(const torch::Tensor& W, const Layer& l) const {
  int64_t numel = 1;
  std::vector<int64_t> shape = {W.size(0)};
  for (int64_t s : l.w_shape) numel *= s, shape.push_back(s);
  return W.narrow(1, l.w_off, numel).view(shape);
}

torch::Tensor BatchedForward::bias(const torch::Tensor& W, const Layer& l) const {
  return W.narrow(1, l.b_off, l.out);
}

torch::Tensor BatchedForward::operator()(const torch::Tensor& W, const torch::Tensor& x) const {
  const int64_t n = W.size(0), b = x.size(0);
  PLEXUS_CHECK(x.dim() >= 3 && x.size(1) == n, "batched forward: x must be [B,N,...] with N = {} models", n);
  torch::Tensor h;  // [N,B,features] entering the linear layers
  if (cnn_) {
    // [B,N,C,H,W] → [B, N·C, H, W]: model n's channels are the n-th group.
    h = x.reshape({b, n * x.size(2), x.size(3), x.size(4)});
    for (const auto& c : convs_) {
      auto w = weight(W, c);  // [N, out, in, k, k]
      auto wg = w.reshape({n * c.w_shape[0], c.w_shape[1], c.w_shape[2], c.w_shape[3]});
      const std::vector<int64_t> one = {1, 1}, zero = {0, 0};
      h = torch::conv2d(h, wg, bias(W, c).reshape({n * c.out}), one, zero, one, n);  // [B, N·out, H', W']
      h = torch::relu(max_pool2x2(h));  // torch::max_pool2d(h, 2, 2) bit for bit (nn/max_pool.h)
    }
    h = h.view({b, n, -1}).transpose(0, 1);  // [N, B, 64·h·w]
  } else {
    h = x.reshape({b, n, -1}).transpose(0, 1);  // [N, B, C·H·W]
  }
  for (std::size_t k = 0; k < linears_.size(); ++k) {
    const auto& l = linears_[k];
    // y = b + h Aᵀ per model: baddbmm([N,1,out], [N,B,in], [N,in,out]).
    h = torch::baddbmm(bias(W, l).unsqueeze(1), h, weight(W, l).transpose(1, 2));
    if (k + 1 < linears_.size()) h = torch::relu(h);
  }
  return h;  // [N,B,K]
}

}  // namespace plexus::nn
