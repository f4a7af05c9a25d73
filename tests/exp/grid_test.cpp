// Grid expansion and seed ranges for `plexus sweep` (src/plexus/exp/grid.h).
#include <gtest/gtest.h>

#include <set>

#include "plexus/core/error.h"
#include "plexus/exp/grid.h"

namespace plexus::exp {
namespace {

TEST(Seeds, RangeIsInclusive) {
  EXPECT_EQ(parse_seeds("0-4"), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(parse_seeds("7"), (std::vector<int64_t>{7}));
}

TEST(Seeds, ListsAndRangesMix) {
  EXPECT_EQ(parse_seeds("0,2,7-8"), (std::vector<int64_t>{0, 2, 7, 8}));
  EXPECT_EQ(parse_seeds(" 3 , 5-5"), (std::vector<int64_t>{3, 5}));
}

TEST(Seeds, BadSpecsAreConfigErrors) {
  // 0-99999999 (found by a new-user trial, issue 12) grew memory for seconds before any output.
  for (const char* bad : {"4-1", "-1", "a", "1,1", "0-2,2", "1.5", "", "0-99999999", "0-9999,10000"}) {
    try {
      parse_seeds(bad);
      ADD_FAILURE() << "accepted --seeds '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << bad;
      EXPECT_NE(std::string(e.what()).find("--seeds"), std::string::npos) << e.what();
    }
  }
}

TEST(GridAxis, SplitsOnTopLevelCommasOnly) {
  auto a = parse_grid_axis("model.hidden=[16,16],[32]");
  EXPECT_EQ(a.key, "model.hidden");
  EXPECT_EQ(a.values, (std::vector<std::string>{"[16,16]", "[32]"}));
  auto b = parse_grid_axis("data.path=\"a,b\",c");
  EXPECT_EQ(b.values, (std::vector<std::string>{"\"a,b\"", "c"}));
}

TEST(GridAxis, RejectsKeysTheSweepOwnsAndBadValues) {
  for (const char* bad : {"fl.rho", "=1,2", "run.seed=1,2", "run.name=a,b", "run.out_dir=x", "fl.rho=0.1,,0.2",
                          "fl.rho=0.1,0.1"}) {
    EXPECT_THROW(parse_grid_axis(bad), Error) << bad;
  }
}

TEST(Grid, CrossProductTimesSeedsInOrder) {
  // Two axes of two values and seeds 0-4: 2 × 2 × 5 = 20 cells, seeds outermost, the last axis fastest.
  std::vector<GridAxis> axes = {parse_grid_axis("fl.algorithm=dfedavg,dfedsam"), parse_grid_axis("train.rho=0.01,0.05")};
  auto cells = expand_grid(axes, parse_seeds("0-4"));
  ASSERT_EQ(cells.size(), 20u);
  EXPECT_EQ(cells[0].name, "algorithm=dfedavg,rho=0.01,seed=0");
  EXPECT_EQ(cells[1].name, "algorithm=dfedavg,rho=0.05,seed=0");
  EXPECT_EQ(cells[2].name, "algorithm=dfedsam,rho=0.01,seed=0");
  EXPECT_EQ(cells[3].name, "algorithm=dfedsam,rho=0.05,seed=0");
  EXPECT_EQ(cells[4].name, "algorithm=dfedavg,rho=0.01,seed=1");
  EXPECT_EQ(cells[19].name, "algorithm=dfedsam,rho=0.05,seed=4");
  EXPECT_EQ(*cells[19].seed, 4);
  ASSERT_EQ(cells[3].assign.size(), 2u);
  EXPECT_EQ(cells[3].assign[0], (std::pair<std::string, std::string>{"fl.algorithm", "dfedsam"}));
  EXPECT_EQ(cells[3].assign[1], (std::pair<std::string, std::string>{"train.rho", "0.05"}));
  // Every (algorithm, rho, seed) combination appears exactly once.
  std::set<std::string> names;
  for (const auto& c : cells) names.insert(c.name);
  EXPECT_EQ(names.size(), 20u);
}

TEST(Grid, NoAxesNoSeedsIsOneCell) {
  auto cells = expand_grid({}, {});
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].name, "run");
  EXPECT_FALSE(cells[0].seed);
  auto seeds_only = expand_grid({}, {3, 4});
  ASSERT_EQ(seeds_only.size(), 2u);
  EXPECT_EQ(seeds_only[1].name, "seed=4");
}

TEST(Grid, SharedLastComponentUsesFullKeyAndUnsafeCharactersAreReplaced) {
  std::vector<GridAxis> axes = {parse_grid_axis("train.lr=0.1"), parse_grid_axis("personalization.lr=0.2"),
                                parse_grid_axis("data.path=\"/tmp/a b\"")};
  auto cells = expand_grid(axes, {});
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].name, "train.lr=0.1,personalization.lr=0.2,path=_tmp_a_b");
}

TEST(Grid, CollidingNamesAndRepeatedKeysAreErrors) {
  EXPECT_THROW(expand_grid({parse_grid_axis("data.path=a/b,a_b")}, {}), Error);
  EXPECT_THROW(expand_grid({parse_grid_axis("fl.rounds=1,2"), parse_grid_axis("fl.rounds=3")}, {}), Error);
}

}  // namespace
}  // namespace plexus::exp
