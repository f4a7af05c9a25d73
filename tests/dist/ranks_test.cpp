// Multi-process FL over c10d/Gloo on loopback (docs/distributed.md): the real binary run with --ranks 2 and 3
// must write metrics rows bit-identical to the single-process run of the same config (timing and byte
// columns aside), a rank that dies must end the others with an error, and a half-set rank environment is a
// one-line error. The unit tests check the row plans on hand-worked graphs and the rank variables.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cctype>
#include <chrono>
#include <iterator>
#include <optional>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../cli_util.h"
#include "free_port.h"
#include "../fl/synthetic_config.h"
#include "plexus/core/error.h"
#include "plexus/dist/rank_env.h"
#include "plexus/fl/rank_blocks.h"

extern char** environ;

using namespace plexus;
using namespace plexus::fl;
namespace fs = std::filesystem;

namespace {

// The synthetic FL config of tests/fl on a ring (6 clients, 6 rounds), written to a file; returns its path.
std::string write_config(const std::string& algorithm, const std::string& extra = "") {
  auto root = test::synthetic_config(algorithm, algorithm, "dist",
                                     "[topology]\nkind = \"ring\"\nmixing = \"uniform\"\n" + extra);
  const auto path = test::temp_root("dist") / (algorithm + ".toml");
  std::ofstream out(path);
  out << root << "\n";
  return path.string();
}

std::vector<nlohmann::json> read_rows(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

bool is_timing(const std::string& key) { return key.rfind("seconds", 0) == 0; }

// Runs `config` in one process and with `ranks` ranks; expects the same rows, key by key, as text (the
// shortest round-trip form of a double, so equal text is equal bits).
void expect_same_rows(const std::string& config, const std::string& name, int ranks, const std::string& sets = "") {
  const auto root = test::temp_root("dist");
  const auto one = name + "_r1", many = name + "_r" + std::to_string(ranks);
  if (!fs::exists(root / one / "summary.json")) {  // the single-process run, once per config
    auto r1 = test::run_plexus(fmt::format("fl run --config {} {} --set run.name={}", config, sets, one));
    ASSERT_EQ(r1.code, 0) << r1.out;
  }
  auto rn = test::run_plexus(fmt::format("fl run --config {} {} --set run.name={} --ranks {}", config, sets, many, ranks));
  ASSERT_EQ(rn.code, 0) << rn.out;
  EXPECT_NE(rn.out.find("[rank 1] "), std::string::npos) << "every rank's lines carry its rank:\n" << rn.out;
  const auto a = read_rows(root / one), b = read_rows(root / many);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (std::size_t r = 0; r < a.size(); ++r) {
    for (const auto& [key, value] : a[r].items()) {
      if (is_timing(key)) continue;
      ASSERT_TRUE(b[r].contains(key)) << "round " << r + 1 << " lacks " << key;
      EXPECT_EQ(value.dump(), b[r][key].dump()) << "round " << r + 1 << " column " << key << " with " << ranks
                                                << " ranks";
    }
    for (int k = 0; k < ranks; ++k) EXPECT_TRUE(b[r].contains(fmt::format("comm_bytes_rank{}", k)));
    EXPECT_FALSE(a[r].contains("comm_bytes_rank0")) << "the single-process row is unchanged";
  }
  // Rank 0 alone wrote the run directory: one summary, the checkpoint of the last round.
  EXPECT_TRUE(fs::exists(root / many / "summary.json"));
  EXPECT_TRUE(fs::exists(root / many / "checkpoints" / "round_6.pt"));
}

// Starts `plexus <args>` with this process's environment plus `extra_env`, output to `log`.
pid_t spawn_plexus(const std::vector<std::string>& args, const fs::path& log,
                   const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<std::string> argv = {PLEXUS_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto c = [](std::vector<std::string>& v) {
    std::vector<char*> p;
    for (auto& s : v) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  };
  auto cargv = c(argv), cenv = c(env);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  posix_spawn(&pid, PLEXUS_BINARY, &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Starts `plexus <args>` as rank `rank` of `world` (torchrun's variables), output to `log`.
pid_t spawn_rank(int rank, int world, int port, const std::vector<std::string>& args, const fs::path& log,
                 int timeout_s = 20) {
  return spawn_plexus(args, log,
                      {fmt::format("RANK={}", rank), fmt::format("WORLD_SIZE={}", world), "MASTER_ADDR=127.0.0.1",
                       fmt::format("MASTER_PORT={}", port), fmt::format("PLEXUS_DIST_TIMEOUT={}", timeout_s)});
}

// Processes whose command line contains `needle` (scans /proc).
int processes_with(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream f(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos) ++n;
  }
  return n;
}

// waitpid with a deadline: the exit status, or nullopt if the process is still running after `seconds`.
std::optional<int> wait_for(pid_t pid, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// ---- row plans on hand-worked graphs ----

TEST(RankBlocks, SplitsSixClientsOverFourRanksContiguously) {
  RankBlocks b{6, 4};  // ⌊k·6/4⌋ = 0, 1, 3, 4, 6
  EXPECT_EQ(b.begin(0), 0);
  EXPECT_EQ(b.begin(1), 1);
  EXPECT_EQ(b.begin(2), 3);
  EXPECT_EQ(b.begin(3), 4);
  EXPECT_EQ(b.end(3), 6);
  const std::vector<int> owners = {0, 1, 1, 2, 3, 3};
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(b.owner(i), owners[static_cast<std::size_t>(i)]) << i;
  EXPECT_EQ(b.owned({0, 2, 3, 5}, 1), (std::vector<int64_t>{2}));
}

TEST(GossipPlan, RingOfSixOverTwoRanksSendsOnlyTheBoundaryRows) {
  // Ring 0-1-2-3-4-5-0 with self-loops: rank 0 owns {0,1,2}, whose neighbours outside are 5 (of 0) and 3 (of 2).
  auto W = torch::zeros({6, 6}, torch::kFloat64);
  for (int64_t i = 0; i < 6; ++i) {
    W[i][i] = 1.0 / 3, W[i][(i + 1) % 6] = 1.0 / 3, W[i][(i + 5) % 6] = 1.0 / 3;
  }
  RankBlocks b{6, 2};
  auto plan = gossip_plan(b, W, 1);
  EXPECT_EQ(plan[1][0], (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(plan[0][1], (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(plan[0][0].empty());
  EXPECT_EQ(plan_bytes(plan, 0, 40), 80);  // two rows of 40 bytes
  // Two gossip steps reach two hops: rank 0 needs 3, 4, 5 (4 via 5 or 3), i.e. all of rank 1's rows.
  EXPECT_EQ(gossip_plan(b, W, 2)[1][0], (std::vector<int64_t>{3, 4, 5}));
  // The same plan from a sparse W.
  EXPECT_EQ(gossip_plan(b, W.to_sparse(), 1)[1][0], (std::vector<int64_t>{3, 5}));
}

TEST(GossipPlan, ServerAndGatherPlans) {
  RankBlocks b{6, 3};  // {0,1}, {2,3}, {4,5}
  auto p = participants_plan(b, {1, 2, 5});
  EXPECT_EQ(p[0][1], (std::vector<int64_t>{1}));
  EXPECT_EQ(p[0][2], (std::vector<int64_t>{1}));
  EXPECT_EQ(p[2][0], (std::vector<int64_t>{5}));
  EXPECT_TRUE(p[1][1].empty());
  auto g = gather_plan(b);
  EXPECT_EQ(g[1][0], (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(g[2][0], (std::vector<int64_t>{4, 5}));
  EXPECT_TRUE(g[0][1].empty() && g[1][2].empty());
}

// ---- rank variables ----

namespace {
dist::RankEnv env_of(const std::map<std::string, std::string>& vars) {
  return dist::rank_env_from([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}
std::string env_error(const std::map<std::string, std::string>& vars) {
  try {
    env_of(vars);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    return e.what();
  }
  return "";
}
}  // namespace

TEST(RankEnv, ReadsTorchrunMpiAndSlurmVariables) {
  EXPECT_FALSE(env_of({}).distributed());
  auto t = env_of({{"RANK", "1"}, {"WORLD_SIZE", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "29500"}});
  EXPECT_EQ(t.rank, 1);
  EXPECT_EQ(t.world, 3);
  EXPECT_EQ(t.master_port, 29500);
  EXPECT_EQ(t.launcher, "torchrun");
  EXPECT_FALSE(t.agent_store);
  auto m = env_of({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}});
  EXPECT_EQ(m.rank, 2);
  EXPECT_EQ(m.launcher, "mpirun");
  auto s = env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "2"}});
  EXPECT_EQ(s.world, 2);
  EXPECT_EQ(s.launcher, "srun");
  EXPECT_FALSE(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).distributed());  // one rank: no address needed
}

TEST(RankEnv, IncompleteOrInconsistentVariablesAreConfigErrors) {
  EXPECT_NE(env_error({{"RANK", "0"}}).find("WORLD_SIZE"), std::string::npos);
  EXPECT_NE(env_error({{"RANK", "3"}, {"WORLD_SIZE", "2"}}).find("RANK=3"), std::string::npos);
  EXPECT_NE(env_error({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK=x"), std::string::npos);
  EXPECT_NE(env_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR"), std::string::npos);
}

// ---- the real binary ----

TEST(Ranks, FedAvgMetricsBitIdenticalWithTwoAndThreeRanks) {
  const auto cfg = write_config("fedavg");
  expect_same_rows(cfg, "fedavg", 2);
  expect_same_rows(cfg, "fedavg", 3);
}

TEST(Ranks, GossipMetricsBitIdenticalWithTwoAndThreeRanks) {
  const auto cfg = write_config("dfedavg");
  expect_same_rows(cfg, "dfedavg", 2);
  expect_same_rows(cfg, "dfedavg", 3);
  // Two gossip steps (DFedSAM-MGS) on a time-varying graph; D-PSGD's combine-first exchange.
  expect_same_rows(write_config("dfedsam_mgs"), "mgs_tv", 3, 
                   "--set fl.gossip_steps=2 --set topology.kind=time_varying --set topology.mixing=metropolis --set topology.neighbors=2");
  expect_same_rows(write_config("dpsgd"), "dpsgd", 2);
}

TEST(Ranks, DpFedAvgMetricsBitIdenticalWithTwoAndThreeRanks) {
  const auto cfg = write_config("dp_fedavg", "[privacy]\nnoise_multiplier = 0.5\nclip_norm = 1.0\n");
  expect_same_rows(cfg, "dp_fedavg", 2);
  expect_same_rows(cfg, "dp_fedavg", 3);
}

TEST(Ranks, EveryOtherListedAlgorithmIsBitIdentical) {
  // The rest of ranked_algorithms(): SAM, momentum gossip, sparsified DP and Fed-SMP.
  expect_same_rows(write_config("fedsam"), "fedsam", 2);
  expect_same_rows(write_config("dfedsam"), "dfedsam", 3);
  expect_same_rows(write_config("dfedavgm"), "dfedavgm", 2, "--set train.momentum=0.9");
  const std::string dp = "[privacy]\nnoise_multiplier = 0.5\nclip_norm = 1.0\ndensity = 0.5\n";
  expect_same_rows(write_config("dp_fedsam", dp), "dp_fedsam", 2, "--set privacy.sampling=fixed");
  expect_same_rows(write_config("dp_fedsam_topk", dp), "dp_fedsam_topk", 3);
  expect_same_rows(write_config("fed_smp_randk", dp), "fed_smp_randk", 2);
  expect_same_rows(write_config("fed_smp_topk", dp), "fed_smp_topk", 3);
}

TEST(Ranks, GossipSendsOnlyNeighbourRows) {
  // Ring of 6 over 2 ranks, Q = 1: each rank sends its two boundary rows once per round (hand count above),
  // P = 16·16+16 + 16·4+4 = 340 parameters of 4 bytes (MLP 16 → 16 → 4).
  const auto cfg = write_config("dfedavg");
  auto r = test::run_plexus(fmt::format("fl run --config {} --set run.name=bytes --ranks 2", cfg));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = read_rows(test::temp_root("dist") / "bytes");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0]["comm_bytes_rank0"].get<int64_t>(), 2 * 340 * 4);
  EXPECT_EQ(rows[0]["comm_bytes_rank1"].get<int64_t>(), 2 * 340 * 4);
  EXPECT_EQ(rows[0]["gather_bytes"].get<int64_t>(), 3 * 340 * 4);  // rank 1's block to rank 0
}

TEST(Ranks, KilledRankEndsTheOtherWithAnError) {
  // Two ranks started by hand (torchrun's variables); rank 1 is killed once rank 0 has written a round.
  const auto cfg = write_config("dfedavg");
  const auto dir = test::temp_root("dist");
  const int port = test::free_port();
  const std::vector<std::string> args = {"fl", "run", "--config", cfg, "--set", "run.name=killed", "--set",
                                         "fl.rounds=100000"};
  const pid_t r0 = spawn_rank(0, 2, port, args, dir / "killed_rank0.log");
  const pid_t r1 = spawn_rank(1, 2, port, args, dir / "killed_rank1.log");
  ASSERT_GT(r0, 0);
  ASSERT_GT(r1, 0);
  for (int i = 0; i < 1200 && read_rows(dir / "killed").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(read_rows(dir / "killed").empty()) << slurp(dir / "killed_rank0.log");
  ::kill(r1, SIGKILL);
  ::waitpid(r1, nullptr, 0);
  auto status = wait_for(r0, 40.0);  // PLEXUS_DIST_TIMEOUT = 20 s bounds a hang; a closed socket is immediate
  if (!status) ::kill(r0, SIGKILL), ::waitpid(r0, nullptr, 0);
  ASSERT_TRUE(status.has_value()) << "rank 0 did not end after rank 1 died";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  const auto log = slurp(dir / "killed_rank0.log");
  EXPECT_NE(log.find("\nerror: io: dist: rank 0:"), std::string::npos) << log;  // the run's first failure
}

TEST(Ranks, RanksDoNotOutliveAKilledLauncher) {
  // `--ranks 2` is killed with SIGKILL (no chance to stop its children): the kernel must end the ranks
  // (PR_SET_PDEATHSIG), or they would go on training and hold the run directory's lock.
  const auto cfg = write_config("dfedavg");
  const auto dir = test::temp_root("dist");
  const std::string name = fmt::format("orphan_{}", ::getpid());
  const pid_t launcher = spawn_plexus({"fl", "run", "--config", cfg, "--set", "run.name=" + name, "--set",
                                       "fl.rounds=100000", "--ranks", "2"},
                                      dir / "orphan.log");
  ASSERT_GT(launcher, 0);
  for (int i = 0; i < 1200 && read_rows(dir / name).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(read_rows(dir / name).empty()) << slurp(dir / "orphan.log");
  EXPECT_EQ(processes_with("run.name=" + name), 3);  // the launcher and its two ranks
  ::kill(launcher, SIGKILL);
  ::waitpid(launcher, nullptr, 0);
  int left = -1;
  for (int i = 0; i < 600 && (left = processes_with("run.name=" + name)) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(left, 0) << "ranks still running 30 s after their launcher was killed";
}

TEST(Ranks, HungRankEndsTheOtherAfterTheTimeout) {
  // Rank 1 is stopped (SIGSTOP: its sockets stay open, so only the timeout can tell): rank 0 must give up
  // after PLEXUS_DIST_TIMEOUT = 10 s with an error line (10 s, not less: the rendezvous under a loaded CTest
  // run must not hit it).
  const auto cfg = write_config("fedavg");
  const auto dir = test::temp_root("dist");
  const int port = test::free_port();
  const std::vector<std::string> args = {"fl", "run", "--config", cfg, "--set", "run.name=hung", "--set",
                                         "fl.rounds=100000"};
  const pid_t r0 = spawn_rank(0, 2, port, args, dir / "hung_rank0.log", 10);
  const pid_t r1 = spawn_rank(1, 2, port, args, dir / "hung_rank1.log", 10);
  ASSERT_GT(r0, 0);
  ASSERT_GT(r1, 0);
  for (int i = 0; i < 1200 && read_rows(dir / "hung").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(read_rows(dir / "hung").empty()) << slurp(dir / "hung_rank0.log");
  ::kill(r1, SIGSTOP);
  auto status = wait_for(r0, 90.0);  // 10 s timeout; the rest is slack for 2 shared cores
  ::kill(r1, SIGKILL);
  ::waitpid(r1, nullptr, 0);
  if (!status) ::kill(r0, SIGKILL), ::waitpid(r0, nullptr, 0);
  ASSERT_TRUE(status.has_value()) << "rank 0 did not give up on a hung rank 1";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  const auto log = slurp(dir / "hung_rank0.log");
  EXPECT_NE(log.find("\nerror: io: dist: rank 0:"), std::string::npos) << log;
  EXPECT_NE(log.find("timed out after 10s"), std::string::npos) << log;
}

TEST(Ranks, HalfSetRankEnvironmentIsAOneLineError) {
  const auto cfg = write_config("fedavg");
  // RANK without WORLD_SIZE, set for this command only (through the shell run_plexus uses).
  const std::string cmd =
      std::string("RANK=0 ") + PLEXUS_BINARY + " fl run --config " + cfg + " --set run.name=halfenv 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_EQ(out, "error: config: environment RANK is set but WORLD_SIZE is not: set both (a torchrun launch) or "
                 "neither (one process)\n");
  EXPECT_FALSE(fs::exists(test::temp_root("dist") / "halfenv"));
}

TEST(Ranks, ResumeWithTheSameRankCountIsBitIdentical) {
  // 3 rounds on 2 ranks, then --resume to 6 on 2 ranks: the rows and the last checkpoint equal one process's
  // 6-round run (rank 0 wrote the checkpoints; every rank read the one rank 0 named).
  const auto cfg = write_config("dfedavg");
  const auto root = test::temp_root("dist");
  const std::string every = "--set run.checkpoint_every=1";
  auto a = test::run_plexus(fmt::format("fl run --config {} {} --set run.name=resume2 --set fl.rounds=3 --ranks 2",
                                        cfg, every));
  ASSERT_EQ(a.code, 0) << a.out;
  auto b = test::run_plexus(fmt::format("fl run --config {} {} --set run.name=resume2 --ranks 2 --resume", cfg, every));
  ASSERT_EQ(b.code, 0) << b.out;
  auto one = test::run_plexus(fmt::format("fl run --config {} {} --set run.name=resume1", cfg, every));
  ASSERT_EQ(one.code, 0) << one.out;
  const auto x = read_rows(root / "resume2"), y = read_rows(root / "resume1");
  ASSERT_EQ(x.size(), 6u);
  ASSERT_EQ(y.size(), 6u);
  for (std::size_t r = 0; r < y.size(); ++r) {
    for (const auto& [key, value] : y[r].items()) {
      if (!is_timing(key)) {
        EXPECT_EQ(value.dump(), x[r][key].dump()) << "round " << r + 1 << " column " << key;
      }
    }
  }
  EXPECT_EQ(slurp(root / "resume2" / "checkpoints" / "round_6.pt"), slurp(root / "resume1" / "checkpoints" / "round_6.pt"))
      << "rank 0 gathers every block of X and M, so the checkpoint is the single-process one";
}

namespace {

// The lines of `out` that contain "error:".
std::vector<std::string> error_lines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.find("error:") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST(Ranks, AFailingRankEndsTheLaunchWithOneErrorLineAndItsExitCode) {
  // Rank 0 refuses an existing run directory (no --resume): one `error:` line, as one process prints it (no
  // rank prefix, nothing from rank 1 or the launcher), and the launch exits with rank 0's code 2.
  const auto cfg = write_config("fedavg");
  auto first = test::run_plexus(fmt::format("fl run --config {} --set run.name=taken --set fl.rounds=1", cfg));
  ASSERT_EQ(first.code, 0) << first.out;
  auto one = test::run_plexus(fmt::format("fl run --config {} --set run.name=taken --set fl.rounds=1", cfg));
  ASSERT_EQ(one.code, 2) << one.out;
  const auto want = error_lines(one.out);  // the single-process error
  ASSERT_EQ(want.size(), 1u) << one.out;
  ASSERT_EQ(want[0].rfind("error: config: run directory", 0), 0u) << one.out;
  for (int ranks : {2, 3}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = test::run_plexus(
        fmt::format("fl run --config {} --set run.name=taken --set fl.rounds=1 --ranks {}", cfg, ranks));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_EQ(error_lines(r.out), want) << ranks << " ranks:\n" << r.out;
    // And it is the last line: the launcher relays the ranks' stderr and drops what they write after it.
    std::string last = r.out.substr(0, r.out.find_last_not_of('\n') + 1);
    last = last.substr(last.rfind('\n') + 1);
    EXPECT_EQ(last, want[0]) << ranks << " ranks: a line follows the error:\n" << r.out;
    EXPECT_LT(seconds, 120.0) << "the other ranks must not wait for their timeout";  // generous: 2 shared cores
  }
}

TEST(Ranks, ResumeOfAMissingRunIsOneErrorLine) {
  const auto cfg = write_config("dfedavg");
  auto r = test::run_plexus(fmt::format("fl run --config {} --set run.name=never_ran --resume --ranks 2", cfg));
  EXPECT_NE(r.code, 0) << r.out;
  const auto lines = error_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << r.out;
  EXPECT_NE(lines[0].find("never_ran"), std::string::npos) << "the message names the run:\n" << r.out;
}

TEST(Ranks, TorchrunStyleRanksPrintOneErrorLine) {
  // Two ranks started by hand (torchrun's variables, rank 0 hosting the store): an existing run name, then an
  // unknown config key (refused before the group forms, alike on every rank). Across both ranks' output
  // exactly one `error:` line; rank 0 exits with the error's code 2, rank 1 quietly with a non-zero code.
  const auto cfg = write_config("fedavg");
  const auto dir = test::temp_root("dist");
  auto first = test::run_plexus(fmt::format("fl run --config {} --set run.name=taken_tr --set fl.rounds=1", cfg));
  ASSERT_EQ(first.code, 0) << first.out;
  for (const std::string set : {"run.name=taken_tr", "fl.roundz=1"}) {
    const int port = test::free_port();
    const std::vector<std::string> args = {"fl", "run", "--config", cfg, "--set", "run.name=taken_tr", "--set", set};
    const pid_t r0 = spawn_rank(0, 2, port, args, dir / "tr_rank0.log", 60);
    const pid_t r1 = spawn_rank(1, 2, port, args, dir / "tr_rank1.log", 60);
    ASSERT_GT(r0, 0);
    ASSERT_GT(r1, 0);
    auto s0 = wait_for(r0, 50.0), s1 = wait_for(r1, 50.0);  // well before the 60 s timeout
    if (!s0) ::kill(r0, SIGKILL), ::waitpid(r0, nullptr, 0);
    if (!s1) ::kill(r1, SIGKILL), ::waitpid(r1, nullptr, 0);
    ASSERT_TRUE(s0 && s1) << set << ": a rank did not end";
    EXPECT_TRUE(WIFEXITED(*s0) && WEXITSTATUS(*s0) == 2) << set;
    EXPECT_TRUE(WIFEXITED(*s1) && WEXITSTATUS(*s1) != 0) << set;
    const auto out = slurp(dir / "tr_rank0.log") + slurp(dir / "tr_rank1.log");
    const auto lines = error_lines(out);
    ASSERT_EQ(lines.size(), 1u) << set << ":\n" << out;
    EXPECT_EQ(lines[0].rfind("error: config: ", 0), 0u) << out;
  }
}
