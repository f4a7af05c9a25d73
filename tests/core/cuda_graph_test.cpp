// CUDA graphs (core/cuda_graph.h). On a CPU-only LibTorch (CI) the wrapper must refuse with a config error; on a
// CUDA build with a GPU (the device machine: bench/gpu_tests.sh) a captured body must recompute its outputs from
// whatever its input buffers hold at replay, including an autograd backward inside the capture.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "plexus/core/cuda_graph.h"
#include "plexus/core/error.h"

using namespace plexus;

namespace {
bool have_gpu() { return cuda_graphs_supported() && torch::cuda::is_available(); }
}  // namespace

TEST(CudaGraph, CpuOnlyBuildRefusesWithAConfigError) {
  if (cuda_graphs_supported()) GTEST_SKIP() << "CUDA build: the refusal path is not compiled in";
  CudaGraph g;
  try {
    g.capture([] {});
    FAIL() << "capture succeeded on a CPU-only build";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("CUDA LibTorch"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(g.captured());
}

TEST(CudaGraph, ReplayRecomputesFromTheInputBuffer) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA LibTorch and a GPU";
  auto x = torch::arange(8, torch::dtype(torch::kFloat32).device(torch::kCUDA));
  auto y = torch::zeros_like(x);
  int calls = 0;
  CudaGraph g;
  g.capture([&] { y.copy_(x * 2 + 1), ++calls; }, /*warmup=*/2);
  EXPECT_EQ(calls, 3);  // 2 warm-up calls + 1 recorded
  ASSERT_TRUE(g.captured());
  x.fill_(5.0f);
  g.replay();
  EXPECT_TRUE(torch::equal(y.cpu(), torch::full({8}, 11.0f)));
  x.copy_(torch::arange(8, torch::kFloat32).neg());
  g.replay();
  EXPECT_TRUE(torch::equal(y.cpu(), torch::arange(8, torch::kFloat32).neg() * 2 + 1));
  EXPECT_EQ(calls, 3);  // replays do not call the host body
}

TEST(CudaGraph, CapturesAnAutogradStep) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA LibTorch and a GPU";
  // One SGD step on f(w) = ½||A w - b||²: gradient Aᵀ(Aw - b), known in closed form.
  auto opt = torch::dtype(torch::kFloat64).device(torch::kCUDA);
  auto A = torch::tensor({{1.0, 2.0}, {0.0, 1.0}, {3.0, -1.0}}, opt);
  auto b = torch::tensor({1.0, 0.0, 2.0}, opt);
  auto w = torch::zeros({2}, opt);
  const double lr = 0.01;
  auto step = [&] {
    auto v = w.detach().requires_grad_(true);
    auto r = torch::matmul(A, v) - b;
    auto loss = 0.5 * r.pow(2).sum();
    auto g = torch::autograd::grad({loss}, {v})[0];
    w.sub_(g * lr);
  };
  CudaGraph g;
  g.capture(step, /*warmup=*/1);  // the warm-up really steps once
  auto w_host = torch::tensor({0.0, 0.0}, torch::kFloat64);
  auto A_h = A.cpu(), b_h = b.cpu();
  auto host_step = [&] { w_host -= lr * torch::matmul(A_h.t(), torch::matmul(A_h, w_host) - b_h); };
  host_step();  // the warm-up
  for (int i = 0; i < 5; ++i) {
    g.replay();
    host_step();
  }
  EXPECT_TRUE(torch::allclose(w.cpu(), w_host, 1e-12, 1e-14)) << w.cpu() << w_host;
}
