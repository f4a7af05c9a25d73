// Evaluation spread over the ranks (src/plexus/fl/eval_ranks.h): every rank measures its own clients and its
// share of the test set's batches, and rank 0 assembles the results. Checked against what is known without
// that code: the single-process run's metrics (bit for bit) on a config where a wrong assembly shows:
//   * clients with very different local test sets (Dirichlet α = 0.1 over 4 classes), so the per-client
//     accuracies differ (local_acc_std > 0) and a client's result in another client's place, a block left
//     out or counted twice changes local_acc_mean/std;
//   * a test set of 2,500 examples = 3 evaluation batches of 1,000 (the last one partial), so with 2 ranks
//     rank 1 evaluates 2 batches and with 3 ranks each rank one: global_acc and global_loss (every example's
//     result, summed on rank 0) and, for server FL, each client's local statistics (gathered from those
//     per-example results by index) depend on every rank's examples landing in their places;
//   * every round evaluated.
// The algorithms cover every evaluation path: FedAvg (one model: the per-example pass split over ranks),
// DFedAvg (different models: each rank's clients, plus the average model x̄ broadcast from rank 0 and its
// test-set pass split), FedPer (personalized before/after on each rank's rows), FedAvg-FT (the "after" model
// fine-tuned by the rank owning the client) and DFedPGP (push-sum: de-biased rows of each rank).
// A unit test checks the gather of per-client results on two in-process ranks with hand-set values.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <thread>

#include "plexus/dist/group.h"
#include "free_port.h"
#include "plexus/fl/eval_ranks.h"
#include "ranks_util.h"

using namespace plexus;
using namespace plexus::test;
using namespace plexus::test::ranks;

namespace {

// Dirichlet α = 0.1: most clients see one or two of the 4 classes, so their local accuracies differ.
const std::string kSets =
    "--set data.synthetic_test=2500 --set data.dirichlet_alpha=0.1 --set fl.rounds=3 --set fl.eval_every=1";

void expect_spread(const std::string& name) {
  const auto rows = read_rows(temp_root("dist") / (name + "_r1"));
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) {
    ASSERT_TRUE(row["local_acc_std"].is_number()) << name << ": every round is evaluated";
    EXPECT_GT(row["local_acc_std"].get<double>(), 0.01) << name << ": the clients' accuracies must differ";
  }
}

}  // namespace

TEST(RanksEval, GlobalEvaluationAssembledAsOneProcess) {
  // FedAvg: one model for everyone (per-example results by index); DFedAvg on a ring: each rank's rows and x̄.
  const auto server = write_config("fedavg", "eval_fedavg", "");
  expect_same_run(server, "eval_fedavg", 2, kSets, 3);
  expect_same_run(server, "eval_fedavg", 3, kSets, 3);
  expect_spread("eval_fedavg");
  const auto gossip = write_config("dfedavg", "eval_dfedavg", "[topology]\nkind = \"ring\"\nmixing = \"uniform\"\n");
  expect_same_run(gossip, "eval_dfedavg", 2, kSets, 3);
  expect_same_run(gossip, "eval_dfedavg", 3, kSets, 3);
  expect_spread("eval_dfedavg");
}

TEST(RanksEval, PersonalizedBeforeAndAfterAssembledAsOneProcess) {
  const std::string pfl = "[personalization]\nhead_epochs = 1\nbody_epochs = 1\nlr_head = 0.05\nlr_body = 0.1\n";
  const auto fedper = write_config("fedper", "eval_fedper", pfl);
  expect_same_run(fedper, "eval_fedper", 2, kSets, 3);
  expect_same_run(fedper, "eval_fedper", 3, kSets, 3);
  expect_spread("eval_fedper");
  const auto ft = write_config("fedavg_ft", "eval_fedavg_ft", pfl);
  expect_same_run(ft, "eval_fedavg_ft", 3, kSets, 3);
  const auto pgp = write_config("dfedpgp", "eval_dfedpgp",
                                pfl + "[topology]\nkind = \"directed_ring\"\nneighbors = 1\nmixing = \"uniform\"\n");
  expect_same_run(pgp, "eval_dfedpgp", 2, kSets, 3);
  for (const auto& row : read_rows(temp_root("dist") / "eval_fedper_r1")) {
    EXPECT_TRUE(row["before_acc_mean"].is_number()) << "before/after both measured every round";
  }
}

namespace {

// Hand-set statistics of client i: distinct in every field, so any misplacement shows.
fl::EvalStats stats_of(int64_t i) { return {.correct = 7 * i + 1, .count = 100 + i, .loss_sum = 0.25 + 1.5 * i}; }

}  // namespace

TEST(RanksEval, ClientResultsLandInClientOrderOnRankZero) {
  // 5 clients over 2 ranks: rank 0 owns 0..1, rank 1 owns 2..4 (⌊k·5/2⌋).
  const int port = free_port();
  std::mutex mutex;
  std::set<std::pair<int, int64_t>> called;  // (rank, client) of each evaluation
  std::vector<fl::EvalStats> got0, got1;
  auto rank = [&](int k, std::vector<fl::EvalStats>& got) {
    dist::RankEnv env;
    env.rank = k, env.world = 2, env.local_rank = k, env.master_addr = "127.0.0.1", env.master_port = port;
    auto group = dist::Group::connect(env, 60);
    fl::RankBlocks blocks;
    blocks.clients = 5, blocks.ranks = 2;
    fl::EvalRanks ranks(*group, blocks);
    got = ranks.clients(5, 2, [&](int64_t, int64_t i) {
      std::lock_guard<std::mutex> lock(mutex);
      called.insert({k, i});
      return stats_of(i);
    });
  };
  std::thread t1([&] { rank(1, got1); });
  rank(0, got0);
  t1.join();
  const std::set<std::pair<int, int64_t>> want = {{0, 0}, {0, 1}, {1, 2}, {1, 3}, {1, 4}};
  EXPECT_EQ(called, want) << "each rank evaluates exactly its own block";
  ASSERT_EQ(got0.size(), 5u);
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(got0[i].correct, stats_of(i).correct) << "client " << i;
    EXPECT_EQ(got0[i].count, stats_of(i).count) << "client " << i;
    EXPECT_EQ(got0[i].loss_sum, stats_of(i).loss_sum) << "client " << i;  // f64 through f64: exact
  }
}
