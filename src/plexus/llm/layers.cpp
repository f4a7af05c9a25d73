// RMSNorm, SwiGLU MLP and the dtype-following linear map. See layers.h.
#include "plexus/llm/layers.h"

// at::rms_norm has a fused CUDA kernel (forward and backward, one pass each) from PyTorch 2.8 on; Debian's
// LibTorch 1.13 has no at::rms_norm and takes the composite expression below.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8))
#define PLEXUS_HAVE_FUSED_RMS_NORM 1
#else
#define PLEXUS_HAVE_FUSED_RMS_NORM 0
#endif

namespace plexus::llm {

namespace {
thread_local torch::Dtype t_matmul_dtype = torch::kFloat32;
}

torch::Dtype matmul_dtype() { return t_matmul_dtype; }
MatmulDtypeGuard::MatmulDtypeGuard(torch::Dtype dtype) : prev_(t_matmul_dtype) { t_matmul_dtype = dtype; }
MatmulDtypeGuard::~MatmulDtypeGuard() { t_matmul_dtype = prev_; }

torch::Tensor project(const torch::Tensor& x, const torch::Tensor& weight) {
  const auto dt = matmul_dtype();
  auto xc = x.scalar_type() == dt ? x : x.to(dt);
  auto wc = weight.scalar_type() == dt ? weight : weight.to(dt);
  return torch::nn::functional::linear(xc, wc);
}

torch::Tensor register_linear(torch::nn::Module& m, const std::string& name, int64_t in, int64_t out) {
  return m.register_parameter(name, torch::empty({out, in}));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
#if PLEXUS_HAVE_FUSED_RMS_NORM
  // The same f32 function in one kernel instead of five (pow, mean, add, rsqrt, two products) and their
  // backward passes; only the order of the mean's summation differs.
  if (xf.is_cuda()) return at::rms_norm(xf, {xf.size(-1)}, weight, eps_).to(x.scalar_type());
#endif
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_) * weight;
  return y.to(x.scalar_type());
}

MlpImpl::MlpImpl(int64_t dim, int64_t inter_dim) {
  w1 = register_linear(*this, "w1", dim, inter_dim);
  w2 = register_linear(*this, "w2", inter_dim, dim);
  w3 = register_linear(*this, "w3", dim, inter_dim);
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  auto xc = x.to(matmul_dtype());  // cast once for both W1 and W3
  return project(torch::silu(project(xc, w1)) * project(xc, w3), w2);
}

}  // namespace plexus::llm
