// Golden rows: a 3-round run of every FL algorithm (server, gossip, DP and personalized, plus the variants
// that take other code paths: ASAM, per-tensor clipping, fixed sampling, directed graphs, uniform pull,
// computation heterogeneity) on the synthetic task with one worker thread, compared bit for bit with the
// metrics rows and summary recorded in tests/fl/golden/rows.json. Refactoring the round engine must not
// change a single number, column name or column order.
//
// Every value except wall-clock times (keys starting with "seconds") and the run directory is compared for
// exact equality: the JSON file stores doubles in nlohmann's shortest round-trip form, so a parsed value
// equals the recorded double bit for bit.
//
// The values were recorded with the kernels `make test` pins (OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2,
// see the Makefile): another CPU's AVX-512 kernels sum in another order and change the last bits. Run the test
// binary with those two variables set, or through `make test`.
//
// Recording: PLEXUS_WRITE_GOLDEN=1 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ./build/tests/test_fl
// --gtest_filter='Golden*' adds the cases that are missing from the file (a new algorithm) and leaves recorded
// cases untouched.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "plexus/core/log.h"
#include "plexus/core/run_dir.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/runner.h"
#include "synthetic_config.h"

using namespace plexus;
using namespace plexus::fl;
namespace fs = std::filesystem;

namespace golden {

struct GoldenCase {
  std::string name;       ///< key in rows.json
  std::string algorithm;  ///< fl.algorithm
  std::vector<std::string> sets;  ///< --set overrides on top of the base config
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

}  // namespace golden

using golden::GoldenCase;

namespace {

const fs::path kGoldenFile = fs::path(PLEXUS_SOURCE_DIR) / "tests" / "fl" / "golden" / "rows.json";

const char* kPflTables = R"(
[personalization]
head_epochs = 1
body_epochs = 1
lr_head = 0.05
lr_body = 0.1
)";

// DP with noise large enough to matter and a clip that binds, so every DP code path changes the numbers.
const std::vector<std::string> kDp = {"privacy.noise_multiplier=0.5", "privacy.clip_norm=0.3",
                                      "privacy.density=0.5"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<GoldenCase> cases() {
  return {
      {"fedavg", "fedavg", {}},
      {"fedsam", "fedsam", {}},
      {"fedprox", "fedprox", {"train.prox_mu=0.1"}},
      {"scaffold", "scaffold", {}},
      {"fedsam_asam_momentum", "fedsam", {"train.adaptive=true", "train.momentum=0.5", "train.weight_decay=0.001"}},
      {"dpsgd", "dpsgd", {}},
      {"dfedavg", "dfedavg", {}},
      {"dfedavgm", "dfedavgm", {"train.momentum=0.9"}},
      {"dfedsam", "dfedsam", {}},
      {"dfedsam_mgs", "dfedsam_mgs", {"fl.gossip_steps=3", "topology.kind=\"time_varying\"",
                                      "topology.mixing=\"metropolis\"",
                                      "topology.neighbors=2"}},
      {"dp_fedavg", "dp_fedavg", kDp},
      {"dp_fedsam", "dp_fedsam", with(kDp, {"train.adaptive=true"})},
      {"dp_fedsam_fixed_per_tensor", "dp_fedsam",
       with(kDp, {"privacy.sampling=\"fixed\"", "privacy.clipping=\"per_tensor\"", "train.grad_clip=1.0"})},
      {"dp_fedsam_topk", "dp_fedsam_topk", kDp},
      {"fed_smp_randk", "fed_smp_randk", kDp},
      {"fed_smp_topk", "fed_smp_topk", with(kDp, {"privacy.conversion=\"classic\""})},
      {"dfedalt", "dfedalt", {"topology.kind=\"time_varying\"", "topology.neighbors=2"}},
      {"dfedalt_directed", "dfedalt", {"topology.kind=\"directed_time_varying\"", "topology.neighbors=2"}},
      {"dfedsalt", "dfedsalt", {"topology.kind=\"time_varying\"", "topology.neighbors=2"}},
      {"dfedpgp", "dfedpgp", {"topology.kind=\"directed_time_varying\"", "topology.neighbors=2",
                              "personalization.steps_min_fraction=0.4"}},
      {"dfedpgp_uniform_pull", "dfedpgp", {"topology.kind=\"directed_exponential\"", "topology.neighbors=2",
                                           "personalization.push_sum=\"uniform_pull\""}},
      {"local", "local", {}},
      {"fedavg_ft", "fedavg_ft", {}},
      {"fedper", "fedper", {}},
      {"fedrep", "fedrep", {"personalization.head_epochs=2"}},
      {"fedbabu", "fedbabu", {}},
      {"pfl_dfedavgm", "pfl_dfedavgm", {"train.momentum=0.9", "topology.kind=\"time_varying\"",
                                        "topology.neighbors=2"}},
      {"ditto", "ditto", {"personalization.ditto_lambda=0.5", "train.momentum=0.5"}},
  };
}

RunResult run_case(const GoldenCase& c) {
  const bool pfl = is_personalized(c.algorithm);
  auto root = test::synthetic_config(c.algorithm, "golden_" + c.name, "golden",
                                     pfl ? kPflTables : "[topology]\nkind = \"ring\"\nmixing = \"uniform\"\n");
  for (const auto& s : {"run.threads=1", "fl.rounds=3", "fl.eval_every=2"}) apply_override(root, s);
  for (const auto& s : c.sets) apply_override(root, s);
  auto cfg = FlConfig::parse(root);
  return run_fl(cfg, false);
}

// The comparable part of a run: rows and summary without timings and paths.
nlohmann::ordered_json comparable(const RunResult& r) {
  auto strip = [](const nlohmann::ordered_json& in) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [k, v] : in.items()) {
      if (k.rfind("seconds", 0) == 0 || k == "run_dir") continue;
      out[k] = v;
    }
    return out;
  };
  nlohmann::ordered_json j;
  j["rows"] = nlohmann::ordered_json::array();
  for (const auto& row : r.rows) j["rows"].push_back(strip(row));
  j["summary"] = strip(r.summary);
  return j;
}

nlohmann::ordered_json load_golden() {
  if (!fs::exists(kGoldenFile)) return nlohmann::ordered_json::object();
  return nlohmann::ordered_json::parse(read_file(kGoldenFile));
}

}  // namespace

// Every registered algorithm has at least one golden case.
TEST(Golden, CoversEveryAlgorithm) {
  std::set<std::string> covered;
  for (const auto& c : cases()) covered.insert(c.algorithm);
  for (const auto& a : algorithms()) EXPECT_TRUE(covered.count(a.name)) << a.name << " has no golden case";
}

class GoldenRows : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenRows, MatchRecordedBitForBit) {
  set_log_level(LogLevel::Warn);
  const auto& c = GetParam();
  for (const char* var : {"OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY"}) {
    if (!std::getenv(var)) GTEST_SKIP() << var << " is not set: run through `make test` (see the file comment)";
  }
  auto golden = load_golden();
  auto got = comparable(run_case(c));
  const char* write = std::getenv("PLEXUS_WRITE_GOLDEN");
  if (write && std::string(write) == "1" && !golden.contains(c.name)) {
    // Re-read right before writing: parameterized cases run one after another in this process.
    golden = load_golden();
    golden[c.name] = got;
    fs::create_directories(kGoldenFile.parent_path());
    atomic_write(kGoldenFile, golden.dump(1) + "\n");
    GTEST_SKIP() << "recorded " << c.name;
  }
  ASSERT_TRUE(golden.contains(c.name)) << c.name << " not recorded; run with PLEXUS_WRITE_GOLDEN=1";
  const auto& want = golden[c.name];
  ASSERT_EQ(got["rows"].size(), want["rows"].size());
  for (std::size_t k = 0; k < want["rows"].size(); ++k) {
    // Same columns, then the same values.
    std::set<std::string> kw, kg;
    for (const auto& [key, v] : want["rows"][k].items()) kw.insert(key);
    for (const auto& [key, v] : got["rows"][k].items()) kg.insert(key);
    EXPECT_EQ(kg, kw) << "columns of round " << k + 1;
    for (const auto& [key, v] : want["rows"][k].items()) {
      EXPECT_EQ(got["rows"][k][key], v) << c.name << " round " << k + 1 << " " << key;
    }
  }
  std::set<std::string> sw, sg;
  for (const auto& [key, v] : want["summary"].items()) sw.insert(key);
  for (const auto& [key, v] : got["summary"].items()) sg.insert(key);
  EXPECT_EQ(sg, sw) << "summary keys";
  for (const auto& [key, v] : want["summary"].items()) {
    EXPECT_EQ(got["summary"][key], v) << c.name << " summary " << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenRows, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<GoldenCase>& info) { return info.param.name; });
