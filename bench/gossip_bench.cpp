// Gossip benchmark: time X ← W^Q X on the stacked state X [N,P] (f32) for dense W (chunked, one buffer) and
// sparse W (COO, ~k neighbours per client), and report throughput and peak memory. Prints one JSON object per
// case (JSON lines) to stdout.
//
// Usage: gossip_bench [--clients N] [--params P] [--neighbors k] [--steps Q] [--reps R] [--mode dense|sparse|both]
//                     [--chunk C] [--threads T]
//   Without --clients/--params it runs a ladder of sizes up to N = 1000, P = 160k (quick).
//   The paper-scale case is: gossip_bench --clients 1000 --params 1600000 --reps 1   (needs ~6.5 GiB).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "plexus/core/rng.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/topology.h"

namespace {

double peak_rss_gib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

struct Case {
  int64_t n, p, k, q, reps, chunk;
  std::string mode;
};

void run_case(const Case& c) {
  using namespace plexus::fl;
  TopologyOptions o;
  o.kind = "time_varying";  // ~k neighbours per client per round, Metropolis weights
  o.neighbors = c.k;
  const Graph g = make_graph(o, c.n, /*seed=*/1, /*round=*/0);
  const torch::Tensor W = mixing_matrix(g, "metropolis");
  const torch::Tensor Ws = to_sparse_matrix(W);
  auto X = torch::randn({c.n, c.p}, plexus::torch_generator(plexus::stream_key(1, "bench", 0, 0)));
  const double mean_before = X.narrow(1, 0, std::min<int64_t>(c.p, 1000)).mean().item<double>();

  for (const std::string mode : {"dense", "sparse"}) {
    if (c.mode != "both" && c.mode != mode) continue;
    const torch::Tensor& M = mode == "dense" ? W : Ws;
    std::vector<double> secs;
    for (int64_t r = 0; r < c.reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      gossip(X, M, c.q, {}, c.chunk);
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double best = *std::min_element(secs.begin(), secs.end());
    const double bytes = 2.0 * static_cast<double>(X.numel()) * X.element_size();  // read + write X once
    // Dense: one [N,N]x[N,P] product (W^Q formed first). Sparse: Q products with nnz·P multiply-adds.
    const double flops = mode == "dense" ? 2.0 * c.n * c.n * static_cast<double>(c.p)
                                         : 2.0 * c.q * Ws._nnz() * static_cast<double>(c.p);
    nlohmann::json j = {{"bench", "gossip"},
                        {"mode", mode},
                        {"clients", c.n},
                        {"params", c.p},
                        {"neighbors_k", c.k},
                        {"mean_degree", 2.0 * g.edge_count() / c.n},
                        {"nnz", Ws._nnz()},
                        {"steps_q", c.q},
                        {"dtype", "float32"},
                        {"state_gib", static_cast<double>(X.numel()) * X.element_size() / (1 << 30)},
                        {"reps", c.reps},
                        {"seconds_best", best},
                        {"seconds_all", secs},
                        {"effective_gib_per_s", bytes / best / (1 << 30)},
                        {"gflop_per_s", flops / best / 1e9},
                        {"threads", torch::get_num_threads()},
                        {"peak_rss_gib", peak_rss_gib()}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  // Sanity: doubly stochastic gossip keeps column means (printed, not asserted).
  const double mean_after = X.narrow(1, 0, std::min<int64_t>(c.p, 1000)).mean().item<double>();
  std::fprintf(stderr, "gossip_bench: N=%lld P=%lld mean drift %.3e\n", static_cast<long long>(c.n),
               static_cast<long long>(c.p), mean_after - mean_before);
}

}  // namespace

int main(int argc, char** argv) {
  Case base{0, 0, 10, 1, 3, 0, "both"};
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--clients") base.n = std::atoll(v);
    else if (a == "--params") base.p = std::atoll(v);
    else if (a == "--neighbors") base.k = std::atoll(v);
    else if (a == "--steps") base.q = std::atoll(v);
    else if (a == "--reps") base.reps = std::atoll(v);
    else if (a == "--mode") base.mode = v;
    else if (a == "--chunk") base.chunk = std::atoll(v);
    else if (a == "--threads") threads = std::atoi(v);
    else {
      std::fprintf(stderr, "error: config: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(threads);
  try {
    if (base.n > 0 && base.p > 0) {
      run_case(base);
    } else {
      for (auto [n, p] : std::vector<std::pair<int64_t, int64_t>>{{100, 100000}, {100, 1600000}, {1000, 160000}}) {
        Case c = base;
        c.n = n;
        c.p = p;
        run_case(c);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
