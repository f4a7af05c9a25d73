// `plexus tune ...` end to end: JSON output, run directories, and bad input → one error line, non-zero exit.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "plexus/core/run_dir.h"

namespace fs = std::filesystem;

namespace {
fs::path dir() {
  static fs::path d = [] {
    auto p = fs::temp_directory_path() / ("plexus_tune_cli_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// Run `plexus <args>`, capturing stdout and stderr; returns the exit code.
int run(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) {
  auto o = dir() / "out.txt", e = dir() / "err.txt";
  // PLEXUS_TEST_BINARY lets a developer point the test at another build of the CLI.
  const char* env = std::getenv("PLEXUS_TEST_BINARY");
  std::string cmd = std::string(env && *env ? env : PLEXUS_BINARY) + " " + args + " >" + o.string() + " 2>" + e.string();
  int status = std::system(cmd.c_str());
  if (out) *out = plexus::read_file(o);
  if (err) *err = plexus::read_file(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string logs() {
  static std::string p = [] {
    auto f = (dir() / "logs.plx").string();
    EXPECT_EQ(run("tune generate --out " + f + " --requests 2000 --seed 3"), 0);
    return f;
  }();
  return p;
}
}  // namespace

TEST(TuneCli, SimulatePrintsKpisAsJsonIndependentOfThreads) {
  std::string out1, out2;
  ASSERT_EQ(run("tune simulate --logs " + logs() + " --theta alpha=0.8,reserve=0.2 --threads 1", &out1), 0);
  ASSERT_EQ(run("tune simulate --logs " + logs() + " --theta alpha=0.8,reserve=0.2 --threads 2", &out2), 0);
  auto a = nlohmann::json::parse(out1), b = nlohmann::json::parse(out2);
  EXPECT_DOUBLE_EQ(a["theta"]["alpha"].get<double>(), 0.8);
  EXPECT_EQ(a["kpis"]["requests"].get<double>(), 2000);
  EXPECT_GT(a["kpis"]["rpm"].get<double>(), 0);
  EXPECT_EQ(a["kpis"], b["kpis"]);
}

TEST(TuneCli, ExploreThenEstimate) {
  auto e = (dir() / "explore.plx").string();
  ASSERT_EQ(run("tune explore --logs " + logs() + " --out " + e + " --sigma alpha=0.1,reserve=0.02 --requests 5000"), 0);
  std::string out;
  ASSERT_EQ(run("tune estimate --explore " + e + " --theta alpha=0.95", &out), 0);
  auto j = nlohmann::json::parse(out);
  EXPECT_GT(j["ess"].get<double>(), 100);
  EXPECT_LT(j["ess"].get<double>(), 5000);
  EXPECT_GT(j["rpm"]["value"].get<double>(), 0);
  EXPECT_LE(j["rpm"]["lo"].get<double>(), j["rpm"]["hi"].get<double>());
}

TEST(TuneCli, RunWritesRunDirectory) {
  auto cfg = dir() / "run.toml";
  std::ofstream(cfg) << "[run]\nname = \"t\"\nout_dir = \"" << (dir() / "runs").string()
                     << "\"\nproblem = \"landscape\"\nprogress = false\n[landscape]\nkind = \"bumps\"\nmodes = 1\nwidth = 0.25\n"
                        "production = 0.45\nnoise = 0.05\n[tuner]\nmethod = \"amis\"\niterations = 4\ntraffic = 300\n[objective]\nmetric = \"f\"\n";
  std::string out;
  ASSERT_EQ(run("tune run --config " + cfg.string(), &out), 0);
  auto runs = dir() / "runs" / "t";
  EXPECT_TRUE(fs::exists(runs / "config.toml"));
  EXPECT_TRUE(fs::exists(runs / "metrics.csv"));
  auto summary = nlohmann::json::parse(plexus::read_file(runs / "summary.json"));
  EXPECT_EQ(summary["iterations"].get<int>(), 4);
  EXPECT_EQ(summary["replays"].get<int>(), 1200);
  // The guarded final step's report: a decision, per-KPI gain with its CI, and the recommendation.
  ASSERT_TRUE(summary.contains("guard"));
  EXPECT_TRUE(summary["guard"]["shipped"].is_boolean());
  EXPECT_EQ(summary["guard"]["data"], "pooled");
  EXPECT_EQ(summary["guard"]["held_back"].get<bool>(), !summary["guard"]["shipped"].get<bool>());
  EXPECT_TRUE(summary["guard"]["kpis"].contains("f"));
  EXPECT_TRUE(summary["guard"]["kpis"]["f"].contains("gain_ci"));
  EXPECT_TRUE(summary["recommendation"].contains("x0"));
  std::ifstream csv(runs / "metrics.csv");
  std::string header, line, last;
  std::getline(csv, header);
  EXPECT_NE(header.find("true_value"), std::string::npos);
  EXPECT_NE(header.find("ess"), std::string::npos);
  EXPECT_NE(header.find("stage"), std::string::npos);
  while (std::getline(csv, line)) last = line;
  EXPECT_NE(last.find("final"), std::string::npos) << last;  // the guarded recommendation is the last row
}

TEST(TuneCli, MethodsListsTheRegistry) {
  std::string out;
  ASSERT_EQ(run("tune methods", &out), 0);
  auto j = nlohmann::json::parse(out);
  ASSERT_TRUE(j.is_array());
  std::vector<std::string> names;
  for (auto& t : j) names.push_back(t["name"]);
  for (const char* n : {"amis", "cem", "gis", "grid", "random", "sgis"}) EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

TEST(TuneCli, BadInputGivesOneErrorLineAndNonZeroExit) {
  std::string err;
  EXPECT_EQ(run("tune simulate --logs " + (dir() / "missing.plx").string(), nullptr, &err), 3);
  EXPECT_NE(err.find("error: io:"), std::string::npos) << err;
  auto corrupt = (dir() / "corrupt.plx").string();
  std::ofstream(corrupt) << "PLXCOL01garbage";
  EXPECT_EQ(run("tune simulate --logs " + corrupt, nullptr, &err), 3);
  EXPECT_NE(err.find("error: data:"), std::string::npos) << err;
  EXPECT_EQ(run("tune simulate --logs " + logs() + " --theta alpha=9", nullptr, &err), 2);
  EXPECT_NE(err.find("outside its bounds"), std::string::npos) << err;
  EXPECT_EQ(run("tune explore --logs " + logs() + " --out " + (dir() / "x.plx").string() + " --sigma alpha=0", nullptr, &err), 2);
  EXPECT_NE(err.find("singular"), std::string::npos) << err;
  EXPECT_EQ(run("tune generate --out " + (dir() / "y.plx").string() + " --set market.segments=0", nullptr, &err), 2);
  EXPECT_NE(err.find("segments"), std::string::npos) << err;
  auto cfg = dir() / "bad.toml";
  std::ofstream(cfg) << "[run]\nproblem = \"landscape\"\n[landscape]\n[tuner]\nmethod = \"amis\"\nsigma = 0\n[objective]\nmetric = \"f\"\n";
  EXPECT_EQ(run("tune run --config " + cfg.string(), nullptr, &err), 2);
  EXPECT_NE(err.find("sigma"), std::string::npos) << err;
  // A typo in a tuner's own section, and an unknown method, each end in one error line naming the fix.
  std::ofstream(cfg) << "[run]\nproblem = \"landscape\"\n[landscape]\n[tuner]\nmethod = \"amis\"\n[amis]\ncomponentz = 2\n[objective]\nmetric = \"f\"\n";
  EXPECT_EQ(run("tune run --config " + cfg.string(), nullptr, &err), 2);
  EXPECT_NE(err.find("did you mean 'components'"), std::string::npos) << err;
  std::ofstream(cfg) << "[run]\nproblem = \"landscape\"\n[landscape]\n[tuner]\nmethod = \"amsi\"\n[objective]\nmetric = \"f\"\n";
  EXPECT_EQ(run("tune run --config " + cfg.string(), nullptr, &err), 2);
  EXPECT_NE(err.find("amis"), std::string::npos) << err;
}

// Found by a new-user trial (issue 12): `explore --out` equal to `--logs` replaced the auction log with the
// exploration log, and a directory as `--out` failed only after the work, with "Success" as the reason.
TEST(TuneCli, OutputsThatWouldDestroyInputOrAreDirectoriesAreRefusedFirst) {
  std::string err;
  auto copy = dir() / "copy.plx";
  fs::copy_file(logs(), copy, fs::copy_options::overwrite_existing);
  const auto size = fs::file_size(copy);
  EXPECT_EQ(run("tune explore --logs " + copy.string() + " --out " + copy.string() + " --sigma alpha=0.1", nullptr, &err), 3);
  EXPECT_NE(err.find("both an input and the output"), std::string::npos) << err;
  EXPECT_EQ(fs::file_size(copy), size);
  ASSERT_EQ(run("tune simulate --logs " + copy.string()), 0);  // still the auction log
  auto d = dir() / "a_directory";
  fs::create_directories(d);
  EXPECT_EQ(run("tune generate --out " + d.string() + " --requests 100", nullptr, &err), 3);
  EXPECT_NE(err.find("is a directory"), std::string::npos) << err;
  EXPECT_EQ(err.find("Success"), std::string::npos) << err;
  // Two values for one parameter: an error, not "the last one wins".
  EXPECT_EQ(run("tune simulate --logs " + logs() + " --theta alpha=0.9,alpha=1", nullptr, &err), 2);
  EXPECT_NE(err.find("given twice"), std::string::npos) << err;
}

// Issue 12 item 6: bad values are errors, not silently replaced or ignored.
TEST(TuneCli, BadValuesAreErrorsNotIgnored) {
  std::string out, err;
  const std::string y = " --out " + (dir() / "z.plx").string();
  EXPECT_EQ(run("tune generate" + y + " --requests -5 --seed 7", nullptr, &err), 2);
  EXPECT_NE(err.find("--requests = -5 must be >= 1"), std::string::npos) << err;
  EXPECT_EQ(run("tune generate" + y + " --requests 100 --seed -7", nullptr, &err), 2);
  EXPECT_NE(err.find("--seed = -7 must be >= 0"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir() / "z.plx"));
  EXPECT_EQ(run("tune generate" + y + " --set markt.segments=2", nullptr, &err), 2);
  EXPECT_NE(err.find("unknown table [markt] (did you mean [market]?)"), std::string::npos) << err;
  EXPECT_EQ(run("tune bench compare --noise abc --seeds 1", nullptr, &err), 2);
  EXPECT_NE(err.find("--noise entry 'abc' is not a finite number"), std::string::npos) << err;
  // A second run into the same name: the fix offered is another name (tune run has no --resume).
  auto cfg = dir() / "twice.toml";
  std::ofstream(cfg) << "[run]\nname = \"twice\"\nout_dir = \"" << (dir() / "runs").string()
                     << "\"\nproblem = \"landscape\"\nprogress = false\n[landscape]\n[tuner]\nmethod = \"random\"\n"
                        "iterations = 2\ntraffic = 100\n[random]\nevals = 40\npopulation = 4\n[objective]\nmetric = \"f\"\n";
  ASSERT_EQ(run("tune run -c " + cfg.string(), &out, &err), 0) << err;
  EXPECT_EQ(run("tune run -c " + cfg.string(), nullptr, &err), 2);
  EXPECT_NE(err.find("already holds results; choose another name (--name NAME"), std::string::npos) << err;
  EXPECT_EQ(err.find("--resume"), std::string::npos) << err;
  EXPECT_EQ(run("tune run -c " + cfg.string() + " --set tuner.candidates=1e9", nullptr, &err), 2);
  EXPECT_NE(err.find("[tuner] candidates = 1000000000: must be in [1, 100000]"), std::string::npos) << err;
}

// Issue 12 item 6: with no weight on any logged request the estimate is undefined, with the reason — not 0.
TEST(TuneCli, EstimateWithZeroEffectiveSampleSizeIsUndefined) {
  auto e = (dir() / "narrow.plx").string();
  ASSERT_EQ(run("tune explore --logs " + logs() + " --out " + e + " --sigma alpha=0.01 --requests 500"), 0);
  std::string out;
  // θ0 has alpha = 1; alpha = 2.5 lies 150 exploration sds away: every weight underflows to exactly 0.
  ASSERT_EQ(run("tune estimate --explore " + e + " --theta alpha=2.5", &out), 0);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["ess"].get<double>(), 0.0);
  EXPECT_TRUE(j["rpm"]["value"].is_null()) << out;
  EXPECT_TRUE(j["rpm"]["lo"].is_null()) << out;
  EXPECT_NE(j["rpm"]["undefined"].get<std::string>().find("effective sample size is 0"), std::string::npos);
}

// Found by a new-user trial (issue 12): an estimate resting on ~1 effective request was printed as if
// confident. Below 30 effective requests it now carries a warning (stderr and JSON); near θ0 it does not.
TEST(TuneCli, EstimateWithFewEffectiveRequestsWarns) {
  auto e = (dir() / "few.plx").string();
  ASSERT_EQ(run("tune explore --logs " + logs() + " --out " + e + " --sigma alpha=0.1,reserve=0.02 --requests 2000"), 0);
  std::string out, err;
  ASSERT_EQ(run("tune estimate --explore " + e + " --theta alpha=0.5", &out, &err), 0);  // 5 sds from θ0
  auto j = nlohmann::json::parse(out);
  ASSERT_LT(j["ess"].get<double>(), 30.0) << out;
  ASSERT_TRUE(j.contains("warning")) << out;
  EXPECT_NE(j["warning"].get<std::string>().find("unreliable"), std::string::npos) << out;
  EXPECT_NE(err.find("warning: effective sample size"), std::string::npos) << err;
  ASSERT_EQ(run("tune estimate --explore " + e + " --theta alpha=1", &out, &err), 0);
  j = nlohmann::json::parse(out);
  EXPECT_GT(j["ess"].get<double>(), 30.0) << out;
  EXPECT_FALSE(j.contains("warning")) << out;
}
