// Multi-token prediction module. See mtp.h.
#include "plexus/llm/mtp.h"

#include "plexus/core/error.h"

namespace plexus::llm {

MtpImpl::MtpImpl(const ModelArgs& a, int64_t layer_id) {
  hnorm = register_module("hnorm", RMSNorm(a.dim, a.norm_eps));
  enorm = register_module("enorm", RMSNorm(a.dim, a.norm_eps));
  eh_proj = register_linear(*this, "eh_proj", 2 * a.dim, a.dim);
  block = register_module("block", Block(a, layer_id));
  norm = register_module("norm", RMSNorm(a.dim, a.norm_eps));
}

torch::Tensor MtpImpl::forward(const torch::Tensor& h_prev, const torch::Tensor& emb, const torch::Tensor& cos,
                               const torch::Tensor& sin) {
  auto h = project(torch::cat({hnorm(h_prev), enorm(emb)}, -1), eh_proj);  // [B,T',C]
  return block->forward(h, cos, sin);
}

std::pair<torch::Tensor, torch::Tensor> mtp_slices(const torch::Tensor& inputs, const torch::Tensor& targets,
                                                   int64_t k) {
  const auto T = inputs.size(1);
  PLEXUS_CHECK(k >= 1 && k < T, "MTP depth {} needs sequence length > {}", k, T);
  return {inputs.narrow(1, k, T - k), targets.narrow(1, k, T - k)};
}

}  // namespace plexus::llm
