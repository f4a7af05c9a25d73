// `plexus sweep` end to end on a tiny synthetic FL config (2-3 rounds, 4 clients): cells, skipping finished
// cells on a re-run (process launches counted by a wrapper script around the plexus binary), resuming from a
// checkpoint, restarting a cell that died before its first checkpoint, and reporting a failed cell.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../cli_util.h"

namespace plexus::exp {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Fixture {
  fs::path root, config, wrapper, launches;
};

// A config of 3 rounds with a checkpoint every round, and a wrapper that logs each launch's arguments.
Fixture make_fixture(const std::string& tag) {
  Fixture f;
  f.root = fs::temp_directory_path() / fmt::format("plexus_sweep_test_{}_{}", tag, ::getpid());
  fs::remove_all(f.root);
  fs::create_directories(f.root);
  f.config = f.root / "tiny.toml";
  std::ofstream(f.config) << R"([run]
name = "tiny"
seed = 0
checkpoint_every = 1
[data]
dataset = "synthetic"
synthetic_train = 240
synthetic_test = 120
synthetic_classes = 3
synthetic_dim = 4
[model]
name = "mlp"
hidden = [8]
[fl]
algorithm = "fedavg"
clients = 4
rounds = 3
client_fraction = 0.5
[topology]
neighbors = 2
[train]
batch_size = 16
local_steps = 2
lr = 0.1
)";
  f.wrapper = f.root / "plexus_wrapper.sh";
  f.launches = f.root / "launches.txt";
  std::ofstream(f.wrapper) << fmt::format("#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n", f.launches.string(),
                                          PLEXUS_BINARY);
  fs::permissions(f.wrapper, fs::perms::owner_all);
  return f;
}

std::vector<std::string> launches(const Fixture& f) {
  std::vector<std::string> v;
  std::ifstream in(f.launches);
  std::string line;
  while (std::getline(in, line)) v.push_back(line);
  return v;
}

std::string sweep_cmd(const Fixture& f, const std::string& extra) {
  return fmt::format("sweep --config {} --binary {} --out {} --grid fl.algorithm=fedavg,dfedavg --seeds 0-1 {}",
                     f.config.string(), f.wrapper.string(), (f.root / "sw").string(), extra);
}

json manifest(const Fixture& f) {
  std::ifstream in(f.root / "sw" / "sweep.json");
  return json::parse(in);
}

std::vector<int64_t> rounds_of(const fs::path& run) {
  std::vector<int64_t> r;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) r.push_back(json::parse(line)["round"].get<int64_t>());
  return r;
}

const char* kCells[] = {"algorithm=fedavg,seed=0", "algorithm=dfedavg,seed=0", "algorithm=fedavg,seed=1",
                        "algorithm=dfedavg,seed=1"};

TEST(SweepCli, RunsEveryCellOnceAndSkipsFinishedCellsOnRerun) {
  auto f = make_fixture("rerun");
  auto r = test::run_plexus(sweep_cmd(f, "--jobs 2"));
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(launches(f).size(), 4u) << r.out;
  auto m = manifest(f);
  ASSERT_EQ(m["cells"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(m["cells"][i]["name"], kCells[i]);
    EXPECT_EQ(m["cells"][i]["status"], "done");
    EXPECT_EQ(m["cells"][i]["launches"].size(), 1u);
    const fs::path run = f.root / "sw" / kCells[i];
    EXPECT_TRUE(fs::exists(run / "summary.json")) << kCells[i];
    EXPECT_EQ(rounds_of(run), (std::vector<int64_t>{1, 2, 3}));
    // The cell's resolved config carries its grid value and seed.
    std::ifstream cfg(run / "config.toml");
    std::string text((std::istreambuf_iterator<char>(cfg)), {});
    EXPECT_NE(text.find(i % 2 ? "algorithm = \"dfedavg\"" : "algorithm = \"fedavg\""), std::string::npos) << text;
    EXPECT_NE(text.find(fmt::format("seed = {}", i / 2)), std::string::npos) << text;
  }
  EXPECT_NE(r.out.find("[4/4 done, 0 running, 0 failed, 0 pending"), std::string::npos) << r.out;

  // The same command again launches nothing.
  auto again = test::run_plexus(sweep_cmd(f, "--jobs 2"));
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_EQ(launches(f).size(), 4u) << again.out;
  EXPECT_NE(again.out.find("4 finished earlier, 0 to run"), std::string::npos) << again.out;
}

TEST(SweepCli, ResumesFromCheckpointAndRestartsACellWithoutOne) {
  auto f = make_fixture("resume");
  ASSERT_EQ(test::run_plexus(sweep_cmd(f, "--jobs 1")).code, 0);
  ASSERT_EQ(launches(f).size(), 4u);
  // Cell 1 as if killed after round 2's checkpoint; cell 2 as if killed before its first checkpoint.
  const fs::path a = f.root / "sw" / kCells[1], b = f.root / "sw" / kCells[2];
  fs::remove(a / "summary.json");
  fs::remove(a / "checkpoints" / "round_3.pt");
  fs::remove(b / "summary.json");
  fs::remove_all(b / "checkpoints");

  auto r = test::run_plexus(sweep_cmd(f, "--jobs 1"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto l = launches(f);
  ASSERT_EQ(l.size(), 6u) << r.out;  // only the two unfinished cells ran again
  int resumed = 0;
  for (std::size_t i = 4; i < 6; ++i) {
    bool is_a = l[i].find(std::string("run.name=\"") + kCells[1] + "\"") != std::string::npos;
    bool has_resume = l[i].find("--resume") != std::string::npos;
    EXPECT_EQ(is_a, has_resume) << l[i];
    resumed += has_resume;
  }
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(rounds_of(a), (std::vector<int64_t>{1, 2, 3}));  // round 3 redone once, not appended twice
  EXPECT_EQ(rounds_of(b), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE(fs::exists(f.root / "sw" / "discarded" / kCells[2] / "metrics.jsonl"));  // kept, not deleted
  auto m = manifest(f);
  EXPECT_EQ(m["cells"][1]["launches"].size(), 2u);
  EXPECT_EQ(m["cells"][1]["launches"][1]["resume"], true);
  EXPECT_EQ(m["cells"][2]["launches"][1]["resume"], false);
  EXPECT_EQ(m["cells"][0]["launches"].size(), 1u);
}

TEST(SweepCli, FailedCellIsReportedAndTheOthersFinish) {
  auto f = make_fixture("fail");
  // The fashion_mnist cell cannot find its data (exit 3); the synthetic one is unaffected by data.path.
  auto r = test::run_plexus(fmt::format(
      "sweep --config {} --binary {} --out {} --grid data.dataset=fashion_mnist,synthetic --set "
      "'data.path=\"/nonexistent/fmnist\"' --jobs 2",
      f.config.string(), f.wrapper.string(), (f.root / "sw").string()));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("error: data: sweep: 1 of 2 cells failed (dataset=fashion_mnist: error: data:"),
            std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(f.root / "sw" / "dataset=synthetic" / "summary.json"));
  auto m = manifest(f);
  EXPECT_EQ(m["cells"][0]["status"], "failed");
  EXPECT_EQ(m["cells"][0]["launches"][0]["exit"], 3);
  EXPECT_EQ(m["cells"][1]["status"], "done");
}

TEST(SweepCli, BadGridValueStopsBeforeAnyLaunch) {
  auto f = make_fixture("badvalue");
  auto r = test::run_plexus(fmt::format("sweep --config {} --binary {} --out {} --grid fl.algorithm=fedavg,fedavgg",
                                        f.config.string(), f.wrapper.string(), (f.root / "sw").string()));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("sweep cell algorithm=fedavgg"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean \"fedavg\""), std::string::npos) << r.out;
  EXPECT_TRUE(launches(f).empty());
}

TEST(SweepCli, ADifferentSweepInTheSameDirectoryIsRefused) {
  auto f = make_fixture("identity");
  ASSERT_EQ(test::run_plexus(sweep_cmd(f, "--jobs 2")).code, 0);
  auto r = test::run_plexus(fmt::format("sweep --config {} --binary {} --out {} --grid fl.algorithm=fedavg --seeds 0-1",
                                        f.config.string(), f.wrapper.string(), (f.root / "sw").string()));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("holds a different sweep"), std::string::npos) << r.out;
  EXPECT_EQ(launches(f).size(), 4u);
  // --dry-run checks the same, and launches nothing either.
  auto d = test::run_plexus(fmt::format("sweep --config {} --binary {} --out {} --grid fl.algorithm=fedavg --seeds 0-1 --dry-run",
                                        f.config.string(), f.wrapper.string(), (f.root / "sw").string()));
  EXPECT_EQ(d.code, 2) << d.out;
  EXPECT_EQ(launches(f).size(), 4u);
}

// --dry-run prints the commands a real run launches: the absolute config path and each cell's run.threads
// (here --threads-per-job 1), and launches nothing.
TEST(SweepCli, DryRunPrintsTheCommandsARealRunLaunches) {
  auto f = make_fixture("dryrun");
  auto r = test::run_plexus(sweep_cmd(f, "--jobs 2 --threads-per-job 1 --dry-run"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("--config " + fs::absolute(f.config).lexically_normal().string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--set run.threads=1  # fresh"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(f.launches));
  EXPECT_FALSE(fs::exists(f.root / "sw" / "sweep.json"));
}

TEST(SweepCli, SweepThenReportGroupsByAlgorithm) {
  auto f = make_fixture("report");
  ASSERT_EQ(test::run_plexus(sweep_cmd(f, "--jobs 2")).code, 0);
  auto r = test::run_plexus("report --no-plots " + (f.root / "sw").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(f.root / "sw" / "report.md");
  std::string md((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(md.find("grouped by fl.algorithm."), std::string::npos) << md;
  EXPECT_NE(md.find("| algorithm=fedavg | 2 (0,1) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| algorithm=dfedavg | 2 (0,1) |"), std::string::npos) << md;
}

}  // namespace
}  // namespace plexus::exp
