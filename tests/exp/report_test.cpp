// Aggregation and rendering of `plexus report` on hand-written fake run directories (src/plexus/exp/report.h).
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../cli_util.h"
#include "plexus/core/error.h"
#include "plexus/exp/report.h"

namespace plexus::exp {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& tag) {
  auto p = fs::temp_directory_path() / fmt::format("plexus_report_test_{}_{}", tag, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// A fake FL run: config.toml with the algorithm and seed, one metrics row per round.
void fake_run(const fs::path& dir, const std::string& algorithm, int seed, const std::vector<double>& acc,
              const std::vector<double>& loss) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.toml") << fmt::format(
      "[run]\nname = \"{}\"\nseed = {}\nthreads = {}\n[fl]\nalgorithm = \"{}\"\nrounds = {}\n",
      dir.filename().string(), seed, seed + 1, algorithm, acc.size());
  std::ofstream m(dir / "metrics.jsonl");
  for (std::size_t r = 0; r < acc.size(); ++r) {
    m << fmt::format("{{\"round\":{},\"train_loss\":{},\"local_acc_mean\":{},\"global_acc\":null}}\n", r + 1, loss[r],
                     acc[r]);
  }
}

// Three seeds of one setting. By hand (sample std, n − 1 = 2):
//   final acc  0.6, 0.9, 0.75          → mean 0.75,     std sqrt((0.15² + 0.15² + 0) / 2) = 0.15
//   best acc   0.7 @2, 0.9 @3, 0.75 @3 → mean 0.783333, std sqrt((0.083333² + 0.116667² + 0.033333²) / 2) = 0.104083
//   best round mean (2 + 3 + 3) / 3 = 2.666667
//   round 2 curve: 0.7, 0.8, 0.6 → mean 0.7, std 0.1
//   final train loss 1.0, 0.8, 0.9 → mean 0.9, std 0.1
fs::path three_runs(const std::string& tag) {
  auto root = temp_dir(tag);
  fake_run(root / "a0", "dfedsam", 0, {0.5, 0.7, 0.6}, {2.0, 1.5, 1.0});
  fake_run(root / "a1", "dfedsam", 1, {0.4, 0.8, 0.9}, {2.1, 1.2, 0.8});
  fake_run(root / "a2", "dfedsam", 2, {0.3, 0.6, 0.75}, {1.9, 1.1, 0.9});
  return root;
}

std::vector<RunRecord> load_all(const fs::path& root) {
  std::vector<RunRecord> runs;
  for (const auto& d : find_runs({root})) runs.push_back(load_run(d));
  return runs;
}

TEST(Report, AggregationMatchesHandComputationOnThreeRuns) {
  auto runs = load_all(three_runs("agg"));
  ASSERT_EQ(runs.size(), 3u);
  // run.seed, run.name and run.threads differ but say nothing about the setting: one group.
  EXPECT_TRUE(differing_keys(runs).empty());
  auto groups = group_runs(runs, differing_keys(runs));
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].label, "all runs");
  EXPECT_EQ(groups[0].seeds, (std::vector<std::string>{"0", "1", "2"}));

  auto acc = summarize(groups[0], "round", {"local_acc_mean", "acc", +1});
  EXPECT_EQ(acc.final.n, 3);
  EXPECT_NEAR(acc.final.mean, 0.75, 1e-12);  // tolerance: double rounding only
  EXPECT_NEAR(acc.final.std, 0.15, 1e-12);
  EXPECT_NEAR(acc.best.mean, 0.783333333333, 1e-9);
  EXPECT_NEAR(acc.best.std, 0.104083299973, 1e-9);
  EXPECT_NEAR(acc.best_at.mean, 8.0 / 3.0, 1e-12);

  auto loss = summarize(groups[0], "round", {"train_loss", "loss", 0});
  EXPECT_NEAR(loss.final.mean, 0.9, 1e-12);
  EXPECT_NEAR(loss.final.std, 0.1, 1e-12);
  EXPECT_EQ(loss.best.n, 0);  // no direction: no best column

  auto c = curve(groups[0], "round", "local_acc_mean", "round");
  ASSERT_EQ(c.x, (std::vector<double>{1, 2, 3}));
  EXPECT_NEAR(c.mean[1], 0.7, 1e-12);
  EXPECT_NEAR(c.std[1], 0.1, 1e-12);
  EXPECT_EQ(c.n[1], 3);
  // A metric that is null everywhere gives no curve.
  EXPECT_TRUE(curve(groups[0], "round", "global_acc", "round").x.empty());
}

TEST(Report, GroupsByDifferingKeys) {
  auto root = three_runs("groups");
  fake_run(root / "b0", "fedavg", 0, {0.2, 0.4}, {2.0, 1.8});
  fake_run(root / "b1", "fedavg", 1, {0.3, 0.5}, {2.0, 1.6});
  auto runs = load_all(root);
  auto keys = differing_keys(runs);
  // fl.rounds differs too (3 vs 2 rounds), so both keys name the groups.
  EXPECT_EQ(keys, (std::vector<std::string>{"fl.algorithm", "fl.rounds"}));
  auto groups = group_runs(runs, keys);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].label, "algorithm=dfedsam, rounds=3");
  EXPECT_EQ(groups[1].label, "algorithm=fedavg, rounds=2");
  EXPECT_EQ(groups[1].runs.size(), 2u);
  auto acc = summarize(groups[1], "round", {"local_acc_mean", "acc", +1});
  EXPECT_NEAR(acc.final.mean, 0.45, 1e-12);
  EXPECT_NEAR(acc.final.std, std::sqrt(0.005), 1e-12);  // (0.05² + 0.05²) / 1
}

// Keys that only some runs have (a tuner's own section) follow from a key all runs have (tuner.method): the
// groups are named by the latter alone, unless runs that agree on it still differ in the former.
TEST(Report, KeysOnlySomeRunsHaveDoNotNameGroupsWhenAKeyAllHaveDoes) {
  auto run = [](std::map<std::string, std::string> c) {
    RunRecord r;
    r.config = std::move(c);
    return r;
  };
  std::vector<RunRecord> runs = {run({{"tuner.method", "\"amis\""}, {"amis.epsilon", "0.3"}, {"run.seed", "0"}}),
                                 run({{"tuner.method", "\"amis\""}, {"amis.epsilon", "0.3"}, {"run.seed", "1"}}),
                                 run({{"tuner.method", "\"gis\""}, {"gis.shrink", "1.0"}, {"run.seed", "0"}})};
  EXPECT_EQ(differing_keys(runs), (std::vector<std::string>{"tuner.method"}));
  runs[1].config["amis.epsilon"] = "0.5";  // now two amis runs differ in a key the gis run lacks
  EXPECT_EQ(differing_keys(runs), (std::vector<std::string>{"amis.epsilon", "gis.shrink", "tuner.method"}));
}

TEST(Report, MeanStdOfOneValueHasZeroStd) {
  auto s = mean_std({0.25});
  EXPECT_EQ(s.n, 1);
  EXPECT_EQ(s.mean, 0.25);
  EXPECT_EQ(s.std, 0.0);
  EXPECT_EQ(format_stat(s), "0.2500");
  EXPECT_EQ(format_stat(mean_std({0.6, 0.9, 0.75})), "0.7500 ± 0.1500");
  EXPECT_EQ(mean_std({NAN, 1.0, 3.0}).mean, 2.0);  // non-finite values are skipped
}

TEST(Report, NoRunsIsADataError) {
  auto empty = temp_dir("empty");
  try {
    find_runs({empty});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
  }
  EXPECT_THROW(find_runs({empty / "missing"}), Error);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ReportCli, RendersTablesAndPlots) {
  auto root = three_runs("cli");
  auto r = test::run_plexus("report " + root.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"report.md", "report.html", "report_data.json"}) EXPECT_TRUE(fs::exists(root / f)) << f;
  // The table's numbers are the hand-computed ones of AggregationMatchesHandComputationOnThreeRuns.
  const std::string md = slurp(root / "report.md");
  EXPECT_NE(md.find("| all runs | 3 (0,1,2) | 0.7500 ± 0.1500 | 0.7833 ± 0.1041 | 2.7 | 0.9000 ± 0.1000 |"),
            std::string::npos) << md;
  EXPECT_NE(slurp(root / "report.html").find("<td>0.7500 ± 0.1500</td>"), std::string::npos);
  for (const char* p : {"fl_local_acc", "fl_train_loss"}) {
    const std::string png = slurp(root / "plots" / (std::string(p) + ".png"));
    ASSERT_GE(png.size(), 8u) << p;
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << p;  // the PNG signature
    const std::string svg = slurp(root / "plots" / (std::string(p) + ".svg"));
    EXPECT_NE(svg.find("<svg"), std::string::npos) << p;
  }
  EXPECT_NE(md.find("![Mean client test accuracy](plots/fl_local_acc.png)"), std::string::npos);
  // global_acc is null in every row: no column and no plot for it.
  EXPECT_FALSE(fs::exists(root / "plots" / "fl_global_acc.png"));
  EXPECT_EQ(md.find("global acc"), std::string::npos);
}

TEST(ReportCli, BadPathIsAnIoError) {
  auto r = test::run_plexus("report /nonexistent/plexus_report_dir --no-plots");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("error: io:"), std::string::npos) << r.out;
  auto file = temp_dir("plainfile") / "x.txt";
  std::ofstream(file) << "not a run\n";
  auto f = test::run_plexus("report " + file.string() + " --no-plots");
  EXPECT_EQ(f.code, 3) << f.out;
  EXPECT_NE(f.out.find("is not a directory"), std::string::npos) << f.out;
}

TEST(ReportCli, NoPlotsWritesNoPlotFolderAndLinksNoImage) {
  auto root = three_runs("noplots");
  auto r = test::run_plexus("report " + root.string() + " --no-plots");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(fs::exists(root / "plots"));
  EXPECT_EQ(slurp(root / "report.md").find("plots/"), std::string::npos);
  EXPECT_EQ(slurp(root / "report.html").find("<img"), std::string::npos);
  EXPECT_NE(slurp(root / "report.html").find("<li>all runs (seed 0)"), std::string::npos);  // the runs list
}

}  // namespace
}  // namespace plexus::exp
