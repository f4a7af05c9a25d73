// `plexus fl topology` and `plexus fl run` end to end: JSON output against closed forms, and clean one-line
// errors with the documented exit codes for bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "../cli_util.h"

using plexus::test::run_plexus;

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

namespace {
// A config file for `fl run`: quickstart reduced to seconds (synthetic data, 4 clients, 2 rounds).
std::string write_config(const std::string& name, const std::string& text) {
  auto path = std::string("/tmp/plexus_fl_cli_") + std::to_string(::getpid()) + "_" + name + ".toml";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
  return path;
}
const char* kSmall = R"(
[run]
name = "cli"
[data]
dataset = "synthetic"
synthetic_train = 200
synthetic_test = 100
synthetic_classes = 4
synthetic_dim = 4
[model]
name = "mlp"
hidden = [8]
[fl]
algorithm = "dfedsam"
clients = 4
rounds = 2
[topology]
kind = "ring"
[train]
local_steps = 2
)";
}  // namespace

TEST(FlRunCli, RunsAndPrintsSummary) {
  auto cfg = write_config("ok", kSmall);
  auto out_dir = "/tmp/plexus_fl_cli_runs_" + std::to_string(::getpid());
  std::filesystem::remove_all(out_dir);  // pids wrap: an earlier process of this pid may have left runs
  auto r = run_plexus("fl run --config " + cfg + " --set run.out_dir=\\\"" + out_dir + "\\\"");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"algorithm\": \"DFedSAM\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("round 2/2"), std::string::npos) << r.out;
}

TEST(FlRunCli, BadInputGivesOneErrorLineAndExitCode) {
  auto cfg = write_config("bad", kSmall);
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  const Case cases[] = {
      {"--set fl.gosip_steps=2", 2, "error: config: [fl] unknown key 'gosip_steps' (did you mean 'gossip_steps'?)"},
      {"--set fl.gossip_steps=0", 2, "error: config: [fl] gossip_steps = 0"},
      {"--set train.rho=-1", 2, "error: config: [train] rho"},
      {"--set run.device=cuda", 2, "error: config: run.device"},
      {"--set data.dataset=fashion_mnist --set data.path=/nonexistent", 3, "error: data:"},
  };
  std::filesystem::remove_all("/tmp/plexus_fl_cli_bad");
  for (const auto& c : cases) {
    auto r = run_plexus("fl run --config " + cfg + " --set run.out_dir=/tmp/plexus_fl_cli_bad " + c.args);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.out;
    EXPECT_EQ(r.out.rfind(c.message, 0), 0u) << c.args << "\n" << r.out;  // the first line is the error
    EXPECT_EQ(r.out.find("\n"), r.out.size() - 1) << "exactly one line: " << r.out;
  }
  // Every failure above happens before the run directory is created: nothing half-made is left behind.
  EXPECT_FALSE(std::filesystem::exists("/tmp/plexus_fl_cli_bad"));
  auto missing = run_plexus("fl run --config /nonexistent.toml");
  EXPECT_EQ(missing.code, 3) << missing.out;
  EXPECT_EQ(missing.out.rfind("error: io: cannot read config file", 0), 0u) << missing.out;
}
