// End-to-end runner checks on the synthetic task: every algorithm learns, same seed gives identical
// metrics, resume is bit-identical, config errors name their key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "plexus/core/checkpoint.h"
#include "plexus/core/log.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/runner.h"
#include "synthetic_config.h"

using namespace plexus;
using namespace plexus::fl;
namespace fs = std::filesystem;

namespace {

// A small, fast configuration: 6 clients on a learnable synthetic task with an MLP, on a ring.
toml::table base_config(const std::string& algorithm, const std::string& name) {
  auto root = test::synthetic_config(algorithm, name, "fl", "[topology]\nkind = \"ring\"\nmixing = \"uniform\"\n");
  if (algorithm == "dfedavgm") apply_override(root, "train.momentum=0.9");
  if (algorithm == "dfedsam_mgs") apply_override(root, "fl.gossip_steps=3");
  if (algorithm == "dpsgd") apply_override(root, "fl.rounds=30");
  if (find_algorithm(algorithm).family == Family::Private) {
    // Weak noise and a loose clip: these tests check learning, dp_test.cpp checks the mechanism.
    apply_override(root, "privacy.noise_multiplier=0.01");
    apply_override(root, "privacy.clip_norm=5.0");
    apply_override(root, "privacy.density=0.5");
  }
  return root;
}

std::string config_error(const std::string& override_text) {
  auto root = base_config("dfedsam", "err");
  apply_override(root, override_text);
  try {
    FlConfig::parse(root);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    return e.what();
  }
  return "";
}

}  // namespace

class EveryAlgorithm : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryAlgorithm, ImprovesAccuracyOnSyntheticTask) {
  set_log_level(LogLevel::Warn);
  auto cfg = FlConfig::parse(base_config(GetParam(), "learn_" + GetParam()));
  auto before = cfg;
  // Round-0 accuracy: the same run with lr tiny enough to leave the initial model where it is.
  before.train.lr = 1e-12;
  before.fl.rounds = 1;
  before.run.name += "_before";
  auto r0 = run_fl(before, false);
  auto r = run_fl(cfg, false);
  double acc0 = r0.summary["final_local_acc_mean"].get<double>();
  double acc = r.summary["final_local_acc_mean"].get<double>();
  // 4 balanced classes: an untrained model sits near 0.25; the task is learnable to > 0.8 by an MLP.
  EXPECT_GT(acc, acc0 + 0.2) << GetParam() << " before " << acc0 << " after " << acc;
  EXPECT_GT(acc, 0.6) << GetParam();
}

// Every registered server, gossip and private algorithm (personalized ones: pfl_test.cpp).
std::vector<std::string> global_algorithms() {
  std::vector<std::string> names;
  for (auto f : {Family::Server, Family::Gossip, Family::Private}) {
    for (const auto& n : algorithm_names(f)) names.push_back(n);
  }
  return names;
}

INSTANTIATE_TEST_SUITE_P(Fl, EveryAlgorithm, ::testing::ValuesIn(global_algorithms()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(Runner, SameSeedGivesIdenticalMetricsForAnyThreadCount) {
  set_log_level(LogLevel::Warn);
  auto a = FlConfig::parse(base_config("dfedsam", "same_a"));
  auto b = a;
  b.run.name = "same_b";
  b.run.threads = 1;  // a uses 2 worker threads: the result must not depend on it
  auto ra = run_fl(a, false), rb = run_fl(b, false);
  ASSERT_EQ(ra.rows.size(), rb.rows.size());
  for (std::size_t k = 0; k < ra.rows.size(); ++k) {
    for (const char* key : {"train_loss", "local_acc_mean", "global_acc", "consensus_distance"}) {
      EXPECT_EQ(ra.rows[k][key], rb.rows[k][key]) << key << " round " << k + 1;
    }
  }
}

TEST(Runner, ResumeIsBitIdentical) {
  set_log_level(LogLevel::Warn);
  auto full = FlConfig::parse(base_config("dfedsam", "resume_full"));
  auto rf = run_fl(full, false);

  auto root = base_config("dfedsam", "resume_part");
  apply_override(root, "fl.rounds=3");
  apply_override(root, "run.checkpoint_every=1");
  auto part = run_fl(FlConfig::parse(root), false);
  // Launch-only keys may change on resume, and a run written before run.cuda_graphs existed (its stored config
  // lacks the key) resumes too: drop the key from the stored config, then resume with another value.
  {
    const auto stored = fs::path(part.run_dir) / "config.toml";
    std::ifstream in(stored);
    std::string text, line;
    while (std::getline(in, line))
      if (line.find("cuda_graphs") == std::string::npos) text += line + "\n";
    in.close();
    std::ofstream(stored) << text;
  }
  apply_override(root, "fl.rounds=6");
  apply_override(root, "run.cuda_graphs=\"off\"");
  auto rr = run_fl(FlConfig::parse(root), true);

  ASSERT_EQ(rr.rows.size(), rf.rows.size());
  for (std::size_t k = 0; k < rf.rows.size(); ++k) {
    for (const char* key : {"train_loss", "local_acc_mean", "global_acc", "consensus_distance"}) {
      EXPECT_EQ(rf.rows[k][key], rr.rows[k][key]) << key << " round " << k + 1;
    }
  }
  auto xf = load_checkpoint(latest_checkpoint(fs::path(rf.run_dir) / "checkpoints")).tensors.at("X");
  auto xr = load_checkpoint(latest_checkpoint(fs::path(rr.run_dir) / "checkpoints")).tensors.at("X");
  EXPECT_TRUE(torch::equal(xf, xr));
}

// After --resume, summary.json's `seconds` is the whole run's time, not the resumed part's: the resumed session
// starts from the time stored in the metrics row of the checkpoint's round (`seconds_elapsed`; a history from
// before that column: the sum of its rows' `seconds`). The first session's time is set by hand to 1000 s in the
// history, so the expected values are known without timing anything.
TEST(Runner, ResumedSummaryCountsTheWholeRunsTime) {
  set_log_level(LogLevel::Warn);
  for (const bool old_history : {false, true}) {
    auto root = base_config("fedavg", old_history ? "elapsed_old" : "elapsed");
    apply_override(root, "fl.rounds=3");
    apply_override(root, "run.checkpoint_every=1");
    auto part = run_fl(FlConfig::parse(root), false);
    ASSERT_EQ(part.rows.size(), 3u);
    for (std::size_t k = 0; k < 3; ++k) {  // a fresh run: elapsed time grows by at least each round's own time
      const double before = k == 0 ? 0.0 : part.rows[k - 1]["seconds_elapsed"].get<double>();
      EXPECT_GE(part.rows[k]["seconds_elapsed"].get<double>(), before + part.rows[k]["seconds"].get<double>());
    }
    // The first session took 1000 s: round 3 ended at 1000 s, or (old history) its rounds took 400 + 300 + 300 s.
    const auto jsonl = fs::path(part.run_dir) / "metrics.jsonl";
    std::string text;
    {
      std::ifstream in(jsonl);
      int k = 0;
      for (std::string line; std::getline(in, line); ++k) {
        auto row = nlohmann::ordered_json::parse(line);
        if (old_history) {
          row.erase("seconds_elapsed");
          row["seconds"] = k == 0 ? 400.0 : 300.0;
        } else if (k == 2) {
          row["seconds_elapsed"] = 1000.0;
        }
        text += row.dump() + "\n";
      }
    }
    std::ofstream(jsonl) << text;
    apply_override(root, "fl.rounds=5");
    auto rr = run_fl(FlConfig::parse(root), true);
    ASSERT_EQ(rr.rows.size(), 5u);
    const double r4 = rr.rows[3]["seconds_elapsed"].get<double>(), r5 = rr.rows[4]["seconds_elapsed"].get<double>();
    EXPECT_GE(r4, 1000.0 + rr.rows[3]["seconds"].get<double>()) << "old history: " << old_history;
    EXPECT_GE(r5, r4 + rr.rows[4]["seconds"].get<double>());
    EXPECT_LT(r4, 1000.0 + 600.0) << "the resumed session adds its own time to 1000 s, nothing more";
    EXPECT_GE(rr.summary["seconds"].get<double>(), r5);
    std::ifstream in(fs::path(rr.run_dir) / "summary.json");
    EXPECT_EQ(nlohmann::json::parse(in)["seconds"].get<double>(), rr.summary["seconds"].get<double>());
  }
}

TEST(Runner, FreshRunRefusesToOverwriteResults) {
  set_log_level(LogLevel::Warn);
  auto cfg = FlConfig::parse(base_config("fedavg", "no_overwrite"));
  cfg.fl.rounds = 1;
  run_fl(cfg, false);
  try {
    run_fl(cfg, false);
    FAIL() << "second run into the same directory must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already holds results"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(fs::path(cfg.run.out_dir) / "no_overwrite" / "checkpoints" / "round_1.pt"));
}

TEST(Runner, ResumeWithChangedConfigNamesTheKeyAndKeepsCheckpoints) {
  set_log_level(LogLevel::Warn);
  auto root = base_config("fedavg", "resume_changed");
  apply_override(root, "fl.rounds=1");
  auto first = FlConfig::parse(root);
  auto r = run_fl(first, false);
  auto ckpt = fs::path(r.run_dir) / "checkpoints" / "round_1.pt";
  auto size = fs::file_size(ckpt);
  apply_override(root, "fl.rounds=2");
  apply_override(root, "train.lr=0.5");
  try {
    run_fl(FlConfig::parse(root), true);
    FAIL() << "resuming with another learning rate must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("train.lr = 0.5"), std::string::npos) << e.what();
  }
  ASSERT_TRUE(fs::exists(ckpt));
  EXPECT_EQ(fs::file_size(ckpt), size);
}

TEST(FlConfig, ErrorsNameTheKey) {
  EXPECT_NE(config_error("fl.gossip_steps=0").find("gossip_steps = 0"), std::string::npos);
  EXPECT_NE(config_error("train.rho=-1").find("rho"), std::string::npos);
  EXPECT_NE(config_error("fl.algoritm=\"x\"").find("did you mean 'algorithm'"), std::string::npos);
  EXPECT_NE(config_error("fl.algorithm=dfedsamm").find("did you mean \"dfedsam\""), std::string::npos);
  EXPECT_NE(config_error("trian.lr=1").find("did you mean [train]"), std::string::npos);
  EXPECT_NE(config_error("fl.algorithm=dfedavgm").find("momentum"), std::string::npos);
  EXPECT_NE(config_error("fl.clients=\"many\"").find("integer"), std::string::npos);
  EXPECT_NE(config_error("privacy.clip_norm=1").find("is not private"), std::string::npos);
}
