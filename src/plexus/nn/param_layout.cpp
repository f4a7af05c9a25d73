#include "plexus/nn/param_layout.h"

#include "plexus/core/error.h"

namespace plexus::nn {

ParamLayout ParamLayout::of(const torch::nn::Module& module, const std::vector<std::string>& personal_prefixes) {
  PLEXUS_CHECK(module.buffers().empty(), "model has buffers; plexus models must be buffer-free (GroupNorm)");
  ParamLayout L;
  std::vector<bool> prefix_used(personal_prefixes.size(), false);
  for (const auto& item : module.named_parameters()) {
    ParamEntry e;
    e.name = item.key();
    e.shape = item.value().sizes().vec();
    e.numel = item.value().numel();
    e.offset = L.size_;
    for (std::size_t k = 0; k < personal_prefixes.size(); ++k) {
      const auto& p = personal_prefixes[k];
      // Match whole name components: "output_layer" matches "output_layer.weight", not "output_layer2.w".
      if (e.name == p || e.name.rfind(p + ".", 0) == 0) e.personal = true, prefix_used[k] = true;
    }
    L.size_ += e.numel;
    L.entries_.push_back(std::move(e));
  }
  for (std::size_t k = 0; k < personal_prefixes.size(); ++k) {
    if (!prefix_used[k]) {
      std::string names;
      for (const auto& e : L.entries_) names += (names.empty() ? "" : ", ") + e.name;
      throw Error::config("personal parameter prefix '{}' matches no parameter of the model (parameters: {})",
                          personal_prefixes[k], names);
    }
  }
  return L;
}

torch::Tensor ParamLayout::flatten(const torch::nn::Module& module) const {
  std::vector<torch::Tensor> parts;
  for (const auto& p : module.parameters()) parts.push_back(p.detach().reshape({-1}));
  return torch::cat(parts);
}

void ParamLayout::bind(torch::nn::Module& module, const torch::Tensor& row, const torch::Tensor& grad_row) const {
  PLEXUS_CHECK(row.dim() == 1 && row.size(0) == size_, "row has {} dims and {} entries but P = {}", row.dim(), row.numel(), size_);
  PLEXUS_CHECK(grad_row.sizes() == row.sizes(), "grad row shape mismatch");
  auto params = module.parameters();
  PLEXUS_CHECK(params.size() == entries_.size(), "module does not match layout");
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const auto& e = entries_[k];
    auto& p = params[k];
    // set_data makes p alias the view's storage (same sizes/strides/offset); p stays a leaf that requires grad.
    p.set_data(row.narrow(0, e.offset, e.numel).view(e.shape));
    p.mutable_grad() = grad_row.narrow(0, e.offset, e.numel).view(e.shape);
  }
}

std::vector<ColumnRange> ParamLayout::ranges_where(bool personal) const {
  std::vector<ColumnRange> out;
  for (const auto& e : entries_) {
    if (e.personal != personal) continue;
    if (!out.empty() && out.back().second == e.offset) out.back().second += e.numel;
    else out.push_back({e.offset, e.offset + e.numel});
  }
  return out;
}

std::vector<ColumnRange> ParamLayout::shared_ranges() const { return ranges_where(false); }
std::vector<ColumnRange> ParamLayout::personal_ranges() const { return ranges_where(true); }

std::vector<ColumnRange> ParamLayout::tensor_ranges() const {
  std::vector<ColumnRange> out;
  for (const auto& e : entries_) out.push_back({e.offset, e.offset + e.numel});
  return out;
}

int64_t ParamLayout::shared_size() const {
  int64_t s = 0;
  for (const auto& e : entries_) s += e.personal ? 0 : e.numel;
  return s;
}

}  // namespace plexus::nn
