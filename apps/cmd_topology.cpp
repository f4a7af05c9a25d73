// `plexus fl topology`: build one round's communication graph and print its mixing matrix's properties
// (degrees, symmetry, stochasticity errors, λ_2, spectral gap, connectivity), as text or JSON.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "command_registry.h"
#include "plexus/core/error.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/topology.h"

namespace {

struct TopologyArgs {
  plexus::fl::TopologyOptions opts;
  int64_t clients = 16;
  uint64_t seed = 0;
  int64_t round = 0;
  bool print_matrix = false;
  bool json = false;
};

void run_topology(const TopologyArgs& a) {
  using namespace plexus::fl;
  // Same checks as the [topology] config table, so CLI and config reject the same inputs.
  toml::table t{{"kind", a.opts.kind},
                {"neighbors", a.opts.neighbors},
                {"edge_probability", a.opts.edge_probability},
                {"mixing", a.opts.mixing}};
  plexus::ConfigTable ct(&t, "topology");
  const auto o = TopologyOptions::parse(ct);
  if (a.clients < 1) throw plexus::Error::config("--clients = {} must be >= 1", a.clients);
  // The analysis builds the dense N×N matrix and its spectrum (O(N²) memory, O(N³) time); runs themselves
  // take fl.clients up to 100000 and never form the dense matrix of a sparse topology.
  constexpr int64_t kMaxClients = 5000;
  if (a.clients > kMaxClients) {
    throw plexus::Error::config("--clients = {} must be <= {}: this command analyses the dense N×N mixing matrix "
                                "(spectral gap); study a smaller N of the same kind", a.clients, kMaxClients);
  }
  if (a.round < 0) throw plexus::Error::config("--round = {} must be >= 0", a.round);

  const Graph g = make_graph(o, a.clients, a.seed, a.round);
  // Undirected: the gossip matrix W; directed: push-sum's column-stochastic P (uniform pull reported too).
  const std::string matrix = g.directed ? "push_sum" : o.mixing;
  const torch::Tensor W = round_matrix(g, o.mixing);
  const MixingReport r = analyze(W, g);

  int64_t dmin = g.n ? g.degree(0) : 0, dmax = dmin, dsum = 0;
  for (int64_t i = 0; i < g.n; ++i) {
    dmin = std::min(dmin, g.degree(i));
    dmax = std::max(dmax, g.degree(i));
    dsum += g.degree(i);
  }
  const double dmean = g.n ? static_cast<double>(dsum) / g.n : 0.0;

  nlohmann::json j = {{"kind", o.kind},
                      {"clients", g.n},
                      {"directed", g.directed},
                      {"time_varying", is_time_varying(o)},
                      {"seed", a.seed},
                      {"round", a.round},
                      {"matrix", matrix},
                      {"edges", g.edge_count()},
                      {"degree", {{"min", dmin}, {"mean", dmean}, {"max", dmax}}},
                      {"symmetric", r.symmetric},
                      {"max_row_sum_error", r.max_row_sum_error},
                      {"max_col_sum_error", r.max_col_sum_error},
                      {"lambda2", r.lambda2},
                      {"spectral_gap", r.spectral_gap},
                      {"connected", r.connected}};
  if (g.directed) {
    const auto pull = analyze(uniform_pull_matrix(g), g);
    j["uniform_pull"] = {{"max_col_sum_error", pull.max_col_sum_error}, {"lambda2", pull.lambda2}};
  }
  if (a.print_matrix) {
    std::vector<std::vector<double>> rows(g.n, std::vector<double>(g.n));
    auto w = W.accessor<double, 2>();
    for (int64_t i = 0; i < g.n; ++i)
      for (int64_t k = 0; k < g.n; ++k) rows[i][k] = w[i][k];
    j["matrix_values"] = rows;
  }
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("kind            %s (%s%s)\n", o.kind.c_str(), g.directed ? "directed" : "undirected",
              is_time_varying(o) ? fmt::format(", time-varying, round {} seed {}", a.round, a.seed).c_str() : "");
  std::printf("clients         %lld   edges %lld\n", static_cast<long long>(g.n),
              static_cast<long long>(g.edge_count()));
  std::printf("%-15s min %lld  mean %.3f  max %lld\n", g.directed ? "out-degree" : "degree",
              static_cast<long long>(dmin), dmean, static_cast<long long>(dmax));
  std::printf("matrix          %s\n", matrix.c_str());
  std::printf("symmetric       %s\n", r.symmetric ? "yes" : "no");
  std::printf("row sum error   %.3e\n", r.max_row_sum_error);
  std::printf("col sum error   %.3e\n", r.max_col_sum_error);
  std::printf("lambda2         %.6f   (second largest |eigenvalue|)\n", r.lambda2);
  std::printf("spectral gap    %.6f   (1 - lambda2)\n", r.spectral_gap);
  std::printf("connected       %s\n", r.connected ? (g.directed ? "yes (strongly)" : "yes") : "no");
  if (g.directed) {
    const auto pull = analyze(uniform_pull_matrix(g), g);
    std::printf("uniform pull    col sum error %.3e  lambda2 %.6f (row-stochastic, biased average)\n",
                pull.max_col_sum_error, pull.lambda2);
  }
  if (a.print_matrix) {
    auto w = W.accessor<double, 2>();
    for (int64_t i = 0; i < g.n; ++i) {
      for (int64_t k = 0; k < g.n; ++k) std::printf(k ? " %.4f" : "%.4f", w[i][k]);
      std::printf("\n");
    }
  }
}

plexus::app::CommandRegistrar reg("fl_topology", [](CLI::App& app) {
  auto& fl = plexus::app::subcommand_group(app, "fl", "federated learning");
  auto args = std::make_shared<TopologyArgs>();
  auto* c = fl.add_subcommand("topology", "print a communication graph's mixing matrix properties "
                                          "(degrees, stochasticity, lambda2, spectral gap, connectivity)");
  c->add_option("--kind", args->opts.kind,
                "ring|torus|exponential|complete|k_regular|erdos_renyi|time_varying|directed_ring|"
                "directed_exponential|directed_time_varying")
      ->capture_default_str();
  c->add_option("--clients", args->clients, "number of clients N")->capture_default_str();
  c->add_option("--neighbors", args->opts.neighbors, "k for k_regular / time-varying kinds")->capture_default_str();
  c->add_option("--edge-probability", args->opts.edge_probability, "Erdős–Rényi edge probability")
      ->capture_default_str();
  c->add_option("--mixing", args->opts.mixing, "metropolis|uniform (undirected)")->capture_default_str();
  c->add_option("--seed", args->seed, "seed of random graphs")->capture_default_str();
  c->add_option("--round", args->round, "round of a time-varying graph")->capture_default_str();
  c->add_flag("--print-matrix", args->print_matrix, "print the matrix");
  c->add_flag("--json", args->json, "print JSON instead of text");
  c->callback([args] { run_topology(*args); });
});

}  // namespace
