// Personalized FL across ranks (docs/distributed.md): push-sum (DFedPGP on directed time-varying graphs), the
// column-restricted gossip of DFedAlt/DFedSalt, the server baselines (FedPer, FedRep, FedBABU, FedAvg-FT,
// Ditto) and Local give metrics rows bit-identical to one process with 2 and 3 ranks, and a last checkpoint
// byte-identical to one process's. Evaluated and non-evaluated rounds alternate (fl.eval_every = 2), since
// they move different rows to rank 0. The unit tests check the push-sum row plan on a hand-worked directed
// ring, the column complement, and the bytes a run reports against that minimum.
#include <gtest/gtest.h>

#include "plexus/fl/mixing.h"
#include "plexus/fl/rank_blocks.h"
#include "plexus/fl/topology.h"
#include "ranks_util.h"

using namespace plexus;
using namespace plexus::fl;
using namespace plexus::test;
using namespace plexus::test::ranks;

namespace {

// pfl_test's settings: 1 head epoch, 1 body epoch, Dirichlet 0.5; evaluation every other round.
const std::string kPfl = R"(
[topology]
kind = "directed_time_varying"
neighbors = 2
[personalization]
head_epochs = 1
body_epochs = 1
lr_head = 0.05
lr_body = 0.1
)";

std::string pfl_config(const std::string& algorithm, const std::string& topology = "directed_time_varying") {
  auto extra = kPfl;
  extra.replace(extra.find("directed_time_varying"), 21, topology);
  return write_config(algorithm, "pfl_" + algorithm + "_" + topology, extra);
}

const std::string kSets = "--set fl.eval_every=2 --set data.dirichlet_alpha=0.5";

}  // namespace

TEST(PushSumPlan, DirectedRingSendsOneRowEachWay) {
  // Directed ring 0→1→…→5→0 over 2 ranks {0,1,2}, {3,4,5}: p_ij ≠ 0 for j = i and j = i−1, so rank 1 needs
  // u_2 (2 pushes to 3) and rank 0 needs u_5 (5 pushes to 0); nothing else crosses.
  TopologyOptions o;
  o.kind = "directed_ring";
  o.neighbors = 1;
  auto P = push_sum_matrix(make_graph(o, 6, 1, 0));
  auto plan = gossip_plan(RankBlocks{6, 2}, P, 1);
  EXPECT_EQ(plan[0][1], (std::vector<int64_t>{2}));
  EXPECT_EQ(plan[1][0], (std::vector<int64_t>{5}));
  // Three ranks {0,1}, {2,3}, {4,5}: each block receives only from the one before it.
  auto p3 = gossip_plan(RankBlocks{6, 3}, P, 1);
  EXPECT_EQ(p3[0][1], (std::vector<int64_t>{1}));
  EXPECT_EQ(p3[1][2], (std::vector<int64_t>{3}));
  EXPECT_EQ(p3[2][0], (std::vector<int64_t>{5}));
  EXPECT_TRUE(p3[1][0].empty() && p3[0][2].empty() && p3[2][1].empty());
}

TEST(PushSumPlan, ColumnComplementAndLeadPlan) {
  EXPECT_EQ(complement_columns({{0, 6}}, 10), (RowColumns{{6, 10}}));
  EXPECT_EQ(complement_columns({{2, 4}, {6, 8}}, 10), (RowColumns{{0, 2}, {4, 6}, {8, 10}}));
  EXPECT_TRUE(complement_columns({{0, 10}}, 10).empty());
  EXPECT_TRUE(complement_columns({}, 10).empty());  // empty = every column
  auto lead = lead_plan(RankBlocks{6, 3}, {5, 0, 3});
  EXPECT_TRUE(lead[0][0].empty());
  EXPECT_EQ(lead[1][0], (std::vector<int64_t>{3}));
  EXPECT_EQ(lead[2][0], (std::vector<int64_t>{5}));
  EXPECT_TRUE(lead[1][2].empty());
}

TEST(RanksPfl, DfedpgpPushSumBitIdenticalWithTwoAndThreeRanks) {
  const auto cfg = pfl_config("dfedpgp");
  expect_same_run(cfg, "dfedpgp", 2, kSets);
  expect_same_run(cfg, "dfedpgp", 3, kSets);
}

TEST(RanksPfl, DfedpgpUniformPullAndGossipOfTheBodyBitIdentical) {
  expect_same_run(pfl_config("dfedpgp"), "dfedpgp_pull", 3, kSets + " --set personalization.push_sum=uniform_pull");
  const auto alt = pfl_config("dfedalt", "time_varying");
  expect_same_run(alt, "dfedalt", 2, kSets);
  expect_same_run(alt, "dfedalt", 3, kSets);
  expect_same_run(pfl_config("dfedsalt", "ring"), "dfedsalt", 2, kSets);
  expect_same_run(pfl_config("pfl_dfedavgm", "time_varying"), "pfl_dfedavgm", 3, kSets + " --set train.momentum=0.9");
}

TEST(RanksPfl, ServerBaselinesAndLocalBitIdentical) {
  expect_same_run(pfl_config("fedper"), "fedper", 2, kSets);
  expect_same_run(pfl_config("fedrep"), "fedrep", 3, kSets);
  expect_same_run(pfl_config("fedbabu"), "fedbabu", 2, kSets);
  expect_same_run(pfl_config("fedavg_ft"), "fedavg_ft", 3, kSets);
  const auto ditto = pfl_config("ditto");
  expect_same_run(ditto, "ditto", 2, kSets);
  expect_same_run(ditto, "ditto", 3, kSets);
  expect_same_run(pfl_config("local"), "local", 2, kSets);
}

TEST(RanksPfl, PushSumSendsOnlyAlongDirectedEdges) {
  // Directed ring of 6 over 2 ranks (hand count above): each rank sends one numerator row of the body and
  // its weight per round: body of the MLP 16 → 16 → 4 = 16·16+16 = 272 floats, head 16·4+4 = 68 floats.
  const auto cfg = pfl_config("dfedpgp", "directed_ring");
  auto r = run_plexus(fmt::format("fl run --config {} {} --set topology.neighbors=1 --set run.name=ps_bytes --ranks 2",
                                  cfg, kSets));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = read_rows(temp_root("dist") / "ps_bytes");
  ASSERT_EQ(rows.size(), 6u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["comm_bytes_rank0"].get<int64_t>(), 272 * 4 + 8);
    EXPECT_EQ(row["comm_bytes_rank1"].get<int64_t>(), 272 * 4 + 8);
  }
  // To rank 0: rank 1's 3 rows of U (340 floats) and μ every round, evaluated (2, 4, 6) or not: each rank
  // evaluates its own trained rows and sends only the results (eval_ranks.h, not counted).
  EXPECT_EQ(rows[0]["gather_bytes"].get<int64_t>(), 3 * (340 * 4 + 8));
  EXPECT_EQ(rows[1]["gather_bytes"].get<int64_t>(), 3 * (340 * 4 + 8));
}

TEST(RanksPfl, ServerColumnsSendOnlyTheBody) {
  // FedPer, client_fraction 0.5 of 6: 3 participants; each rank sends its participants' body (272 floats)
  // to the other rank, and rank 1 sends their heads (68 floats) to rank 0.
  const auto cfg = pfl_config("fedper");
  auto r = run_plexus(fmt::format("fl run --config {} {} --set run.name=fedper_bytes --ranks 2", cfg, kSets));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = read_rows(temp_root("dist") / "fedper_bytes");
  ASSERT_EQ(rows.size(), 6u);
  for (const auto& row : rows) {
    const int64_t sent = row["comm_bytes_rank0"].get<int64_t>() + row["comm_bytes_rank1"].get<int64_t>();
    EXPECT_EQ(sent, row["participants"].get<int64_t>() * 272 * 4);
    EXPECT_EQ(row["gather_bytes"].get<int64_t>() % (68 * 4), 0);
  }
}
