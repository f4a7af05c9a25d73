#include "plexus/nn/max_pool.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>

namespace plexus::nn {

namespace {

// Planes per parallel task: about 32k input elements, so a small batch stays on one thread.
int64_t grain(int64_t H, int64_t W) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, H * W)); }

// Pools planes [0, planes) of x [planes, H, W] into y [planes, h, w]; when `arg` is non-null also stores each
// window's arg-max as 2·dy + dx (0..3). ATen's scan order and replacement rule (file comment).
void forward_planes(const float* x, float* y, int32_t* arg, int64_t planes, int64_t H, int64_t W) {
  const int64_t h = H / 2, w = W / 2;
  at::parallel_for(0, planes, grain(H, W), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t i = 0; i < h; ++i) {
        const float* r0 = x + (p * H + 2 * i) * W;  // window rows 2i and 2i+1
        const float* r1 = r0 + W;
        float* yr = y + (p * h + i) * w;
        int32_t* ar = arg ? arg + (p * h + i) * w : nullptr;
        for (int64_t j = 0; j < w; ++j) {
          float m = r0[2 * j];
          int32_t a = 0;
          const float v[3] = {r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
          for (int q = 0; q < 3; ++q) {
            const bool take = v[q] > m || std::isnan(v[q]);
            m = take ? v[q] : m;
            a = take ? q + 1 : a;
          }
          yr[j] = m;
          if (ar) ar[j] = a;
        }
      }
    }
  });
}

// gx [planes, H, W] (zero-filled here) receives 0 + gy at each window's arg-max.
void backward_planes(const float* gy, const int32_t* arg, float* gx, int64_t planes, int64_t H, int64_t W) {
  const int64_t h = H / 2, w = W / 2;
  at::parallel_for(0, planes, grain(H, W), [&](int64_t p0, int64_t p1) {
    std::fill(gx + p0 * H * W, gx + p1 * H * W, 0.0f);
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t i = 0; i < h; ++i) {
        const float* gr = gy + (p * h + i) * w;
        const int32_t* ar = arg + (p * h + i) * w;
        float* base = gx + (p * H + 2 * i) * W;
        for (int64_t j = 0; j < w; ++j) {
          const int32_t a = ar[j];
          base[(a >> 1) * W + 2 * j + (a & 1)] += gr[j];  // ATen: zero-filled grad_input[maxindex] += grad_output
        }
      }
    }
  });
}

struct MaxPool2x2Fn : public torch::autograd::Function<MaxPool2x2Fn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    auto y = torch::empty({B, C, H / 2, W / 2}, x.options());
    auto arg = torch::empty({B, C, H / 2, W / 2}, x.options().dtype(torch::kInt32));
    forward_planes(x.data_ptr<float>(), y.data_ptr<float>(), arg.data_ptr<int32_t>(), B * C, H, W);
    ctx->saved_data["arg"] = arg;
    ctx->saved_data["H"] = H;
    ctx->saved_data["W"] = W;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto arg = ctx->saved_data["arg"].toTensor();
    const int64_t H = ctx->saved_data["H"].toInt(), W = ctx->saved_data["W"].toInt();
    auto gy = grads[0].contiguous();
    auto gx = torch::empty({arg.size(0), arg.size(1), H, W}, gy.options());
    backward_planes(gy.data_ptr<float>(), arg.data_ptr<int32_t>(), gx.data_ptr<float>(), arg.size(0) * arg.size(1), H,
                    W);
    return {gx};
  }
};

}  // namespace

torch::Tensor max_pool2x2(const torch::Tensor& x) {
  const bool ours = x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 4 && x.is_contiguous() &&
                    x.size(2) >= 2 && x.size(3) >= 2 && x.layout() == torch::kStrided;
  if (!ours) return torch::max_pool2d(x, 2, 2);
  if (x.requires_grad() && torch::GradMode::is_enabled()) return MaxPool2x2Fn::apply(x);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto y = torch::empty({B, C, H / 2, W / 2}, x.options());
  forward_planes(x.data_ptr<float>(), y.data_ptr<float>(), nullptr, B * C, H, W);
  return y;
}

}  // namespace plexus::nn
