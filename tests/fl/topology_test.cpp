// Topologies and mixing matrices: degrees, stochasticity, closed-form spectral gaps, hand-worked Metropolis
// weights, determinism per (seed, round), and errors for impossible graphs.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "plexus/core/error.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/topology.h"

using namespace plexus::fl;

namespace {

TopologyOptions topo(std::string kind, int64_t k = 10, std::string mixing = "metropolis") {
  TopologyOptions o;
  o.kind = std::move(kind);
  o.neighbors = k;
  o.mixing = std::move(mixing);
  return o;
}

void expect_doubly_stochastic_symmetric(const torch::Tensor& W, const Graph& g) {
  auto r = analyze(W, g);
  EXPECT_TRUE(r.symmetric);
  EXPECT_TRUE(r.nonnegative);
  EXPECT_LT(r.max_row_sum_error, 1e-12);  // sums of <= N doubles of size ~1/d: rounding only
  EXPECT_LT(r.max_col_sum_error, 1e-12);
}

// Expects Error(Config) whose message contains `needle`.
template <class F> void expect_config_error(F&& f, const std::string& needle) {
  try {
    f();
    FAIL() << "no error thrown";
  } catch (const plexus::Error& e) {
    EXPECT_EQ(e.kind(), plexus::ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Topology, EveryUndirectedKindGivesSymmetricDoublyStochasticW) {
  const int64_t n = 24;
  for (const char* kind : {"ring", "torus", "exponential", "complete", "k_regular", "erdos_renyi", "time_varying"}) {
    SCOPED_TRACE(kind);
    auto o = topo(kind, 5 + (std::string(kind) == "k_regular"));  // k_regular: n·k must be even
    o.edge_probability = 0.4;
    for (int64_t round : {0, 1}) {
      auto g = make_graph(o, n, /*seed=*/3, round);
      EXPECT_FALSE(g.directed);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j : g.out[i]) {
          EXPECT_NE(i, j);
          EXPECT_TRUE(std::binary_search(g.out[j].begin(), g.out[j].end(), i)) << i << "-" << j;
        }
      expect_doubly_stochastic_symmetric(mixing_matrix(g, "metropolis"), g);
    }
  }
}

TEST(Topology, RingUniformSpectralGapClosedForm) {
  // W = circulant(1/3, 1/3, 1/3): eigenvalues 1/3 + 2/3·cos(2πm/n); λ = 1/3 + 2/3·cos(2π/n) (m = 1) exceeds
  // |λ_min| = 1/3 for even n >= 6.
  for (int64_t n : {6, 16, 50}) {
    auto g = make_graph(topo("ring", 2, "uniform"), n, 0, 0);
    auto W = mixing_matrix(g, "uniform");
    EXPECT_DOUBLE_EQ(W[0][0].item<double>(), 1.0 / 3);
    EXPECT_DOUBLE_EQ(W[0][n - 1].item<double>(), 1.0 / 3);
    auto r = analyze(W, g);
    const double lambda = 1.0 / 3 + 2.0 / 3 * std::cos(2 * std::numbers::pi / n);
    EXPECT_NEAR(r.lambda2, lambda, 1e-10) << n;  // LAPACK eigensolver: ~1e-15 relative
    EXPECT_NEAR(r.spectral_gap, 1 - lambda, 1e-10);
    EXPECT_TRUE(r.connected);
  }
}

TEST(Topology, CompleteGraphUniformHasGapOne) {
  // W = 11ᵀ/n: eigenvalues 1, 0, …, 0.
  auto g = make_graph(topo("complete"), 10, 0, 0);
  auto W = mixing_matrix(g, "uniform");
  EXPECT_TRUE(torch::allclose(W, torch::full({10, 10}, 0.1, torch::kFloat64)));
  auto r = analyze(W, g);
  EXPECT_NEAR(r.lambda2, 0.0, 1e-12);
  EXPECT_NEAR(r.spectral_gap, 1.0, 1e-12);
}

TEST(Topology, TorusUniformSpectrumClosedForm) {
  // 4×4 torus with weights 1/5: eigenvalues (1 + 2cos(2πa/4) + 2cos(2πb/4))/5; λ_2 = 3/5, λ_min = −3/5.
  auto g = make_graph(topo("torus", 4, "uniform"), 16, 0, 0);
  EXPECT_EQ(torus_shape(16), (std::pair<int64_t, int64_t>{4, 4}));
  for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(g.degree(i), 4);
  EXPECT_NEAR(analyze(mixing_matrix(g, "uniform"), g).lambda2, 0.6, 1e-10);
  EXPECT_EQ(torus_shape(24), (std::pair<int64_t, int64_t>{4, 6}));
}

TEST(Topology, ExponentialGraphDegree) {
  // Offsets ±2^k mod n: n = 16 → {1,2,4,8,12,14,15} (8 = −8) = 2·log2(16) − 1 = 7; n = 12 → {1,2,4,8,10,11} = 6.
  auto g16 = make_graph(topo("exponential"), 16, 0, 0);
  for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(g16.degree(i), 7);
  EXPECT_EQ(g16.out[0], (std::vector<int64_t>{1, 2, 4, 8, 12, 14, 15}));
  auto g12 = make_graph(topo("exponential"), 12, 0, 0);
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(g12.degree(i), 6);
  // Directed: i → i + 2^k, out-degree log2(16) = 4, in-degree 4, strongly connected.
  auto d = make_graph(topo("directed_exponential"), 16, 0, 0);
  EXPECT_TRUE(d.directed);
  EXPECT_EQ(d.out[3], (std::vector<int64_t>{4, 5, 7, 11}));
  for (const auto& in : d.in_neighbors()) EXPECT_EQ(in.size(), 4u);
  EXPECT_TRUE(is_connected(d));
}

TEST(Topology, MetropolisWeightsOnStarByHand) {
  // Star: centre 0 (degree 3), leaves 1..3 (degree 1). w_0j = 1/(1+max(3,1)) = 1/4, w_00 = 1/4, w_jj = 3/4.
  Graph g{4, false, {{1, 2, 3}, {0}, {0}, {0}}};
  auto W = mixing_matrix(g, "metropolis");
  auto expected = torch::tensor({{0.25, 0.25, 0.25, 0.25},
                                 {0.25, 0.75, 0.0, 0.0},
                                 {0.25, 0.0, 0.75, 0.0},
                                 {0.25, 0.0, 0.0, 0.75}},
                                torch::kFloat64);
  EXPECT_TRUE(torch::allclose(W, expected, 0, 1e-15));
  expect_config_error([&] { mixing_matrix(g, "uniform"); }, "regular");
}

TEST(Topology, KRegularIsRegularAndConnected) {
  for (auto [n, k] : {std::pair<int64_t, int64_t>{20, 4}, {21, 2}, {30, 3}, {100, 10}}) {
    auto g = make_graph(topo("k_regular", k), n, 9, 0);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(g.degree(i), k) << n << "," << k;
    EXPECT_TRUE(is_connected(g));
    EXPECT_EQ(g.edge_count(), n * k / 2);
  }
  // Static kinds ignore the round; the seed changes the draw.
  auto a = make_graph(topo("k_regular", 4), 20, 9, 0), b = make_graph(topo("k_regular", 4), 20, 9, 5);
  auto c = make_graph(topo("k_regular", 4), 20, 10, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST(Topology, TimeVaryingDeterministicPerSeedAndRound) {
  auto o = topo("time_varying", 3);
  auto a = make_graph(o, 30, 1, 4), b = make_graph(o, 30, 1, 4);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, make_graph(o, 30, 1, 5).out);
  EXPECT_NE(a.out, make_graph(o, 30, 2, 4).out);
  for (int64_t i = 0; i < 30; ++i) EXPECT_GE(a.degree(i), 3);  // own picks plus those who picked i
  EXPECT_TRUE(is_time_varying(o));
  // Directed: exactly k out-neighbours per round.
  auto d = make_graph(topo("directed_time_varying", 3), 30, 1, 4);
  for (int64_t i = 0; i < 30; ++i) EXPECT_EQ(d.degree(i), 3);
  EXPECT_EQ(transpose(transpose(d)).out, d.out);
  for (const auto& in : transpose(d).in_neighbors()) EXPECT_EQ(in.size(), 3u);
}

TEST(Topology, DirectedMatricesAreColumnAndRowStochastic) {
  auto g = make_graph(topo("directed_time_varying", 4), 12, 5, 2);
  auto P = push_sum_matrix(g);
  auto rp = analyze(P, g);
  EXPECT_LT(rp.max_col_sum_error, 1e-12);
  EXPECT_FALSE(rp.symmetric);
  auto A = uniform_pull_matrix(g);
  EXPECT_LT(analyze(A, g).max_row_sum_error, 1e-12);
  // Directed ring: P = (I + shift)/2 both column and row stochastic (1-regular in and out), |λ_2| = |1+e^{2πi/n}|/2.
  auto ring = make_graph(topo("directed_ring"), 8, 0, 0);
  auto r = analyze(push_sum_matrix(ring), ring);
  EXPECT_TRUE(r.connected);
  EXPECT_NEAR(r.lambda2, std::cos(std::numbers::pi / 8), 1e-10);  // |1+e^{iθ}|/2 = cos(θ/2), θ = 2π/8
  expect_config_error([&] { mixing_matrix(ring, "metropolis"); }, "undirected");
}

TEST(Topology, StrongConnectivityCheck) {
  Graph chain{3, true, {{1}, {2}, {}}};  // 0 → 1 → 2: weakly but not strongly connected
  EXPECT_FALSE(is_connected(chain));
  Graph cycle{3, true, {{1, 2}, {2}, {0}}};
  EXPECT_TRUE(is_connected(cycle));
}

TEST(Topology, ImpossibleGraphsAreConfigErrors) {
  auto er = topo("erdos_renyi");
  er.edge_probability = 1e-4;
  expect_config_error([&] { make_graph(er, 50, 0, 0); }, "edge_probability");
  er.edge_probability = 0.5;
  EXPECT_TRUE(is_connected(make_graph(er, 50, 0, 0)));
  expect_config_error([] { make_graph(topo("k_regular", 3), 21, 0, 0); }, "even");
  expect_config_error([] { make_graph(topo("k_regular", 20), 20, 0, 0); }, "neighbors");
  expect_config_error([] { make_graph(topo("time_varying", 0), 20, 0, 0); }, "neighbors");
  expect_config_error([] { make_graph(topo("torus"), 17, 0, 0); }, "prime");
  expect_config_error([] { make_graph(topo("ring"), 0, 0, 0); }, "clients");
}

TEST(Topology, ParseOptions) {
  auto root = plexus::parse_toml("[topology]\nkind = \"ring\"\nmixing = \"uniform\"\nneighbors = 2\n");
  plexus::ConfigTable t(root["topology"].as_table(), "topology");
  auto o = TopologyOptions::parse(t);
  EXPECT_EQ(o.kind, "ring");
  EXPECT_EQ(o.mixing, "uniform");
  auto bad = plexus::parse_toml("[topology]\nkind = \"time_varying\"\nmixing = \"uniform\"\n");
  plexus::ConfigTable tb(bad["topology"].as_table(), "topology");
  expect_config_error([&] { TopologyOptions::parse(tb); }, "mixing");
  auto typo = plexus::parse_toml("[topology]\nkind = \"rign\"\n");
  plexus::ConfigTable tt(typo["topology"].as_table(), "topology");
  expect_config_error([&] { TopologyOptions::parse(tt); }, "kind");
}
