// RMSNorm, SwiGLU MLP and the dtype-following linear map. See layers.h.
#include "plexus/llm/layers.h"

#include "plexus/llm/fused_ops.h"

namespace plexus::llm {

namespace {
thread_local torch::Dtype t_matmul_dtype = torch::kFloat32;
}

torch::Dtype matmul_dtype() { return t_matmul_dtype; }
MatmulDtypeGuard::MatmulDtypeGuard(torch::Dtype dtype) : prev_(t_matmul_dtype) { t_matmul_dtype = dtype; }
MatmulDtypeGuard::~MatmulDtypeGuard() { t_matmul_dtype = prev_; }

torch::Tensor project(const torch::Tensor& x, const torch::Tensor& weight) {
  const auto dt = matmul_dtype();
  return torch::nn::functional::linear(cast(x, dt), weight_in(weight, dt));
}

torch::Tensor register_linear(torch::nn::Module& m, const std::string& name, int64_t in, int64_t out) {
  return m.register_parameter(name, torch::empty({out, in}));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) { return forward_to(x, x.scalar_type()); }

torch::Tensor RMSNormImpl::forward_to(const torch::Tensor& x, torch::Dtype out_dtype) {
  return rms_norm(x, weight, eps_, out_dtype);
}

AddNorm RMSNormImpl::forward_added(const torch::Tensor& x, const torch::Tensor& y, torch::Dtype low_dtype,
                                   bool with_f32) {
  return add_rms_norm(x, y, weight, eps_, low_dtype, with_f32);
}

MlpImpl::MlpImpl(int64_t dim, int64_t inter_dim) {
  w1 = register_linear(*this, "w1", dim, inter_dim);
  w2 = register_linear(*this, "w2", inter_dim, dim);
  w3 = register_linear(*this, "w3", dim, inter_dim);
  w13_ = PackedParams({w1, w3});
  w13_.pack();
}

torch::Tensor MlpImpl::w13() const {
  auto s = w13_.stacked();  // [2, I, C]
  return s.view({2 * s.size(1), s.size(2)});
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  auto xc = cast(x, matmul_dtype());  // cast once for both W1 and W3
  return project(swiglu_hidden(xc, w13(), {}, project), w2);
}

}  // namespace plexus::llm
