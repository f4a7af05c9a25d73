// Resume on a different rank count (docs/distributed.md): a checkpoint holds every client's rows (rank 0
// gathers them), so a run written by R ranks resumes with R' ranks, 1 included, and gives the rows and the
// last checkpoint of the uninterrupted single-process run. Checked for gossip (DFedAvg), push-sum (DFedPGP)
// and SCAFFOLD (client control variates).
#include <gtest/gtest.h>

#include "ranks_util.h"

using namespace plexus::test;
using namespace plexus::test::ranks;

namespace {

// `first` ranks for rounds 1–4 (an evaluated round also with fl.eval_every = 2), then --resume with `second`
// ranks (1: one process, no --ranks) to round 6; compared with one uninterrupted single-process run of 6 rounds.
void expect_resume(const std::string& config, const std::string& name, int first, int second,
                   const std::string& sets = "") {
  const auto root = temp_root("dist");
  const std::string every = sets + " --set run.checkpoint_every=1";
  const auto ranks = [](int r) { return r > 1 ? fmt::format(" --ranks {}", r) : std::string(); };
  const auto run = fmt::format("{}_{}to{}", name, first, second), whole = name + "_whole";
  auto a = run_plexus(fmt::format("fl run --config {} {} --set run.name={} --set fl.rounds=4{}", config, every, run,
                                  ranks(first)));
  ASSERT_EQ(a.code, 0) << a.out;
  auto b = run_plexus(fmt::format("fl run --config {} {} --set run.name={} --resume{}", config, every, run,
                                  ranks(second)));
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_NE(b.out.find("resuming after round 4"), std::string::npos) << b.out;
  if (!fs::exists(root / whole / "summary.json")) {
    auto one = run_plexus(fmt::format("fl run --config {} {} --set run.name={}", config, every, whole));
    ASSERT_EQ(one.code, 0) << one.out;
  }
  expect_rows_equal(read_rows(root / whole), read_rows(root / run), run);
  EXPECT_EQ(slurp(root / whole / "checkpoints" / "round_6.pt"), slurp(root / run / "checkpoints" / "round_6.pt"))
      << run << ": the last checkpoint must equal the uninterrupted run's";
}

const std::string kRing = "[topology]\nkind = \"ring\"\nmixing = \"uniform\"\n";

}  // namespace

TEST(RanksResume, GossipResumesOnAnotherRankCount) {
  const auto cfg = write_config("dfedavg", "resume_dfedavg", kRing);
  expect_resume(cfg, "dfedavg", 2, 3);
  expect_resume(cfg, "dfedavg", 3, 1);
}

TEST(RanksResume, PushSumResumesOnAnotherRankCount) {
  const auto cfg = write_config("dfedpgp", "resume_dfedpgp",
                                "[topology]\nkind = \"directed_time_varying\"\nneighbors = 2\n"
                                "[personalization]\nhead_epochs = 1\nbody_epochs = 1\n");
  expect_resume(cfg, "dfedpgp", 2, 1, "--set fl.eval_every=2");
  expect_resume(cfg, "dfedpgp", 1, 3, "--set fl.eval_every=2");
}

TEST(RanksResume, ScaffoldResumesOnAnotherRankCount) {
  const auto cfg = write_config("scaffold", "resume_scaffold", kRing);
  expect_resume(cfg, "scaffold", 3, 2);
}
