// `plexus fl run --resume` end to end (issue 11): every way a new user can lose or corrupt results -- a
// damaged checkpoint, a missing or damaged history, a second run of one name, a full disk, fewer rounds,
// another data set -- ends in either a correct resume or one `error:` line with nothing lost, and harmless
// changes are accepted. Tiny synthetic runs (6 clients, MLP) of a few rounds each.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "../cli_util.h"
#include "plexus/core/checkpoint.h"
#include "plexus/core/file_io.h"

using plexus::test::run_plexus;
namespace fs = std::filesystem;

namespace {

fs::path test_root() {
  static fs::path root = [] {
    auto r = fs::temp_directory_path() / ("plexus_resume_cli_" + std::to_string(::getpid()));
    fs::remove_all(r);
    fs::create_directories(r);
    return r;
  }();
  return root;
}

// The synthetic FL config (FedAvg, 6 clients) as a file, with the runs under test_root()/runs.
fs::path config_file() {
  static fs::path path = [] {
    auto p = test_root() / "fl.toml";
    std::ofstream(p) << "[run]\nseed = 3\nthreads = 2\nout_dir = \"" << (test_root() / "runs").string() << "\"\n"
                     << "[data]\ndataset = \"synthetic\"\nsynthetic_train = 600\nsynthetic_test = 300\n"
                     << "synthetic_classes = 4\nsynthetic_dim = 4\nsynthetic_noise = 1.0\n"
                     << "[model]\nname = \"mlp\"\nhidden = [16]\n"
                     << "[fl]\nalgorithm = \"fedavg\"\nclients = 6\nrounds = 6\nclient_fraction = 0.5\n"
                     << "[train]\nbatch_size = 16\nlocal_steps = 5\nlr = 0.1\n";
    return p;
  }();
  return path;
}

// `plexus <args>` with shell text before it (environment variables, `ulimit`, `cd ... &&`); warnings and
// errors only (PLEXUS_LOG=warn).
plexus::test::CliResult plexus_with(const std::string& prefix, const std::string& args) {
  const std::string cmd = prefix + " PLEXUS_LOG=warn " + std::string(PLEXUS_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// `plexus fl run` of run `name` with extra arguments (--set ..., --resume).
plexus::test::CliResult fl_run(const std::string& name, const std::string& args, const std::string& prefix = "") {
  return plexus_with(prefix, "fl run --config " + config_file().string() + " --set run.name=" + name + " " + args);
}

fs::path run_dir(const std::string& name) { return test_root() / "runs" / name; }

std::vector<nlohmann::json> rows(const std::string& name) {
  std::vector<nlohmann::json> r;
  std::ifstream in(run_dir(name) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) r.push_back(nlohmann::json::parse(line));
  return r;
}

// The metrics that depend only on the training (not on timing) agree row by row.
void expect_same_rows(const std::string& a, const std::string& b) {
  auto ra = rows(a), rb = rows(b);
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t k = 0; k < ra.size(); ++k) {
    for (const char* key : {"round", "train_loss", "local_acc_mean", "global_acc", "consensus_distance"}) {
      EXPECT_EQ(ra[k][key], rb[k][key]) << key << " row " << k + 1;
    }
  }
}

// Exactly one line of the output starts with "error: <kind>:" and nothing looks like a crash.
void expect_one_error_line(const plexus::test::CliResult& r, const std::string& kind) {
  int errors = 0;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) errors += line.rfind("error: ", 0) == 0;
  EXPECT_EQ(errors, 1) << r.out;
  EXPECT_NE(r.out.find("error: " + kind + ":"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Exception raised"), std::string::npos) << r.out;
}

void zero_bytes_in_the_middle(const fs::path& p) {
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(fs::file_size(p) / 2));
  std::string zeros(64, '\0');
  f.write(zeros.data(), 64);
}

}  // namespace


TEST(ResumeCli, DamagedNewestCheckpointFallsBackToAnIntactOneAndMatchesAStraightRun) {
  ASSERT_EQ(fl_run("fallback_straight", "").code, 0);
  auto first = fl_run("fallback", "--set fl.rounds=4 --set run.checkpoint_every=1 --set run.keep_checkpoints=3");
  ASSERT_EQ(first.code, 0) << first.out;
  auto ckpts = run_dir("fallback") / "checkpoints";
  zero_bytes_in_the_middle(ckpts / "round_4.pt");
  auto r = fl_run("fallback", "--resume --set run.checkpoint_every=1 --set run.keep_checkpoints=3");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("round_4.pt' is unusable"), std::string::npos) << r.out;
  // The damaged file was replaced by a verified one (retention keeps rounds 4–6, each intact).
  EXPECT_NO_THROW(plexus::load_checkpoint(ckpts / "round_4.pt"));
  expect_same_rows("fallback", "fallback_straight");
  auto a = plexus::load_checkpoint(run_dir("fallback") / "checkpoints" / "round_6.pt").tensors.at("X");
  auto b = plexus::load_checkpoint(run_dir("fallback_straight") / "checkpoints" / "round_6.pt").tensors.at("X");
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(ResumeCli, MissingEmptyOrDamagedHistoryIsOneErrorLineAndTheFileIsKept) {
  ASSERT_EQ(fl_run("history", "--set fl.rounds=3").code, 0);
  const auto file = run_dir("history") / "metrics.jsonl";
  const std::string good = plexus::read_file(file);
  struct Case {
    const char* what;
    std::string content;  // "" with remove = true: the file is deleted
    bool remove;
  };
  std::string bad_middle = good;
  bad_middle.replace(good.find('\n') + 1, 10, "not json!!");
  for (const Case& c : {Case{"missing", "", true}, Case{"empty", "", false},
                        Case{"bad first line", "{oops\n" + good.substr(good.find('\n') + 1), false},
                        Case{"bad middle line", bad_middle, false}}) {
    if (c.remove) fs::remove(file);
    else plexus::atomic_write(file, c.content);
    auto r = fl_run("history", "--resume --set fl.rounds=4");
    EXPECT_EQ(r.code, 3) << c.what << ": " << r.out;
    expect_one_error_line(r, "data");
    EXPECT_NE(r.out.find("metrics.jsonl"), std::string::npos) << r.out;
    if (c.remove) EXPECT_FALSE(fs::exists(file)) << c.what;
    else EXPECT_EQ(plexus::read_file(file), c.content) << c.what << ": history must not be rewritten";
  }
  EXPECT_NE(fl_run("history", "--resume --set fl.rounds=4").out.find("line 2 is unreadable"), std::string::npos);
  plexus::atomic_write(file, good);  // the original history back: the resume works
  EXPECT_EQ(fl_run("history", "--resume --set fl.rounds=4").code, 0);
  EXPECT_EQ(rows("history").size(), 4u);
}

TEST(ResumeCli, ASecondRunOfTheSameNameIsRefusedWhileTheFirstRuns) {
  // The first run: long enough to still be running while the second one starts; killed at the end.
  const auto pid_file = test_root() / "first.pid";
  std::string cmd = "PLEXUS_LOG=quiet " + std::string(PLEXUS_BINARY) + " fl run --config " + config_file().string() +
                    " --set run.name=twice --set fl.rounds=100000 > /dev/null 2>&1 & echo $! > " + pid_file.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto lock = run_dir("twice") / "run.lock";
  const auto rows_file = run_dir("twice") / "metrics.jsonl";
  for (int i = 0; i < 600 && !(fs::exists(rows_file) && fs::file_size(rows_file) > 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string first_pid = plexus::read_file(pid_file);
  first_pid.erase(first_pid.find_last_not_of(" \n") + 1);
  for (const char* args : {"", "--resume"}) {
    auto r = fl_run("twice", args);
    EXPECT_EQ(r.code, 2) << r.out;
    expect_one_error_line(r, "config");
    EXPECT_NE(r.out.find("is in use by another plexus run (pid " + first_pid), std::string::npos) << r.out;
  }
  ::kill(std::stoi(first_pid), SIGKILL);
  // The kernel releases the lock of a killed run: the directory can be resumed (no checkpoint yet, so it
  // reports that, not a lock).
  for (int i = 0; i < 100 && ::kill(std::stoi(first_pid), 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto after = fl_run("twice", "--resume");
  EXPECT_EQ(after.out.find("in use"), std::string::npos) << after.out;
}

TEST(ResumeCli, AFailedCheckpointWriteIsOneErrorLineAndTheRunResumesAfterwards) {
  ASSERT_EQ(fl_run("full_disk_straight", "--set fl.rounds=4").code, 0);
  ASSERT_EQ(fl_run("full_disk", "--set fl.rounds=2").code, 0);
  const auto ckpts = run_dir("full_disk") / "checkpoints";
  const std::string round2 = plexus::read_file(ckpts / "round_2.pt");
  // Files may not grow beyond a block limit below one checkpoint (RLIMIT_FSIZE, SIGXFSZ ignored): writing the
  // round-4 checkpoint fails with EFBIG part way, as on a full disk; the small metrics files still fit.
  const auto blocks = (round2.size() - 1) / 1024;
  auto r = fl_run("full_disk", "--resume --set fl.rounds=4", "trap \"\" XFSZ; ulimit -f " + std::to_string(blocks) + ";");
  EXPECT_EQ(r.code, 3) << r.out;
  expect_one_error_line(r, "io");
  EXPECT_NE(r.out.find("round_4.pt"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(ckpts / "round_4.pt.tmp"));
  EXPECT_FALSE(fs::exists(ckpts / "round_4.pt"));
  EXPECT_EQ(plexus::read_file(ckpts / "round_2.pt"), round2);
  // Space is back: the resume redoes rounds 3-4 and matches an uninterrupted run.
  auto again = fl_run("full_disk", "--resume --set fl.rounds=4");
  ASSERT_EQ(again.code, 0) << again.out;
  expect_same_rows("full_disk", "full_disk_straight");
}

TEST(ResumeCli, FewerRoundsThanDoneAreRefused) {
  ASSERT_EQ(fl_run("fewer", "--set fl.rounds=4").code, 0);
  const std::string config = plexus::read_file(run_dir("fewer") / "config.toml");
  auto r = fl_run("fewer", "--resume --set fl.rounds=2");
  EXPECT_EQ(r.code, 2) << r.out;
  expect_one_error_line(r, "config");
  EXPECT_NE(r.out.find("fl.rounds = 2 but 4 rounds are already done"), std::string::npos) << r.out;
  EXPECT_EQ(plexus::read_file(run_dir("fewer") / "config.toml"), config);
  EXPECT_EQ(rows("fewer").size(), 4u);
}

TEST(ResumeCli, HarmlessKeysAndAnotherSpellingOfOutDirAreAccepted) {
  ASSERT_EQ(fl_run("harmless_straight", "--set fl.rounds=3").code, 0);
  ASSERT_EQ(fl_run("harmless", "--set fl.rounds=2").code, 0);
  // out_dir relative and with a trailing slash, from the test root; other threads and checkpoint cadence.
  auto r = fl_run("harmless",
                  "--resume --set fl.rounds=3 --set run.threads=1 --set run.checkpoint_every=1 "
                  "--set run.keep_checkpoints=3 --set run.out_dir=runs/",
                  "cd " + test_root().string() + " &&");
  ASSERT_EQ(r.code, 0) << r.out;
  expect_same_rows("harmless", "harmless_straight");
  // A key that changes results is still refused, naming it.
  auto bad = fl_run("harmless", "--resume --set fl.rounds=4 --set train.lr=0.2");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("train.lr = 0.2 but the run was started with 0.1"), std::string::npos) << bad.out;
}

TEST(ResumeCli, CheckpointsHoldOnlyTheModels) {
  // A wider MLP, so that X (6 clients x 5,380 parameters) dwarfs the archive's fixed overhead.
  ASSERT_EQ(fl_run("ckpt_size", "--set fl.rounds=1 --set \"model.hidden=[256]\"").code, 0);
  const auto path = run_dir("ckpt_size") / "checkpoints" / "round_1.pt";
  auto ck = plexus::load_checkpoint(path);
  ASSERT_EQ(ck.tensors.size(), 1u);  // X only: momentum buffers are reset every round, so they are not state
  const auto& x = ck.tensors.at("X");
  EXPECT_EQ(x.numel(), 6 * (16 * 256 + 256 + 256 * 4 + 4));
  const double bytes = static_cast<double>(x.numel() * x.element_size());
  // Names, the zip directory and the meta JSON add a few KB, not another copy of X.
  EXPECT_LT(static_cast<double>(fs::file_size(path)), 1.1 * bytes) << "X is " << bytes << " bytes";
}

namespace {

// A stand-in Fashion-MNIST directory: the four IDX files (plain, not gzipped) with `train` + `test` random
// 28x28 images of labels 0-9, the pixels drawn from `seed`.
fs::path fake_fashion_mnist(const std::string& name, int train, int test, unsigned seed) {
  auto dir = test_root() / name;
  fs::create_directories(dir);
  std::srand(seed);
  auto be32 = [](std::ofstream& f, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) f.put(static_cast<char>((v >> s) & 0xFF));
  };
  for (auto [prefix, n] : {std::pair<std::string, int>{"train", train}, {"t10k", test}}) {
    std::ofstream im(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary);
    be32(im, 0x00000803), be32(im, static_cast<uint32_t>(n)), be32(im, 28), be32(im, 28);
    for (int k = 0; k < n * 28 * 28; ++k) im.put(static_cast<char>(std::rand() & 0xFF));
    std::ofstream lb(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
    be32(lb, 0x00000801), be32(lb, static_cast<uint32_t>(n));
    for (int k = 0; k < n; ++k) lb.put(static_cast<char>(k % 10));
  }
  return dir;
}

}  // namespace

TEST(ResumeCli, AnotherDataSetIsRefusedTheSameDataElsewhereIsAccepted) {
  auto a = fake_fashion_mnist("fmnist_a", 120, 60, 1);
  auto b = fake_fashion_mnist("fmnist_b", 120, 60, 2);  // same sizes, other pixels
  fs::create_directory_symlink(a, test_root() / "fmnist_a_link");
  const std::string fm = "--set data.dataset=fashion_mnist --set data.dirichlet_alpha=1.0 --set fl.clients=3 ";
  ASSERT_EQ(fl_run("other_data", fm + "--set fl.rounds=1", "PLEXUS_FASHION_MNIST=" + a.string()).code, 0);
  auto recorded = nlohmann::json::parse(plexus::read_file(run_dir("other_data") / "data.json"));
  EXPECT_EQ(recorded["source"], "fashion_mnist at " + fs::canonical(a).string());
  EXPECT_EQ(recorded["sizes"]["train.x"], nlohmann::json({120, 1, 28, 28}));

  auto r = fl_run("other_data", fm + "--resume --set fl.rounds=2", "PLEXUS_FASHION_MNIST=" + b.string());
  EXPECT_EQ(r.code, 3) << r.out;
  expect_one_error_line(r, "data");
  EXPECT_NE(r.out.find("the data differ from the run's"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fs::canonical(b).string()), std::string::npos) << r.out;
  EXPECT_EQ(rows("other_data").size(), 1u);

  // The same files reached through another path are the same data, whether it is given as data.path (a
  // symlink here, where the run was started with the default '') or by the environment variable: the
  // fingerprint decides, not the spelling of the path.
  const std::string link = (test_root() / "fmnist_a_link").string();
  auto ok = fl_run("other_data", fm + "--resume --set fl.rounds=2 --set data.path='\"" + link + "\"'", "");
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_EQ(rows("other_data").size(), 2u);
  auto same = fl_run("other_data", fm + "--resume --set fl.rounds=3", "PLEXUS_FASHION_MNIST=" + link);
  EXPECT_EQ(same.code, 0) << same.out;
  EXPECT_EQ(rows("other_data").size(), 3u);
}
