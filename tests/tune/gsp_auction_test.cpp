// Hand-worked GSP auctions and pricing invariants.
#include <gtest/gtest.h>

#include "plexus/core/error.h"
#include "plexus/tune/gsp_auction.h"
#include "plexus/tune/marketplace.h"

using namespace plexus;
using namespace plexus::tune;

namespace {
// One request, three ads, two slots (one mainline, one sidebar). Scores with α=1, β=0: 0.2, 0.3, 0.08.
AuctionLog hand_log() {
  AuctionLog log;
  log.mainline_slots = 1;
  log.position_effects = {1.0, 0.5};
  log.segments = 1;
  log.offsets = {0, 3};
  log.segment = {0};
  log.bid = {2.0f, 1.0f, 4.0f};
  log.pctr = {0.1f, 0.3f, 0.02f};
  log.ctr = {0.1f, 0.2f, 0.05f};
  log.relevance = {0.5f, 1.0f, 0.8f};
  log.validate("hand");
  return log;
}

Kpis run(const AuctionLog& log, const AuctionParams& th, std::vector<Placement>& pl) {
  AuctionScratch s;
  return run_auction(log, 0, th, ClickModel::True, s, &pl);
}
}  // namespace

TEST(GspAuction, HandWorkedNextPrice) {
  auto log = hand_log();
  AuctionParams th;
  th.alpha = 1;
  th.beta = 0;
  th.reserve = 0.1;
  std::vector<Placement> pl;
  Kpis k = run(log, th, pl);
  ASSERT_EQ(pl.size(), 2u);
  // Slot 0: ad 1 (score 0.3) pays 0.2 / 0.3; slot 1: ad 0 (score 0.2) pays 0.08 / 0.1 = 0.8.
  EXPECT_EQ(pl[0].ad, 1);
  EXPECT_NEAR(pl[0].price, 0.2 / 0.3, 1e-6);
  EXPECT_EQ(pl[1].ad, 0);
  EXPECT_NEAR(pl[1].price, 0.8, 1e-6);
  EXPECT_NEAR(k.clicks, 0.2 * 1.0 + 0.1 * 0.5, 1e-7);
  EXPECT_NEAR(k.revenue, (0.2 / 0.3) * 0.2 + 0.8 * 0.05, 1e-6);
  EXPECT_DOUBLE_EQ(k.impressions, 2);
  EXPECT_NEAR(k.quality, 1.0 * 1.0 + 0.5 * 0.5, 1e-7);
}

TEST(GspAuction, ReserveFiltersAndFloorsPrices) {
  auto log = hand_log();
  AuctionParams th;
  th.reserve = 1.5;  // only ads 0 (bid 2) and 2 (bid 4) are eligible
  std::vector<Placement> pl;
  run(log, th, pl);
  ASSERT_EQ(pl.size(), 2u);
  EXPECT_EQ(pl[0].ad, 0);
  EXPECT_NEAR(pl[0].price, 1.5, 1e-9);  // next score / q = 0.8 < reserve
  EXPECT_EQ(pl[1].ad, 2);
  EXPECT_NEAR(pl[1].price, 1.5, 1e-9);  // last ad pays the reserve
}

TEST(GspAuction, AlphaZeroRanksByBid) {
  auto log = hand_log();
  AuctionParams th;
  th.alpha = 0;
  th.reserve = 0.1;
  std::vector<Placement> pl;
  run(log, th, pl);
  ASSERT_EQ(pl.size(), 2u);
  EXPECT_EQ(pl[0].ad, 2);
  EXPECT_NEAR(pl[0].price, 2.0, 1e-9);
  EXPECT_EQ(pl[1].ad, 0);
  EXPECT_NEAR(pl[1].price, 1.0, 1e-9);
}

TEST(GspAuction, MainlineReserve) {
  auto log = hand_log();
  AuctionParams th;
  th.reserve = 0.1;
  th.mainline_reserve = 0.25;  // ad 1 (score 0.3) qualifies and pays at least 0.25 / 0.3
  std::vector<Placement> pl;
  run(log, th, pl);
  ASSERT_EQ(pl.size(), 2u);
  EXPECT_EQ(pl[0].slot, 0);
  EXPECT_NEAR(pl[0].price, 0.25 / 0.3, 1e-6);
  th.mainline_reserve = 0.35;  // nobody qualifies: the top ad goes to the sidebar slot
  Kpis k = run(log, th, pl);
  ASSERT_EQ(pl.size(), 1u);
  EXPECT_EQ(pl[0].ad, 1);
  EXPECT_EQ(pl[0].slot, 1);
  EXPECT_NEAR(k.clicks, 0.2 * 0.5, 1e-7);
}

TEST(GspAuction, QualityThresholdAndRelevanceExponent) {
  auto log = hand_log();
  AuctionParams th;
  th.reserve = 0.1;
  th.quality_threshold = 0.6;  // drops ad 0 (relevance 0.5)
  std::vector<Placement> pl;
  run(log, th, pl);
  ASSERT_EQ(pl.size(), 2u);
  EXPECT_EQ(pl[0].ad, 1);
  EXPECT_EQ(pl[1].ad, 2);
  EXPECT_NEAR(pl[0].price, 0.08 / 0.3, 1e-6);
  th.quality_threshold = 0;
  th.beta = 1;  // scores 0.1, 0.3, 0.064
  run(log, th, pl);
  EXPECT_NEAR(pl[0].price, 0.1 / 0.3, 1e-6);
  EXPECT_NEAR(pl[1].price, std::max(0.1, 0.064 / 0.05), 1e-6);
}

TEST(GspAuction, PricesNeverExceedBidsAndRespectReserves) {
  MarketOptions m;
  m.requests = 3000;
  m.seed = 7;
  auto log = generate_market(m);
  AuctionScratch s;
  std::vector<Placement> pl;
  for (double alpha : {0.0, 0.5, 1.0, 2.0})
    for (double reserve : {0.0, 0.2, 1.0})
      for (double mr : {0.0, 0.02}) {
        AuctionParams th;
        th.alpha = alpha;
        th.beta = 0.5;
        th.reserve = reserve;
        th.mainline_reserve = mr;
        for (int64_t r = 0; r < log.requests(); ++r) {
          run_auction(log, r, th, ClickModel::True, s, &pl);
          for (const auto& p : pl) {
            double bid = log.bid[log.offsets[r] + p.ad];
            ASSERT_LE(p.price, bid * (1 + 1e-12));
            ASSERT_GE(p.price, reserve);
            ASSERT_GE(bid, reserve);
          }
          for (std::size_t i = 1; i < pl.size(); ++i) ASSERT_LT(pl[i - 1].slot, pl[i].slot);
        }
      }
}

TEST(GspAuction, ThetaParsingAndBounds) {
  auto th = AuctionParams::parse("alpha=0.5,reserve=0.2");
  EXPECT_DOUBLE_EQ(th.alpha, 0.5);
  EXPECT_DOUBLE_EQ(th.reserve, 0.2);
  EXPECT_THROW(AuctionParams::parse("alpha=7"), Error);
  EXPECT_THROW(AuctionParams::parse("gamma=1"), Error);
  EXPECT_THROW(AuctionParams::parse("alpha=x"), Error);
  EXPECT_THROW(AuctionParams::parse("alpha"), Error);
  try {
    AuctionParams::parse("reserve=-1");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("outside its bounds"), std::string::npos);
  }
}
