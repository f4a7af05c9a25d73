// Fused RoPE/keys, SwiGLU, residual add, RMSNorm, expert selection, gather-sum and cross-entropy rows, each with
// its composite LibTorch fallback. See fused_ops.h.
#include "plexus/llm/fused_ops.h"

#include <limits>

#include "plexus/core/error.h"
#include "plexus/llm/rope.h"

// at::rms_norm has a fused CUDA kernel (forward and backward, one pass each) from PyTorch 2.8 on; Debian's
// LibTorch 1.13 has no at::rms_norm and takes the composite expression.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8))
#define PLEXUS_HAVE_FUSED_RMS_NORM 1
#else
#define PLEXUS_HAVE_FUSED_RMS_NORM 0
#endif

// Set by CMake on this file alone: 1 when src/plexus/llm/kernels/fused.cu is compiled and linked.
#ifndef PLEXUS_FUSED_KERNELS
#define PLEXUS_FUSED_KERNELS 0
#endif
#if PLEXUS_FUSED_KERNELS
#include <c10/cuda/CUDAStream.h>

#include "plexus/llm/kernels/adamw.h"
#include "plexus/llm/kernels/cross_entropy.h"
#include "plexus/llm/kernels/fused.h"
#endif

namespace plexus::llm {

bool have_fused_kernels() { return PLEXUS_FUSED_KERNELS != 0; }

namespace {

torch::Tensor rope_queries_composite(const torch::Tensor& q, int64_t dr, const torch::Tensor& cos,
                                     const torch::Tensor& sin) {
  auto parts = q.split_with_sizes({q.size(-1) - dr, dr}, -1);
  return torch::cat({parts[0], apply_rope(parts[1], cos, sin)}, -1);
}

torch::Tensor rope_keys_composite(const torch::Tensor& k_nope, const torch::Tensor& k_pe, const torch::Tensor& cos,
                                  const torch::Tensor& sin) {
  const auto B = k_nope.size(0), T = k_nope.size(1), H = k_nope.size(2), dr = k_pe.size(-1);
  auto pe = apply_rope(k_pe.unsqueeze(2), cos, sin);  // [B,T,1,d_r]
  return torch::cat({k_nope, pe.expand({B, T, H, dr})}, -1);
}

torch::Tensor rms_norm_composite(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                                 torch::Dtype out_dtype) {
  auto xf = x.to(torch::kFloat32);
#if PLEXUS_HAVE_FUSED_RMS_NORM
  // The same f32 function in one kernel instead of five (pow, mean, add, rsqrt, two products) and their
  // backward passes; only the order of the mean's summation differs.
  if (xf.is_cuda()) return at::rms_norm(xf, {xf.size(-1)}, weight, eps).to(out_dtype);
#endif
  return (xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight).to(out_dtype);
}

torch::Tensor swiglu_composite(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& row_weight) {
  auto h = torch::silu(a) * b;
  if (row_weight.defined()) h = h * row_weight.to(h.scalar_type()).unsqueeze(-1);
  return h;
}

torch::Tensor select_experts_composite(const torch::Tensor& sel_in, int64_t G, int64_t topk_groups, int64_t K,
                                       bool top_two_sum) {
  auto sel = sel_in;
  const auto N = sel.size(0), E = sel.size(1);
  if (G > 1) {
    auto g = sel.view({N, G, E / G});
    auto group_score = top_two_sum ? std::get<0>(g.topk(std::min<int64_t>(2, E / G), -1)).sum(-1)  // [N,G]
                                   : std::get<0>(g.max(-1));
    auto keep = std::get<1>(group_score.topk(topk_groups, -1));                                     // [N,kept]
    auto drop = torch::ones({N, G}, sel.options().dtype(torch::kBool)).scatter(1, keep, false);
    sel = g.masked_fill(drop.unsqueeze(-1), -std::numeric_limits<float>::infinity()).view({N, E});
  }
  return std::get<1>(sel.topk(K, -1));
}

#if PLEXUS_FUSED_KERNELS
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void* stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

void check_launch(int rc, const char* what) {
  PLEXUS_CHECK(rc == 0, "fused CUDA kernel {} failed to launch (CUDA error {})", what, rc);
}

// The kernels read bf16 pairs: a contiguous last dim, even strides and a 4-byte-aligned start.
bool pair_view(const torch::Tensor& t) {
  if (t.stride(-1) != 1 || reinterpret_cast<uintptr_t>(t.data_ptr()) % 4 != 0) return false;
  for (int64_t d = 0; d + 1 < t.dim(); ++d)
    if (t.stride(d) % 2 != 0) return false;
  return true;
}

torch::Tensor pairs(const torch::Tensor& t) { return pair_view(t) ? t : t.contiguous(); }

kernels::View4 view4(const torch::Tensor& t) { return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)}; }

bool fusable(const torch::Tensor& t) { return t.is_cuda() && t.scalar_type() == torch::kBFloat16; }

torch::Tensor rotate_tail(const torch::Tensor& x_in, int64_t dr, const torch::Tensor& cos, const torch::Tensor& sin,
                          bool inverse) {
  auto x = pairs(x_in);
  auto out = torch::empty(x.sizes(), x.options().memory_format(torch::MemoryFormat::Contiguous));
  check_launch(kernels::rope_tail(view4(x), out.data_ptr(), x.size(0), x.size(1), x.size(2), x.size(3), dr,
                                  cos.data_ptr<float>(), sin.data_ptr<float>(), inverse, stream()),
               "rope_tail");
  return out;
}

struct RopeQueries : torch::autograd::Function<RopeQueries> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, int64_t dr, const torch::Tensor& cos,
                               const torch::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["dr"] = dr;
    return rotate_tail(q, dr, cos, sin, false);
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto s = ctx->get_saved_variables();
    return {rotate_tail(dout[0], ctx->saved_data["dr"].toInt(), s[0], s[1], true), {}, {}, {}};
  }
};

struct RopeKeys : torch::autograd::Function<RopeKeys> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& kn_in, const torch::Tensor& pe_in,
                               const torch::Tensor& cos, const torch::Tensor& sin) {
    auto kn = pairs(kn_in), pe = pairs(pe_in);
    const auto B = kn.size(0), T = kn.size(1), H = kn.size(2), dn = kn.size(3), dr = pe.size(2);
    auto out = torch::empty({B, T, H, dn + dr}, kn.options());
    check_launch(kernels::mla_keys(view4(kn), pe.data_ptr(), pe.stride(0), pe.stride(1), out.data_ptr(), B, T, H,
                                   dn, dr, cos.data_ptr<float>(), sin.data_ptr<float>(), stream()),
                 "mla_keys");
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["dn"] = dn;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto s = ctx->get_saved_variables();
    auto dk = pairs(dout[0]);
    const auto B = dk.size(0), T = dk.size(1), H = dk.size(2), dn = ctx->saved_data["dn"].toInt();
    const auto dr = dk.size(3) - dn;
    auto dkn = torch::empty({B, T, H, dn}, dk.options());
    auto dpe = torch::empty({B, T, dr}, dk.options());
    check_launch(kernels::mla_keys_backward(view4(dk), dkn.data_ptr(), dpe.data_ptr(), B, T, H, dn, dr,
                                            s[0].data_ptr<float>(), s[1].data_ptr<float>(), stream()),
                 "mla_keys_backward");
    return {dkn, dpe, {}, {}};
  }
};

struct ResidualAdd : torch::autograd::Function<ResidualAdd> {
  static torch::Tensor forward(AutogradContext*, const torch::Tensor& x, const torch::Tensor& y) {
    auto out = torch::empty_like(x);
    check_launch(kernels::add_f32_bf16(x.data_ptr<float>(), y.data_ptr(), out.data_ptr<float>(), x.numel(), stream()),
                 "add_f32_bf16");
    return out;
  }
  static variable_list backward(AutogradContext*, variable_list dout) {
    return {dout[0], dout[0].to(torch::kBFloat16)};
  }
};

bool is_bf16(const torch::Tensor& t) { return t.scalar_type() == torch::kBFloat16; }

// x [N, C] rows with a row stride (f32 or bf16), weight [C] f32 → y [N, C] in the requested dtype.
struct RmsNorm : torch::autograd::Function<RmsNorm> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               double eps, c10::ScalarType out_dtype) {
    const auto N = x.size(0), C = x.size(1);
    auto y = torch::empty({N, C}, x.options().dtype(out_dtype));
    auto rstd = torch::empty({N}, x.options().dtype(torch::kFloat32));
    check_launch(kernels::rms_norm(x.data_ptr(), x.stride(0), is_bf16(x), weight.data_ptr<float>(), y.data_ptr(),
                                   is_bf16(y), nullptr, rstd.data_ptr<float>(), N, C, static_cast<float>(eps),
                                   stream()),
                 "rms_norm");
    ctx->save_for_backward({x, weight, rstd});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto s = ctx->get_saved_variables();
    const auto &x = s[0], &weight = s[1], &rstd = s[2];
    const auto N = x.size(0), C = x.size(1);
    auto dy = dout[0].contiguous();
    auto dx = torch::empty({N, C}, x.options());
    auto partial = torch::empty({kernels::rms_norm_partials(N), C}, weight.options());
    check_launch(kernels::rms_norm_backward(dy.data_ptr(), is_bf16(dy), nullptr, x.data_ptr(), x.stride(0),
                                            is_bf16(x), weight.data_ptr<float>(), rstd.data_ptr<float>(),
                                            dx.data_ptr(), partial.data_ptr<float>(), N, C, stream()),
                 "rms_norm_backward");
    return {dx, partial.sum(0), {}, {}};
  }
};

// h = x + y and the norm of h in bf16 (and f32 with `with_f32`), x f32 and y bf16 or f32, [N, C] contiguous. The
// backward adds h's own gradient (from the next residual) inside the norm's backward kernel, so autograd sums
// nothing, and writes y's gradient in y's dtype in the same pass.
struct AddRmsNorm : torch::autograd::Function<AddRmsNorm> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& y,
                               const torch::Tensor& weight, double eps, bool with_f32) {
    const auto N = x.size(0), C = x.size(1);
    auto h = torch::empty({N, C}, x.options());
    auto n16 = torch::empty({N, C}, x.options().dtype(torch::kBFloat16));
    auto n32 = with_f32 ? torch::empty({N, C}, x.options()) : torch::Tensor();
    auto rstd = torch::empty({N}, x.options());
    // Primary output n32 (f32) with the bf16 copy, or n16 alone.
    check_launch(kernels::rms_norm(x.data_ptr(), C, false, weight.data_ptr<float>(),
                                   with_f32 ? n32.data_ptr() : n16.data_ptr(), !with_f32,
                                   with_f32 ? n16.data_ptr() : nullptr, rstd.data_ptr<float>(), N, C,
                                   static_cast<float>(eps), stream(), y.data_ptr(), is_bf16(y), h.data_ptr<float>()),
                 "add_rms_norm");
    ctx->save_for_backward({h, weight, rstd});
    ctx->saved_data["y_bf16"] = is_bf16(y);
    if (with_f32) return {h, n16, n32};
    return {h, n16};
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto s = ctx->get_saved_variables();
    const auto& h = s[0];
    const auto N = h.size(0), C = h.size(1);
    auto dh = dout[0].defined() ? dout[0].contiguous() : torch::Tensor();
    auto dn16 = dout[1].defined() ? dout[1].contiguous() : torch::Tensor();
    auto dn32 = dout.size() > 2 && dout[2].defined() ? dout[2].contiguous() : torch::Tensor();
    // The kernel's dy is the f32 output's gradient with the bf16 one added, or the bf16 one alone.
    torch::Tensor dy = dn32.defined() ? dn32 : dn16.defined() ? dn16 : torch::zeros({N, C}, h.options());
    torch::Tensor dy16 = dn32.defined() ? dn16 : torch::Tensor();
    const bool y_bf16 = ctx->saved_data["y_bf16"].toBool();
    auto dx = torch::empty({N, C}, h.options());
    auto dres16 = y_bf16 ? torch::empty({N, C}, h.options().dtype(torch::kBFloat16)) : torch::Tensor();
    auto partial = torch::empty({kernels::rms_norm_partials(N), C}, s[1].options());
    check_launch(kernels::rms_norm_backward(dy.data_ptr(), is_bf16(dy), dy16.defined() ? dy16.data_ptr() : nullptr,
                                            h.data_ptr(), C, false, s[1].data_ptr<float>(), s[2].data_ptr<float>(),
                                            dx.data_ptr(), partial.data_ptr<float>(), N, C, stream(),
                                            dh.defined() ? dh.data_ptr<float>() : nullptr,
                                            y_bf16 ? dres16.data_ptr() : nullptr),
                 "add_rms_norm_backward");
    return {dx, y_bf16 ? dres16 : dx, partial.sum(0), {}, {}};
  }
};

// f32 copy of a contiguous bf16 CUDA tensor (the vectorised kernel).
torch::Tensor widen(const torch::Tensor& x) {
  auto out = torch::empty(x.sizes(), x.options().dtype(torch::kFloat32));
  check_launch(kernels::bf16_to_f32(x.data_ptr(), out.data_ptr<float>(), x.numel(), stream()), "bf16_to_f32");
  return out;
}

// x.to(dtype) between f32 and bf16 whose bf16 → f32 direction (forward or backward) is the vectorised kernel.
struct Cast : torch::autograd::Function<Cast> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, c10::ScalarType dtype) {
    ctx->saved_data["from"] = static_cast<int64_t>(x.scalar_type());
    return is_bf16(x) ? widen(x) : x.to(dtype);
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    const auto from = static_cast<c10::ScalarType>(ctx->saved_data["from"].toInt());
    const auto& g = dout[0];
    const bool fast = from == torch::kFloat32 && is_bf16(g) && g.is_contiguous();
    return {fast ? widen(g) : g.to(from), {}};
  }
};

// Row weights as a kernel pointer: an empty w means weight 1 (autograd functions take no undefined inputs).
const float* weights_or_null(const torch::Tensor& w) { return w.numel() ? w.data_ptr<float>() : nullptr; }

// ab [R, 2I] bf16 contiguous, w [R] f32 or empty → h [R, I].
struct SwiGLU : torch::autograd::Function<SwiGLU> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& ab, const torch::Tensor& w) {
    const auto R = ab.size(0), I = ab.size(1) / 2;
    auto h = torch::empty({R, I}, ab.options());
    check_launch(kernels::swiglu(ab.data_ptr(), weights_or_null(w), h.data_ptr(), R, I, stream()), "swiglu");
    ctx->save_for_backward({ab, w});
    return h;
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto s = ctx->get_saved_variables();
    const auto& ab = s[0];
    const auto& w = s[1];
    const auto R = ab.size(0), I = ab.size(1) / 2;
    auto dh = dout[0].contiguous();
    auto d_ab = torch::empty_like(ab);
    const bool weighted = w.numel() > 0;
    torch::Tensor dw = weighted ? torch::empty_like(w) : torch::Tensor();
    check_launch(kernels::swiglu_backward(dh.data_ptr(), ab.data_ptr(), weights_or_null(w), d_ab.data_ptr(),
                                          weighted ? dw.data_ptr<float>() : nullptr, R, I, stream()),
                 "swiglu_backward");
    return {d_ab, dw};
  }
};

bool fused_rope_applies(const torch::Tensor& x, const torch::Tensor& cos) {
  return fusable(x) && x.dim() == 4 && x.size(-1) % 2 == 0 && cos.is_cuda() && cos.scalar_type() == torch::kFloat32;
}
#endif

}  // namespace

torch::Tensor rope_queries(const torch::Tensor& q, int64_t rope_dim, const torch::Tensor& cos,
                           const torch::Tensor& sin) {
#if PLEXUS_FUSED_KERNELS
  if (fused_rope_applies(q, cos) && rope_dim % 2 == 0)
    return RopeQueries::apply(q, rope_dim, cos.contiguous(), sin.contiguous());
#endif
  return rope_queries_composite(q, rope_dim, cos, sin);
}

torch::Tensor rope_keys(const torch::Tensor& k_nope, const torch::Tensor& k_pe, const torch::Tensor& cos,
                        const torch::Tensor& sin) {
#if PLEXUS_FUSED_KERNELS
  if (fused_rope_applies(k_nope, cos) && fusable(k_pe) && k_pe.dim() == 3 && k_pe.size(-1) % 2 == 0)
    return RopeKeys::apply(k_nope, k_pe, cos.contiguous(), sin.contiguous());
#endif
  return rope_keys_composite(k_nope, k_pe, cos, sin);
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::Dtype out_dtype) {
#if PLEXUS_FUSED_KERNELS
  const auto C = x.size(-1);
  const bool io_ok = (x.scalar_type() == torch::kFloat32 || is_bf16(x)) &&
                     (out_dtype == torch::kFloat32 || out_dtype == torch::kBFloat16);
  if (x.is_cuda() && io_ok && C <= kernels::kNormMaxCols && weight.scalar_type() == torch::kFloat32 &&
      weight.is_contiguous()) {
    // Rows as [N, C] with one row stride: reshape keeps a view where it can (a split of wider rows keeps its
    // stride) and copies otherwise.
    auto rows = x.reshape({-1, C});
    if (rows.stride(-1) != 1) rows = rows.contiguous();
    auto out_sizes = x.sizes().vec();
    return RmsNorm::apply(rows, weight, eps, out_dtype).view(out_sizes);
  }
#endif
  return rms_norm_composite(x, weight, eps, out_dtype);
}

AddNorm add_rms_norm(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& weight, double eps,
                     torch::Dtype low_dtype, bool with_f32) {
#if PLEXUS_FUSED_KERNELS
  const auto C = x.size(-1);
  if (x.is_cuda() && x.scalar_type() == torch::kFloat32 && x.is_contiguous() && y.is_cuda() &&
      y.sizes() == x.sizes() && y.is_contiguous() && (is_bf16(y) || y.scalar_type() == torch::kFloat32) &&
      low_dtype == torch::kBFloat16 && C <= kernels::kNormMaxCols && weight.scalar_type() == torch::kFloat32 &&
      weight.is_contiguous()) {
    auto out = AddRmsNorm::apply(x.view({-1, C}), y.view({-1, C}), weight, eps, with_f32);
    return {out[0].view(x.sizes()), out[1].view(x.sizes()), with_f32 ? out[2].view(x.sizes()) : torch::Tensor()};
  }
#endif
  auto h = residual_add(x, y);
  if (!with_f32) return {h, rms_norm(h, weight, eps, low_dtype), {}};
  auto [n32, n] = rms_norm_both(h, weight, eps, low_dtype);
  return {h, n, n32};
}

torch::Tensor cast(const torch::Tensor& x, torch::Dtype dtype) {
  if (x.scalar_type() == dtype) return x;
#if PLEXUS_FUSED_KERNELS
  const bool pair = (x.scalar_type() == torch::kFloat32 && dtype == torch::kBFloat16) ||
                    (is_bf16(x) && dtype == torch::kFloat32);
  if (x.is_cuda() && x.is_contiguous() && pair) return Cast::apply(x, dtype);
#endif
  return x.to(dtype);
}

std::pair<torch::Tensor, torch::Tensor> rms_norm_both(const torch::Tensor& x, const torch::Tensor& weight,
                                                      double eps, torch::Dtype low_dtype) {
  auto y = rms_norm(x, weight, eps, torch::kFloat32);
  return {y, y.to(low_dtype)};  // f32: the same tensor twice
}

torch::Tensor residual_add(const torch::Tensor& x, const torch::Tensor& y) {
#if PLEXUS_FUSED_KERNELS
  if (x.is_cuda() && x.scalar_type() == torch::kFloat32 && fusable(y) && x.sizes() == y.sizes() &&
      x.is_contiguous() && y.is_contiguous())
    return ResidualAdd::apply(x, y);
#endif
  return x + y;
}

torch::Tensor gather_sum(const torch::Tensor& y, const torch::Tensor& slot, int64_t k, torch::Dtype out_dtype) {
  const auto C = y.size(1), N = slot.size(0) / k;
#if PLEXUS_FUSED_KERNELS
  if (fusable(y) && y.is_contiguous() && C % 8 == 0 && reinterpret_cast<uintptr_t>(y.data_ptr()) % 16 == 0 &&
      (out_dtype == torch::kFloat32 || out_dtype == torch::kBFloat16) && slot.scalar_type() == torch::kInt64) {
    auto s = slot.contiguous();
    auto out = torch::empty({N, C}, y.options().dtype(out_dtype));
    check_launch(kernels::gather_sum(y.data_ptr(), s.data_ptr<int64_t>(), out.data_ptr(),
                                     out_dtype == torch::kBFloat16, N, k, C, stream()),
                 "gather_sum");
    return out;
  }
#endif
  return y.index_select(0, slot).view({N, k, C}).sum(1, false, out_dtype);
}

torch::Tensor select_experts(const torch::Tensor& sel, int64_t groups, int64_t topk_groups, int64_t k,
                             bool top_two_sum) {
#if PLEXUS_FUSED_KERNELS
  if (sel.is_cuda() && sel.scalar_type() == torch::kFloat32 && sel.dim() == 2 &&
      sel.size(1) <= kernels::kGateMaxExperts) {
    auto s = sel.contiguous();
    auto idx = torch::empty({s.size(0), k}, s.options().dtype(torch::kInt64));
    check_launch(kernels::gate_select(s.data_ptr<float>(), idx.data_ptr<int64_t>(), s.size(0), s.size(1), groups,
                                      topk_groups, k, top_two_sum, stream()),
                 "gate_select");
    return idx;
  }
#endif
  return select_experts_composite(sel, groups, topk_groups, k, top_two_sum);
}

torch::Tensor swiglu_hidden(const torch::Tensor& x, const torch::Tensor& w13, const torch::Tensor& row_weight,
                            const Product& product) {
  const auto I = w13.size(-2) / 2;
#if PLEXUS_FUSED_KERNELS
  if (fusable(x) && I % 8 == 0) {
    auto ab = product(x, w13);  // [..., 2I]: the gate and up products side by side
    PLEXUS_CHECK(ab.scalar_type() == torch::kBFloat16 && ab.size(-1) == 2 * I,
                 "swiglu_hidden: the product of [W1; W3] must be bf16 [..., {}]", 2 * I);
    auto w = row_weight.defined() ? row_weight.to(torch::kFloat32).contiguous()
                                  : torch::empty({0}, x.options().dtype(torch::kFloat32));
    auto out_sizes = ab.sizes().vec();
    out_sizes.back() = I;
    return SwiGLU::apply(ab.reshape({-1, 2 * I}).contiguous(), w).view(out_sizes);
  }
#endif
  return swiglu_composite(product(x, w13.narrow(-2, 0, I)), product(x, w13.narrow(-2, I, I)), row_weight);
}

void adamw_bf16(const std::vector<AdamWBf16Slice>& slices, const torch::Tensor& lr, const torch::Tensor& step,
                const torch::Tensor& divisor, double beta1, double beta2, double eps, double weight_decay) {
  PLEXUS_CHECK(have_fused_kernels(), "adamw_bf16 needs plexus's fused CUDA kernels (a CUDA build with nvcc)");
#if PLEXUS_FUSED_KERNELS
  auto scalar = [](const torch::Tensor& t) {
    return t.is_cuda() && t.scalar_type() == torch::kFloat32 && t.numel() == 1;
  };
  PLEXUS_CHECK(scalar(lr) && scalar(step) && (!divisor.defined() || scalar(divisor)),
               "adamw_bf16: lr, step and divisor must be f32 scalars on the GPU");
  std::vector<kernels::AdamWSlice> k;
  for (const auto& s : slices) {
    const auto n = s.p.numel();
    for (const auto* t : {&s.p, &s.g, &s.m, &s.v, &s.w})
      PLEXUS_CHECK(t->is_cuda() && t->is_contiguous() && t->numel() == n && t->device() == lr.device(),
                   "adamw_bf16: every tensor of a slice must be contiguous on the GPU with one numel");
    PLEXUS_CHECK(s.p.scalar_type() == torch::kFloat32 && s.m.scalar_type() == torch::kFloat32 &&
                     s.v.scalar_type() == torch::kFloat32 && is_bf16(s.g) && is_bf16(s.w),
                 "adamw_bf16: p, m, v must be f32 and g, w bf16");
    k.push_back({s.p.data_ptr<float>(), s.g.data_ptr(), s.m.data_ptr<float>(), s.v.data_ptr<float>(), s.w.data_ptr(), n});
  }
  if (k.empty()) return;
  check_launch(kernels::adamw_bf16(k.data(), static_cast<int>(k.size()), lr.data_ptr<float>(), step.data_ptr<float>(),
                                   divisor.defined() ? divisor.data_ptr<float>() : nullptr, beta1, beta2, eps,
                                   weight_decay, stream()),
               "adamw_bf16");
#endif
}

// ---- Cross-entropy rows ---------------------------------------------------------------------------------

namespace {

#if PLEXUS_FUSED_KERNELS
// logits [M, V] bf16 (row stride ld, last dim contiguous), targets [M] int64 contiguous → loss [M] f32. Saves the
// logits (no f32 copy) and lse [M]; the backward writes the bf16 gradient in one pass.
struct CrossEntropyRows : torch::autograd::Function<CrossEntropyRows> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits, const torch::Tensor& targets) {
    const auto M = logits.size(0), V = logits.size(1);
    auto loss = torch::empty({M}, logits.options().dtype(torch::kFloat32));
    auto lse = torch::empty({M}, loss.options());
    check_launch(kernels::cross_entropy_rows(logits.data_ptr(), logits.stride(0), targets.data_ptr<int64_t>(),
                                             loss.data_ptr<float>(), lse.data_ptr<float>(), M, V, stream()),
                 "cross_entropy_rows");
    ctx->save_for_backward({logits, targets, lse});
    return loss;
  }
  static variable_list backward(AutogradContext* ctx, variable_list dout) {
    auto s = ctx->get_saved_variables();
    const auto &logits = s[0], &targets = s[1], &lse = s[2];
    const auto M = logits.size(0), V = logits.size(1);
    auto dloss = dout[0].to(torch::kFloat32).contiguous();
    auto dlogits = torch::empty({M, V}, logits.options().memory_format(torch::MemoryFormat::Contiguous));
    check_launch(kernels::cross_entropy_rows_backward(logits.data_ptr(), logits.stride(0),
                                                      targets.data_ptr<int64_t>(), lse.data_ptr<float>(),
                                                      dloss.data_ptr<float>(), dlogits.data_ptr(), M, V, stream()),
                 "cross_entropy_rows_backward");
    return {dlogits, {}};
  }
};
#endif

}  // namespace

torch::Tensor cross_entropy_rows(const torch::Tensor& logits, const torch::Tensor& targets) {
#if PLEXUS_FUSED_KERNELS
  if (fusable(logits) && logits.dim() == 2 && logits.stride(1) == 1 && logits.size(1) > 0 && targets.is_cuda() &&
      targets.scalar_type() == torch::kInt64 && targets.dim() == 1 && targets.size(0) == logits.size(0) &&
      targets.device() == logits.device())
    return CrossEntropyRows::apply(logits, targets.contiguous());
#endif
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits.to(torch::kFloat32), targets, F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

}  // namespace plexus::llm
