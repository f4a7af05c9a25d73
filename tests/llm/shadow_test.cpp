// bf16 weight shadows (llm/shadow.h) and the AdamW that trains through them: which weights get one, that a
// backward through them gives the cast path's gradients bit for bit (CPU, bf16 products), that AdamW keeps its
// named state when its moments move into one buffer per shadow, and (GPU) the update kernel against the AdamW
// formulas evaluated in f64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <memory>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/fused_ops.h"
#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/shadow.h"
#include "tiny_model.h"

using namespace plexus;
using namespace plexus::llm;

namespace {

using test::named;

// Byte offset of p's first element inside M, or −1 when p does not start inside M.
int64_t offset_in(const torch::Tensor& p, const torch::Tensor& M) {
  const auto* q = static_cast<const char*>(p.data_ptr());
  const auto* b = static_cast<const char*>(M.data_ptr());
  return q >= b && q < b + M.numel() * 4 ? (q - b) / 4 : -1;
}

}  // namespace

TEST(LlmShadow, EveryProductMatrixOnceExceptEmbedHeadAndGates) {
  auto a = test::tiny_model();
  Transformer m(a);
  auto masters = m->matmul_weights();
  ShadowWeights s(masters);
  ASSERT_EQ(s.entries().size(), masters.size());
  int64_t listed = 0;
  for (const auto& e : s.entries()) {
    EXPECT_EQ(e.shadow.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(e.shadow.requires_grad() && e.shadow.is_leaf());
    EXPECT_TRUE(torch::equal(e.shadow, e.master.to(torch::kBFloat16)));  // the cast, rounded the same way
    listed += e.master.numel();
  }
  // What is left out: the embedding, the head, the gates and the RMSNorm gains. Together: every parameter.
  int64_t rest = m->embed.numel() + m->head.numel(), total = 0;
  for (auto& moe : m->moe_layers()) rest += moe->gate->weight.numel();
  for (auto& p : m->parameters()) {
    total += p.numel();
    if (p.dim() == 1) rest += p.numel();
  }
  EXPECT_EQ(listed + rest, total);
  // A MoE layer's expert stack is the shadow itself; one expert's W3 inside it is the matching piece.
  auto moe = m->moe_layers().at(0);
  auto stacks = moe->expert_masters();
  ASSERT_EQ(stacks.size(), 2u);
  auto whole = s.shadow_of(stacks[0]);
  ASSERT_TRUE(whole.defined());
  EXPECT_TRUE(whole.is_same(s.entries()[0].shadow));
  auto w3 = moe->experts[1]->as<Expert>()->w3;
  auto piece = s.shadow_of(w3);
  ASSERT_TRUE(piece.defined());
  EXPECT_EQ(piece.sizes(), w3.sizes());
  EXPECT_EQ(piece.data_ptr(), whole[1].narrow(0, a.moe_inter_dim, a.moe_inter_dim).data_ptr());  // [W1; W3] of expert 1
  EXPECT_TRUE(torch::equal(piece, w3.to(torch::kBFloat16)));
  EXPECT_FALSE(s.shadow_of(m->head).defined());
  EXPECT_FALSE(s.shadow_of(stacks[0].transpose(1, 2)).defined());  // not contiguous
  {
    ShadowGuard guard(&s);
    EXPECT_TRUE(weight_in(stacks[0], torch::kBFloat16).is_same(whole));
    EXPECT_FALSE(weight_in(stacks[0], torch::kFloat32).is_same(whole));  // f32 products cast (here: none)
  }
  EXPECT_FALSE(weight_in(stacks[0], torch::kBFloat16).is_same(whole));  // no guard: a cast
}

TEST(LlmShadow, BackwardThroughShadowsGivesTheCastPathsGradients) {
  auto a = test::tiny_model();
  Transformer m(a);
  m->init_weights(4);
  m->set_compute_dtype(torch::kBFloat16);
  m->train();
  for (auto& moe : m->moe_layers()) moe->dispatch = MoeDispatch::Grouped;  // the expert stacks, as on CUDA
  auto gen = torch_generator(stream_key(9, "test.shadow.tokens"));
  auto tok = torch::randint(a.vocab_size, {2, 17}, gen, torch::kInt64);
  auto x = tok.narrow(1, 0, 16), y = tok.narrow(1, 1, 16);
  auto clear = [&](ShadowWeights& s) {
    for (auto& p : m->parameters()) p.mutable_grad().reset();
    s.zero_grad();
  };
  ShadowWeights s(m->matmul_weights());
  clear(s);
  auto cast_loss = m->loss(x, y).total;
  cast_loss.backward();
  std::vector<torch::Tensor> want;  // per entry: the masters' f32 gradients laid out as the entry
  for (const auto& e : s.entries()) {
    auto g = torch::full({e.master.numel()}, std::nan(""));
    for (auto& p : m->parameters()) {
      const auto off = offset_in(p, e.master);
      if (off < 0) continue;
      ASSERT_TRUE(p.grad().defined());
      g.narrow(0, off, p.numel()).copy_(p.grad().reshape({-1}));
    }
    want.push_back(g);
  }
  auto head_grad = m->head.grad().clone();
  clear(s);
  torch::Tensor loss;
  {
    ShadowGuard guard(&s);
    loss = m->loss(x, y).total;
  }
  loss.backward();
  EXPECT_EQ(loss.item<double>(), cast_loss.item<double>());
  for (size_t k = 0; k < s.entries().size(); ++k) {
    const auto& e = s.entries()[k];
    ASSERT_TRUE(e.shadow.grad().defined()) << "entry " << k;
    EXPECT_EQ(e.shadow.grad().scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(e.shadow.grad().to(torch::kFloat32).reshape({-1}), want[k])) << "entry " << k;
    for (auto& p : m->parameters())
      if (offset_in(p, e.master) >= 0) EXPECT_FALSE(p.grad().defined()) << "entry " << k;
  }
  EXPECT_TRUE(torch::equal(m->head.grad(), head_grad));  // the head stays on the cast path, f32 gradient
}

TEST(LlmShadow, AdamWKeepsItsNamedStateWhenMomentsMoveIntoOneBufferPerShadow) {
  auto a = test::tiny_model();
  Transformer m(a);
  auto ps = named(m);
  AdamW opt(ps, {});
  auto st = opt.state();
  auto gen = torch_generator(stream_key(2, "test.shadow.moments"));
  for (auto& [k, t] : st)
    if (k != "adam.t") t = torch::randn(t.sizes(), gen);
  opt.load_state(st);
  auto shadows = std::make_shared<ShadowWeights>(m->matmul_weights());
  opt.use_shadows(shadows);
  for (auto& [k, t] : opt.state()) EXPECT_TRUE(torch::equal(t, st.at(k))) << k;
  // An expert's W1 and W3 moments now sit side by side, as the two weights do.
  auto e0 = m->moe_layers().at(0)->experts[0]->as<Expert>();
  std::string w1, w3;
  for (auto& [n, p] : ps) {
    if (p.is_same(e0->w1)) w1 = n;
    if (p.is_same(e0->w3)) w3 = n;
  }
  auto now = opt.state();
  EXPECT_EQ(static_cast<const char*>(now.at("adam.m." + w3).data_ptr()) -
                static_cast<const char*>(now.at("adam.m." + w1).data_ptr()),
            e0->w1.numel() * 4);
  // The host-driven step would ignore the shadows' gradients: refused.
  try {
    opt.step(1e-3);
    FAIL() << "expected an internal error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step_device"), std::string::npos) << e.what();
  }
  opt.use_shadows(nullptr);
  EXPECT_NO_THROW(opt.step(1e-3));
  // Shadows over weights this optimizer does not hold are refused.
  AdamW part({ps.front()}, {});
  EXPECT_THROW(part.use_shadows(shadows), Error);
}

// GPU: the update kernel on slices of awkward sizes (a scalar tail, an unaligned view) against the AdamW
// formulas in f64, with and without a gradient divisor.
TEST(LlmShadowGpu, AdamWBf16MatchesTheFormulasInF64) {
  if (!torch::cuda::is_available() || !have_fused_kernels()) GTEST_SKIP() << "needs a GPU and plexus's fused kernels";
  torch::Device dev(torch::kCUDA);
  auto gen = torch_generator(stream_key(5, "test.adamw_bf16"));
  const double b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1, lr = 3e-3, t = 3;
  for (bool divide : {false, true}) {
    std::vector<AdamWBf16Slice> sl;
    std::vector<std::array<torch::Tensor, 4>> ref;  // p, g, m, v in f64 before the update
    for (int64_t n : {4096, 1003, 37}) {
      auto p = torch::randn({n + 1}, gen), m = torch::randn({n + 1}, gen) * 0.01;
      auto v = torch::rand({n + 1}, gen) * 1e-4, g = torch::randn({n + 1}, gen).to(torch::kBFloat16);
      // n = 37: views starting one element in, so no 16-byte alignment (the per-element loop)
      const int64_t o = n == 37 ? 1 : 0;
      auto cut = [&](const torch::Tensor& x) { return x.to(dev).narrow(0, o, n); };
      AdamWBf16Slice s{cut(p), cut(g), cut(m), cut(v), torch::empty({n + 1}, g.options().device(dev)).narrow(0, o, n)};
      ref.push_back({s.p.to(torch::kCPU, torch::kFloat64), s.g.to(torch::kCPU, torch::kFloat64),
                     s.m.to(torch::kCPU, torch::kFloat64), s.v.to(torch::kCPU, torch::kFloat64)});
      sl.push_back(s);
    }
    auto f = torch::TensorOptions().device(dev).dtype(torch::kFloat32);
    auto div = divide ? torch::full({}, 2.5, f) : torch::Tensor();
    adamw_bf16(sl, torch::full({}, lr, f), torch::full({}, t, f), div, b1, b2, eps, wd);
    for (size_t i = 0; i < sl.size(); ++i) {
      auto [p, g, m, v] = ref[i];
      g = g / (divide ? 2.5 : 1.0);
      p = p - lr * wd * p;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      p = p - (lr / (1 - std::pow(b1, t))) * m / (v.sqrt() / std::sqrt(1 - std::pow(b2, t)) + eps);
      auto got = sl[i].p.to(torch::kCPU, torch::kFloat64);
      EXPECT_LT((got - p).abs().max().item<double>(), 1e-6) << "slice " << i;
      // m ~ 0.05: f32 rounding of β1·m + (1−β1)·g is a few 1e-9 absolute, however small m itself is
      EXPECT_TRUE(torch::allclose(sl[i].m.to(torch::kCPU, torch::kFloat64), m, 1e-6, 1e-7)) << "slice " << i;
      EXPECT_TRUE(torch::allclose(sl[i].v.to(torch::kCPU, torch::kFloat64), v, 1e-5, 1e-12)) << "slice " << i;
      EXPECT_TRUE(torch::equal(sl[i].w, sl[i].p.to(torch::kBFloat16))) << "slice " << i;  // w = bf16(p), RNE
    }
  }
}
