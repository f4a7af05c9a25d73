// Parameters packed into one tensor. See packed.h.
#include "plexus/llm/packed.h"

#include "plexus/core/error.h"

namespace plexus::llm {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// The packed parameters as one [n, shape...] view of their storage; backward hands each parameter its slice.
struct StackView : torch::autograd::Function<StackView> {
  static torch::Tensor forward(AutogradContext*, at::TensorList params) {
    const auto& p0 = params[0];
    std::vector<int64_t> sizes{static_cast<int64_t>(params.size())}, strides{p0.numel()};
    for (int64_t d = 0; d < p0.dim(); ++d) sizes.push_back(p0.size(d)), strides.push_back(p0.stride(d));
    // A fresh tensor on the parameters' storage (not an autograd view of p0, so no version-counter link).
    return torch::empty({0}, p0.options()).set_(p0.storage(), p0.storage_offset(), sizes, strides);
  }
  static variable_list backward(AutogradContext*, variable_list dout) {
    auto parts = dout[0].unbind(0);
    return variable_list(parts.begin(), parts.end());
  }
};

}  // namespace

PackedParams::PackedParams(std::vector<torch::Tensor> params) : params_(std::move(params)) {
  PLEXUS_CHECK(!params_.empty(), "PackedParams: no parameters");
  for (const auto& p : params_)
    PLEXUS_CHECK(p.sizes() == params_[0].sizes() && p.scalar_type() == params_[0].scalar_type(),
                 "PackedParams: parameters must share one shape and dtype");
}

void PackedParams::pack() {
  if (packed()) return;
  torch::NoGradGuard ng;
  auto all = torch::stack(params_);  // [n, shape...] contiguous, on the parameters' device
  for (size_t i = 0; i < params_.size(); ++i) params_[i].set_data(all[static_cast<int64_t>(i)]);
}

bool PackedParams::packed() const {
  const auto& p0 = params_[0];
  if (!p0.is_contiguous()) return false;
  const auto bytes = static_cast<int64_t>(p0.numel() * p0.element_size());
  const auto* base = static_cast<const char*>(p0.data_ptr());
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    if (!p.is_contiguous() || !p.is_alias_of(p0) || p.device() != p0.device() ||
        static_cast<const char*>(p.data_ptr()) != base + static_cast<int64_t>(i) * bytes)
      return false;
  }
  return true;
}

torch::Tensor PackedParams::stacked() const {
  // (an ArrayRef, not the vector: custom functions take a TensorList argument as inputs, a vector as a constant)
  return packed() ? StackView::apply(at::TensorList(params_)) : torch::stack(params_);
}

}  // namespace plexus::llm
