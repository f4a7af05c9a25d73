// `plexus fl topology` end to end: JSON output against closed forms, and a clean one-line error with exit
// code 2 for a disconnected Erdős–Rényi graph.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>
#include <sys/wait.h>

namespace {

struct Result {
  int code;
  std::string out;
};

// Runs the plexus binary with `args`, capturing stdout and stderr together.
Result run_plexus(const std::string& args) {
  const std::string cmd = std::string(PLEXUS_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST(TopologyCli, RingJsonMatchesClosedForm) {
  auto r = run_plexus("fl topology --kind ring --clients 16 --mixing uniform --json");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  const double lambda = 1.0 / 3 + 2.0 / 3 * std::cos(2 * std::numbers::pi / 16);  // circulant (1/3,1/3,1/3)
  EXPECT_NEAR(j["lambda2"].get<double>(), lambda, 1e-10);
  EXPECT_NEAR(j["spectral_gap"].get<double>(), 1 - lambda, 1e-10);
  EXPECT_EQ(j["degree"]["min"].get<int>(), 2);
  EXPECT_EQ(j["degree"]["max"].get<int>(), 2);
  EXPECT_TRUE(j["symmetric"].get<bool>());
  EXPECT_TRUE(j["connected"].get<bool>());
  EXPECT_EQ(j["edges"].get<int>(), 16);
}

TEST(TopologyCli, DirectedKindReportsPushSum) {
  auto r = run_plexus("fl topology --kind directed_exponential --clients 16 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["matrix"].get<std::string>(), "push_sum");
  EXPECT_EQ(j["degree"]["mean"].get<double>(), 4.0);  // offsets 1, 2, 4, 8
  EXPECT_LT(j["max_col_sum_error"].get<double>(), 1e-12);
  EXPECT_TRUE(j["connected"].get<bool>());
}

TEST(TopologyCli, DisconnectedErdosRenyiIsAConfigError) {
  auto r = run_plexus("fl topology --kind erdos_renyi --clients 50 --edge-probability 0.001");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("error: config:", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("edge_probability"), std::string::npos);
  auto k = run_plexus("fl topology --kind k_regular --clients 21 --neighbors 3");
  EXPECT_EQ(k.code, 2) << k.out;
}
