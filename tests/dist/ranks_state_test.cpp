// Algorithms with client or server state across ranks (docs/distributed.md): SCAFFOLD (control variates c_i,
// Δc_i and the server's c) and FedProx (the proximal anchor x^t) give metrics rows bit-identical to one
// process with 2 and 3 ranks, and a last checkpoint (c_i of every client included) byte-identical to one
// process's. Fed-BBPT still runs in one process only: refused before any rank starts.
#include <gtest/gtest.h>

#include "ranks_util.h"

using namespace plexus::test;
using namespace plexus::test::ranks;

namespace {
const std::string kRing = "[topology]\nkind = \"ring\"\nmixing = \"uniform\"\n";
}

TEST(RanksState, ScaffoldBitIdenticalWithTwoAndThreeRanks) {
  const auto cfg = write_config("scaffold", "scaffold", kRing);
  expect_same_run(cfg, "scaffold", 2);
  expect_same_run(cfg, "scaffold", 3);
  // Full participation with a server step size η_g ≠ 1.
  expect_same_run(cfg, "scaffold_full", 3, "--set fl.client_fraction=1.0 --set fl.server_lr=0.5");
}

TEST(RanksState, FedProxBitIdenticalWithTwoAndThreeRanks) {
  const auto cfg = write_config("fedprox", "fedprox", kRing);
  expect_same_run(cfg, "fedprox", 2, "--set train.prox_mu=0.1");
  expect_same_run(cfg, "fedprox", 3, "--set train.prox_mu=0.1");
}

TEST(RanksState, ScaffoldSendsTheTrainedRowsAndTheirControlUpdates) {
  // 3 participants per round over 2 ranks: every participant's model row and Δc_i go to the other rank
  // (2 · P floats each, P = 340), and rank 1's participants' c_i to rank 0.
  const auto cfg = write_config("scaffold", "scaffold_bytes", kRing);
  auto r = run_plexus(fmt::format("fl run --config {} --set run.name=scaffold_bytes --ranks 2", cfg));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = read_rows(temp_root("dist") / "scaffold_bytes");
  ASSERT_EQ(rows.size(), 6u);
  for (const auto& row : rows) {
    const int64_t sent = row["comm_bytes_rank0"].get<int64_t>() + row["comm_bytes_rank1"].get<int64_t>();
    EXPECT_EQ(sent, row["participants"].get<int64_t>() * 2 * 340 * 4);
    EXPECT_EQ(row["gather_bytes"].get<int64_t>() % (340 * 4), 0);
  }
}

TEST(RanksState, FedBbptIsRefusedBeforeStartingRanks) {
  const auto cfg = write_config("fedavg", "refused", kRing);
  auto r = run_plexus(fmt::format(
      "fl run --config {} --set fl.algorithm=fed_bbpt --set bbpt.model=no_model --set run.name=refused --ranks 2",
      cfg));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error: config: fl.algorithm = \"fed_bbpt\" does not run across ranks"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("scaffold"), std::string::npos) << "names the algorithms that do run: " << r.out;
}
