// CUDA graphs of the batched local step (fl/batched_graphs.h, BatchedTrainer with cuda_graphs) and the
// run.cuda_graphs key. The GPU tests compare the graph path with the eager batched path on the same device
// (same kernels, so the rows agree to float32 rounding: 1e-5 absolute after several steps) and skip on a
// CPU-only build or without a GPU; the rest checks what a CPU build does with the key.
#include <gtest/gtest.h>

#include "plexus/core/cuda_graph.h"
#include "plexus/core/log.h"
#include "plexus/fl/batched_graphs.h"
#include "plexus/fl/batched_round.h"
#include "plexus/fl/batched_trainer.h"
#include "plexus/fl/runner.h"
#include "synthetic_config.h"

using namespace plexus;
using namespace plexus::fl;

namespace {

bool have_gpu() { return cuda_graphs_supported() && torch::cuda::is_available(); }

// 16×16 single-channel images in 3 classes (random, fixed seed) on `device`.
data::Dataset images(int64_t n, torch::Device device) {
  torch::manual_seed(7);
  data::Dataset d;
  d.x = torch::randn({n, 1, 16, 16}).to(device);
  d.y = torch::randint(0, 3, {n}, torch::kInt64).to(device);
  d.num_classes = 3;
  return d;
}

struct Model {
  nn::ModelOptions mo;
  nn::ParamLayout layout;
  torch::Tensor X;  // [N,P] on the CPU: perturbed copies of one init
};

Model model(const std::string& name, int64_t clients, const std::vector<std::string>& head = {}) {
  Model m;
  m.mo.name = name;
  m.mo.hidden = {16, 8};
  torch::manual_seed(3);
  auto net = nn::make_model(m.mo, {1, 16, 16}, 3);
  m.layout = nn::ParamLayout::of(*net, head);
  auto x0 = m.layout.flatten(*net);
  m.X = x0.unsqueeze(0).repeat({clients, 1}) + 0.01 * torch::randn({clients, x0.size(0)});
  return m;
}

struct Trained {
  torch::Tensor X;                          // rows after all rounds, on the CPU
  std::vector<std::vector<double>> losses;  // per round, per client
  std::pair<int64_t, int64_t> graphs;       // (captures, replays)
};

// `rounds` rounds of `plans` (in order, momentum reset before each, as train_round_batched does) for clients
// of the given sizes and step counts; learning rate η·0.9^t in round t (the graph must follow it).
Trained train(const Model& m, bool graphs, const LocalOptions& o, const std::vector<StepPlan>& plans,
              const std::vector<int64_t>& sizes, const std::vector<int64_t>& steps, int64_t rounds,
              int64_t max_clients = 0) {
  const torch::Device dev(torch::kCUDA, 0);
  int64_t total = 0;
  for (auto s : sizes) total += s;
  auto data = images(total, dev);
  std::vector<std::vector<int64_t>> sets;
  int64_t at = 0;
  for (auto s : sizes) {
    std::vector<int64_t> v;
    for (int64_t k = 0; k < s; ++k) v.push_back(at + k);
    at += s;
    sets.push_back(v);
  }
  BatchedTrainer bt(m.mo, m.layout, dev, max_clients, graphs);
  auto X = m.X.to(dev), M = torch::zeros_like(X);
  Trained out;
  std::vector<int64_t> rows;
  std::vector<const std::vector<int64_t>*> idx;
  for (std::size_t i = 0; i < sizes.size(); ++i) rows.push_back(static_cast<int64_t>(i)), idx.push_back(&sets[i]);
  for (int64_t t = 0; t < rounds; ++t) {
    std::vector<Rng> rngs;
    std::vector<std::vector<StepPlan>> per_client;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      rngs.emplace_back(5, "batch", i, static_cast<uint64_t>(t));
      std::vector<StepPlan> ps = plans;
      for (auto& p : ps) p.steps = steps[i], p.lr *= std::pow(0.9, static_cast<double>(t));
      per_client.push_back(ps);
    }
    out.losses.push_back(train_round_batched(bt, X, M, data, rows, idx, per_client, rngs, o));
  }
  out.X = X.cpu();
  out.graphs = bt.graph_counts();
  return out;
}

// Graph vs eager on the GPU: rows within `tol`, losses within 1e-5; the graph path captured and replayed.
void expect_same(const Model& m, const LocalOptions& o, const std::vector<StepPlan>& plans,
                 const std::vector<int64_t>& sizes, const std::vector<int64_t>& steps, double tol = 1e-5) {
  auto eager = train(m, false, o, plans, sizes, steps, 3);
  auto graph = train(m, true, o, plans, sizes, steps, 3);
  EXPECT_EQ(eager.graphs, (std::pair<int64_t, int64_t>{0, 0}));
  EXPECT_GT(graph.graphs.first, 0) << "no graph captured";
  EXPECT_GT(graph.graphs.second, 0) << "no graph replayed";
  EXPECT_GT((eager.X - m.X).abs().max().item<double>(), 1e-3) << "training must move the rows";
  EXPECT_LT((eager.X - graph.X).abs().max().item<double>(), tol);
  for (std::size_t t = 0; t < eager.losses.size(); ++t) {
    for (std::size_t i = 0; i < eager.losses[t].size(); ++i) {
      EXPECT_NEAR(eager.losses[t][i], graph.losses[t][i], 1e-5) << "round " << t << " client " << i;
    }
  }
}

}  // namespace

// Server / gossip FL: SGD + momentum + weight decay + clipping, equal clients (the all-active graph only),
// 3 rounds with a decaying learning rate (replays read η from the device scalar: no recapture).
TEST(BatchedGraphsGpu, SgdMomentumWeightDecayClipEqualsEager) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  auto m = model("cnn", 4);
  LocalOptions o;
  o.batch_size = 8, o.momentum = 0.9, o.weight_decay = 5e-4, o.grad_clip = 0.5;
  StepPlan plan;
  plan.lr = 0.05;
  expect_same(m, o, {plan}, {24, 24, 24, 24}, {4, 4, 4, 4});
  auto g = train(m, true, o, {plan}, {24, 24, 24, 24}, {4, 4, 4, 4}, 3);
  EXPECT_EQ(g.graphs.first, 1) << "one shape, every client active: one capture for all rounds";
  EXPECT_EQ(g.graphs.second, 3 * 4 - 1) << "every step but the warm-up replays";
}

// DFedSAM: SAM with unequal client sizes (short last batches) and step counts (the masked graph too).
TEST(BatchedGraphsGpu, SamWithUnequalClientsEqualsEager) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  auto m = model("cnn", 3);
  LocalOptions o;
  o.batch_size = 8, o.rho = 0.05;
  StepPlan plan;
  plan.sam = true, plan.lr = 0.05;
  expect_same(m, o, {plan}, {20, 13, 30}, {3, 5, 4});
  auto g = train(m, true, o, {plan}, {20, 13, 30}, {3, 5, 4}, 2);
  EXPECT_EQ(g.graphs.first, 2) << "all-active and masked graphs, reused in round 2";
}

// ASAM + momentum on the MLP in chunks of 2 clients (two chunk shapes: 2 and 1).
TEST(BatchedGraphsGpu, AsamMlpInChunksEqualsEager) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  auto m = model("mlp", 3);
  LocalOptions o;
  o.batch_size = 8, o.rho = 0.1, o.adaptive = true, o.momentum = 0.5, o.weight_decay = 1e-3;
  StepPlan plan;
  plan.sam = true, plan.lr = 0.05;
  auto eager = train(m, false, o, {plan}, {16, 16, 16}, {3, 3, 3}, 2, 2);
  auto graph = train(m, true, o, {plan}, {16, 16, 16}, {3, 3, 3}, 2, 2);
  EXPECT_LT((eager.X - graph.X).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(graph.graphs.first, 2) << "chunks of 2 and 1: two shapes";
}

// Personalized FL (DFedPGP-style): head then body plans per round (two column plans: two keys), body with SAM.
TEST(BatchedGraphsGpu, HeadThenBodyPlansEqualEager) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  auto m = model("cnn", 3, {"output_layer"});
  LocalOptions o;
  o.batch_size = 8, o.rho = 0.05, o.momentum = 0.9;
  StepPlan head, body;
  head.update = m.layout.personal_ranges(), head.lr = 0.05;
  body.update = m.layout.shared_ranges(), body.sam = true, body.lr = 0.1;
  expect_same(m, o, {head, body}, {24, 16, 24}, {3, 2, 3});
}

// run.cuda_graphs: "off" never; "auto" only where the batched engine runs on CUDA in a CUDA build; "on" refuses
// a run without the batched engine.
TEST(CudaGraphsKey, ModesResolve) {
  const torch::Device cpu(torch::kCPU), cuda(torch::kCUDA, 0);
  EXPECT_FALSE(cuda_graphs_enabled("off", true, cuda));
  EXPECT_FALSE(cuda_graphs_enabled("auto", true, cpu));
  EXPECT_FALSE(cuda_graphs_enabled("auto", false, cuda));
  EXPECT_EQ(cuda_graphs_enabled("auto", true, cuda), cuda_graphs_supported());
  // "on": a CPU-only build says so first (the fix is another build, whatever the batching); a CUDA build
  // refuses a run without the batched engine.
  for (bool batched : {true, false}) {
    if (cuda_graphs_supported() && batched) {
      EXPECT_TRUE(cuda_graphs_enabled("on", true, cuda));
      continue;
    }
    try {
      cuda_graphs_enabled("on", batched, cuda);
      FAIL() << "expected Error(Config)";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find(cuda_graphs_supported() ? "client_batching" : "CPU-only"),
                std::string::npos)
          << e.what();
    }
  }
}

// A BatchedTrainer with graphs on a CPU device (or in a CPU-only build) is a config error naming the fix.
TEST(CudaGraphsKey, OnWithoutCudaIsAConfigError) {
  nn::ModelOptions mo;
  mo.name = "mlp";
  mo.hidden = {8};
  auto net = nn::make_model(mo, {1, 4, 4}, 3);
  auto layout = nn::ParamLayout::of(*net, {});
  try {
    BatchedTrainer bt(mo, layout, torch::kCPU, 0, /*cuda_graphs=*/true);
    FAIL() << "expected Error(Config)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    const std::string what = e.what();
    EXPECT_NE(what.find("run.cuda_graphs"), std::string::npos) << what;
    EXPECT_NE(what.find(cuda_graphs_supported() ? "run.device" : "CPU-only"), std::string::npos) << what;
  }
  BatchedTrainer plain(mo, layout, torch::kCPU, 0, false);
  EXPECT_FALSE(plain.cuda_graphs());
}

namespace {
RunResult run_graphs(const std::string& name, const std::vector<std::string>& sets) {
  set_log_level(LogLevel::Warn);
  auto root = test::synthetic_config("dfedsam", name, "cuda_graphs", "[topology]\nkind = \"ring\"\n");
  apply_override(root, "fl.rounds=3");
  for (const auto& s : sets) apply_override(root, s);
  return run_fl(FlConfig::parse(root), false);
}
}  // namespace

// On the CPU "auto" just runs without graphs: the batched run equals the "off" run bit for bit.
TEST(CudaGraphsKey, AutoOnCpuRunsWithoutGraphs) {
  auto a = run_graphs("graphs_auto", {"run.client_batching=\"on\"", "run.cuda_graphs=\"auto\""});
  auto b = run_graphs("graphs_off", {"run.client_batching=\"on\"", "run.cuda_graphs=\"off\""});
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (std::size_t k = 0; k < a.rows.size(); ++k) {
    EXPECT_EQ(a.rows[k]["train_loss"], b.rows[k]["train_loss"]) << "round " << k + 1;
    EXPECT_EQ(a.rows[k]["consensus_distance"], b.rows[k]["consensus_distance"]) << "round " << k + 1;
  }
}

// "on" in a CPU run (sequential engine, or the batched engine on the CPU) stops at set-up with one config error.
TEST(CudaGraphsKey, OnInACpuRunIsAConfigError) {
  for (const char* batching : {"off", "on"}) {
    try {
      run_graphs(std::string("graphs_on_") + batching,
                 {std::string("run.client_batching=\"") + batching + "\"", "run.cuda_graphs=\"on\""});
      FAIL() << "expected Error(Config) with client_batching " << batching;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
      EXPECT_NE(std::string(e.what()).find("run.cuda_graphs"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(run_graphs("graphs_bad", {"run.cuda_graphs=\"yes\""}), Error);
}

// Whole runs on the GPU: graphs on vs off (batched engine both) give the same metrics within fp tolerance,
// for gossip SAM and personalized alternating head/body training (DFedPGP, heterogeneous steps).
TEST(BatchedGraphsGpu, WholeRunsMatchWithoutGraphs) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  auto rel = [](double a, double b) { return std::abs(a - b) / std::max(1e-12, std::abs(b)); };
  for (const char* algorithm : {"dfedsam", "dfedpgp"}) {
    std::vector<std::string> sets = {"run.device=\"cuda\"", "run.client_batching=\"on\"", "fl.algorithm=" +
                                     std::string("\"") + algorithm + "\""};
    if (std::string(algorithm) == "dfedpgp") {
      sets.push_back("topology.kind=\"directed_time_varying\"");
      sets.push_back("topology.neighbors=2");
      sets.push_back("personalization.steps_min_fraction=0.4");
      for (const char* kv : {"personalization.head_epochs=1", "personalization.body_epochs=1",
                             "personalization.lr_head=0.05", "personalization.lr_body=0.1"}) {
        sets.push_back(kv);
      }
    }
    auto on = sets, off = sets;
    on.push_back("run.cuda_graphs=\"on\"");
    off.push_back("run.cuda_graphs=\"off\"");
    auto a = run_graphs(std::string("gpu_on_") + algorithm, on), b = run_graphs(std::string("gpu_off_") + algorithm, off);
    ASSERT_EQ(a.rows.size(), b.rows.size());
    for (std::size_t k = 0; k < a.rows.size(); ++k) {
      EXPECT_LT(rel(a.rows[k]["train_loss"].get<double>(), b.rows[k]["train_loss"].get<double>()), 1e-5)
          << algorithm << " round " << k + 1;
      if (b.rows[k]["local_acc_mean"].is_number()) {
        EXPECT_NEAR(a.rows[k]["local_acc_mean"].get<double>(), b.rows[k]["local_acc_mean"].get<double>(), 0.01)
            << algorithm;
      }
    }
  }
}
