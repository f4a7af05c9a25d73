// The training step of llm/train_step.h: the host-driven CPU path equals the step pretrain always ran, the
// device-side clip equals the host clip, the run.cuda_graphs key, and (GPU only) N graph-replayed steps equal N
// eager steps.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "plexus/core/config.h"
#include "plexus/core/cuda_graph.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/fused_ops.h"
#include "plexus/llm/pretrain.h"
#include "plexus/llm/train_step.h"
#include "tiny_model.h"

using namespace plexus;
using namespace plexus::llm;

namespace {

using test::named;

// Batches of random tokens [B,T+1] (inputs = the first T, targets = the last T).
torch::Tensor batches(int64_t n, int64_t B, int64_t T, int64_t V) {
  auto g = torch_generator(stream_key(7, "test.tokens"));
  return torch::randint(V, {n, B, T + 1}, g, torch::kInt64);
}

}  // namespace

TEST(AdamWClip, DeviceClipScalesLikeTheHostClip) {
  // Gradients (3, 4) and (12): global norm sqrt(9 + 16 + 144) = 13. Clip at 1 scales by 1/(13 + 1e-6).
  auto a = torch::zeros({2}, torch::requires_grad()), b = torch::zeros({1}, torch::requires_grad());
  AdamW opt({{"a", a}, {"b", b}}, {});
  auto set = [&] {
    a.mutable_grad() = torch::tensor({3.0f, 4.0f});
    b.mutable_grad() = torch::tensor({12.0f});
  };
  set();
  auto n = opt.clip_grad_norm_device(1.0);
  EXPECT_FLOAT_EQ(n.item<float>(), 13.0f);
  const float c = static_cast<float>(1.0 / (13.0 + 1e-6));  // the host path's scalar, rounded to f32
  EXPECT_EQ(a.grad()[1].item<float>(), 4.0f * c);
  EXPECT_EQ(b.grad()[0].item<float>(), 12.0f * c);
  auto a_dev = a.grad().clone();
  set();
  EXPECT_DOUBLE_EQ(opt.clip_grad_norm(1.0), 13.0);
  EXPECT_TRUE(torch::equal(a.grad(), a_dev));  // bitwise the same as the host path
  // Below the threshold (and within 1e-6 of it) nothing changes, as in the host path.
  set();
  opt.clip_grad_norm_device(13.0);
  EXPECT_TRUE(torch::equal(a.grad(), torch::tensor({3.0f, 4.0f})));
  // max_norm 0: only the norm.
  set();
  EXPECT_FLOAT_EQ(opt.clip_grad_norm_device(0.0).item<float>(), 13.0f);
  EXPECT_TRUE(torch::equal(b.grad(), torch::tensor({12.0f})));
}

TEST(TrainStep, CpuStepIsThePretrainStepOfBefore) {
  // Two identical tiny models: one stepped by TrainStep, one by the loop pretrain ran before train_step.h
  // existed. The CPU path must give bitwise the same losses, norms, loads, weights and gate biases.
  auto a = test::tiny_model();
  a.vocab_size = 64;
  a.bias_update_speed = 0.01;
  Transformer m1(a), m2(a);
  m1->init_weights(3), m2->init_weights(3);
  auto p1 = named(m1), p2 = named(m2);
  AdamW o1(p1, {}), o2(p2, {});
  TrainStep step(m1, o1, {1.0, a.bias_update_speed, false}, torch::kCPU, torch::kFloat32);
  EXPECT_FALSE(step.device_path());
  auto data = batches(4, 3, 16, a.vocab_size);
  for (int64_t s = 0; s < 4; ++s) {
    auto x = data[s].narrow(1, 0, 16), y = data[s].narrow(1, 1, 16);
    const double lr = 1e-3 * static_cast<double>(s + 1);
    step.run(x, y, lr);
    auto st = step.read();
    o2.zero_grad();
    auto parts = m2->loss(x, y);
    parts.total.backward();
    double gn = o2.clip_grad_norm(1.0);
    o2.step(lr);
    auto loads = m2->end_step_balance(a.bias_update_speed);
    EXPECT_EQ(st.total, parts.total.item<double>());
    EXPECT_EQ(st.main, parts.main.item<double>());
    EXPECT_EQ(st.grad_norm, gn);
    ASSERT_EQ(st.loads.size(), loads.size());
    for (size_t i = 0; i < loads.size(); ++i) EXPECT_EQ(st.loads[i].max_over_mean, loads[i].max_over_mean);
  }
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(torch::equal(p1[i].second, p2[i].second)) << p1[i].first;
  for (size_t i = 0; i < m1->moe_layers().size(); ++i)
    EXPECT_TRUE(torch::equal(m1->moe_layers()[i]->gate->bias, m2->moe_layers()[i]->gate->bias));
  EXPECT_EQ(o1.steps(), 4);
}

TEST(TrainStep, GraphsOnCpuAreAConfigErrorNamingTheKey) {
  auto a = test::tiny_model();
  Transformer m(a);
  auto ps = named(m);
  AdamW opt(ps, {});
  EXPECT_NE(TrainStep::graph_blocker(m, torch::kCPU, torch::kBFloat16), "");
  try {
    TrainStep step(m, opt, {1.0, 0.0, true}, torch::kCPU, torch::kBFloat16);
    FAIL() << "expected a config error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("run.cuda_graphs"), std::string::npos) << e.what();
  }
}

TEST(TrainStep, RunCudaGraphsKeyTakesAutoOnOrOff) {
  auto parse = [](const std::string& v) {
    auto root = parse_toml("[run]\ncuda_graphs = \"" + v + "\"\n" + test::tiny_model_toml(256));
    return PretrainConfig::parse(root);
  };
  EXPECT_EQ(PretrainConfig::parse(parse_toml(test::tiny_model_toml(256))).run.cuda_graphs, "auto");  // default
  EXPECT_EQ(parse("off").run.cuda_graphs, "off");
  EXPECT_EQ(parse("on").run.cuda_graphs, "on");  // capture or fail (checked where the run starts)
  try {
    parse("always");
    FAIL() << "expected a config error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("cuda_graphs"), std::string::npos) << e.what();
  }
}

// GPU: N steps replayed from one CUDA graph equal N eager steps of the same (sync-free) step. Run on the GPU
// machine: GTEST_FILTER='TrainStepGpu*' bash bench/gpu_tests.sh test_llm.
TEST(TrainStepGpu, GraphReplayedStepsEqualEagerSteps) {
  if (!torch::cuda::is_available() || !cuda_graphs_supported()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  auto a = test::tiny_model();
  a.vocab_size = 64;
  a.bias_update_speed = 0.01;
  a.aux_loss_alpha = 1e-3;
  torch::Device dev(torch::kCUDA);
  Transformer me(a), mg(a);
  me->init_weights(5), mg->init_weights(5);
  me->to(dev), mg->to(dev);
  me->set_compute_dtype(torch::kBFloat16), mg->set_compute_dtype(torch::kBFloat16);
  me->train(), mg->train();
  ASSERT_EQ(TrainStep::graph_blocker(mg, dev, torch::kBFloat16), "");
  auto pe = named(me), pg = named(mg);
  std::vector<torch::Tensor> init;
  for (auto& [n, p] : pe) init.push_back(p.detach().clone());
  AdamW oe(pe, {}), og(pg, {});
  TrainStep eager(me, oe, {1.0, a.bias_update_speed, false}, dev, torch::kBFloat16);
  TrainStep graph(mg, og, {1.0, a.bias_update_speed, true}, dev, torch::kBFloat16);
  ASSERT_TRUE(eager.device_path());
  const int64_t N = 8, B = 4, T = 32;
  auto data = batches(N, B, T, a.vocab_size);  // host batches, copied into the static buffers every step
  double worst_loss = 0;
  for (int64_t s = 0; s < N; ++s) {
    auto x = data[s].narrow(1, 0, T), y = data[s].narrow(1, 1, T);
    const double lr = 2e-3 * (1.0 + 0.5 * std::cos(static_cast<double>(s)));  // a changing lr reaches the graph
    eager.run(x, y, lr);
    graph.run(x, y, lr);
    auto se = eager.read(), sg = graph.read();
    // Tolerance: the eager and the replayed step launch the same kernels on the same data; they differ only
    // by the order of atomic adds (index_add_ in the MoE combine, embedding backward) in bf16/f32, which
    // changes the last bits of a gradient and, through AdamW, the weights by far less than 1e-3 relative.
    EXPECT_NEAR(sg.total, se.total, 1e-3 * std::abs(se.total)) << "step " << s;
    EXPECT_NEAR(sg.main, se.main, 1e-3 * std::abs(se.main)) << "step " << s;
    EXPECT_NEAR(sg.grad_norm, se.grad_norm, 1e-2 * se.grad_norm) << "step " << s;
    ASSERT_EQ(sg.loads.size(), se.loads.size());
    worst_loss = std::max(worst_loss, std::abs(sg.total - se.total) / std::abs(se.total));
  }
  EXPECT_EQ(og.steps(), N);
  EXPECT_EQ(oe.steps(), N);
  // The weights moved the same way: the update difference is small against the update itself.
  double diff2 = 0, upd2 = 0;
  for (size_t i = 0; i < pe.size(); ++i) {
    diff2 += (pg[i].second - pe[i].second).to(torch::kFloat64).pow(2).sum().item<double>();
    upd2 += (pe[i].second - init[i]).to(torch::kFloat64).pow(2).sum().item<double>();
  }
  ASSERT_GT(upd2, 0.0);
  const double rel = std::sqrt(diff2 / upd2);
  std::printf("graph vs eager over %lld steps: worst loss rel diff %.3g, weight update rel diff %.3g\n",
              static_cast<long long>(N), worst_loss, rel);
  EXPECT_LT(rel, 2e-2);
  // The gate biases follow the same sign updates (integer loads): most entries agree exactly.
  int64_t differ = 0, total = 0;
  for (size_t i = 0; i < me->moe_layers().size(); ++i) {
    auto d = (me->moe_layers()[i]->gate->bias - mg->moe_layers()[i]->gate->bias).abs();
    differ += (d > 1e-9).sum().item<int64_t>();
    total += d.numel();
  }
  std::printf("gate bias entries that differ: %lld of %lld\n", static_cast<long long>(differ),
              static_cast<long long>(total));
  EXPECT_LE(differ, total / 4);
}

// GPU: the step through bf16 shadows (AdamW writes the bf16 weights, reads bf16 gradients) follows the step that
// casts every weight and gradient: the forward values are the same, and the updates differ only by rounding in
// the optimizer kernels and in how the gradient norm is grouped.
TEST(TrainStepGpu, ShadowedStepsFollowTheCastPath) {
  if (!torch::cuda::is_available() || !have_fused_kernels()) GTEST_SKIP() << "needs a GPU and plexus's fused kernels";
  auto a = test::tiny_model();
  a.vocab_size = 64;
  torch::Device dev(torch::kCUDA);
  Transformer ms(a), mc(a);
  ms->init_weights(6), mc->init_weights(6);
  ms->to(dev), mc->to(dev);
  ms->set_compute_dtype(torch::kBFloat16), mc->set_compute_dtype(torch::kBFloat16);
  ms->train(), mc->train();
  auto ps = named(ms), pc = named(mc);
  std::vector<torch::Tensor> init;
  for (auto& [n, p] : ps) init.push_back(p.detach().clone());
  AdamW os(ps, {}), oc(pc, {});
  TrainStepOptions with{1.0, 0.0, false}, without{1.0, 0.0, false};
  without.bf16_shadows = false;
  {
    TrainStep shadowed(ms, os, with, dev, torch::kBFloat16), cast(mc, oc, without, dev, torch::kBFloat16);
    ASSERT_TRUE(shadowed.shadowed());
    ASSERT_FALSE(cast.shadowed());
    const int64_t N = 6, B = 4, T = 32;
    auto data = batches(N, B, T, a.vocab_size);
    for (int64_t s = 0; s < N; ++s) {
      auto x = data[s].narrow(1, 0, T), y = data[s].narrow(1, 1, T);
      shadowed.run(x, y, 3e-3);
      cast.run(x, y, 3e-3);
      auto ss = shadowed.read(), sc = cast.read();
      if (s == 0) EXPECT_EQ(ss.total, sc.total);  // the same weights: the same bf16 forward
      EXPECT_NEAR(ss.total, sc.total, 1e-3 * std::abs(sc.total)) << "step " << s;
      EXPECT_NEAR(ss.grad_norm, sc.grad_norm, 1e-3 * sc.grad_norm) << "step " << s;
    }
  }  // the steps detach the shadows; the optimizers go on without them
  double diff2 = 0, upd2 = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    diff2 += (ps[i].second - pc[i].second).to(torch::kFloat64).pow(2).sum().item<double>();
    upd2 += (pc[i].second - init[i]).to(torch::kFloat64).pow(2).sum().item<double>();
  }
  ASSERT_GT(upd2, 0.0);
  std::printf("shadowed vs cast over 6 steps: weight update rel diff %.3g\n", std::sqrt(diff2 / upd2));
  EXPECT_LT(std::sqrt(diff2 / upd2), 2e-2);
}
