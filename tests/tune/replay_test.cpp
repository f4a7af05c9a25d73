// Generator determinism, replay determinism across thread counts, and KPI bookkeeping.
#include <gtest/gtest.h>

#include <cstring>

#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/tune/replay.h"

using namespace plexus;
using namespace plexus::tune;

TEST(Marketplace, SameSeedSameLogDifferentSeedDifferentLog) {
  MarketOptions m;
  m.requests = 400;
  auto a = generate_market(m), b = generate_market(m);
  EXPECT_EQ(a.bid, b.bid);
  EXPECT_EQ(a.pctr, b.pctr);
  m.seed = 2;
  auto c = generate_market(m);
  EXPECT_NE(a.bid, c.bid);
  a.validate("generated");
  // pCTR is miscalibrated upward on average (pctr_bias = 0.15 on the log scale).
  double lr = 0;
  for (int64_t j = 0; j < a.ads(); ++j) lr += std::log(a.pctr[j] / a.ctr[j]);
  EXPECT_GT(lr / a.ads(), 0.05);
}

TEST(Marketplace, EmptySegmentsAreConfigErrors) {
  auto parse = [](const std::string& text) {
    auto root = parse_toml(text);
    ConfigTable t(root["market"].as_table(), "market");
    return MarketOptions::parse(t);
  };
  EXPECT_THROW(parse("[market]\nsegments = 0\n"), Error);
  EXPECT_THROW(parse("[market]\nsegments = 10\nadvertisers = 5\n"), Error);
  MarketOptions m;
  m.segments = 10;
  m.advertisers = 5;
  EXPECT_THROW(generate_market(m), Error);
}

TEST(Replay, IdenticalForAnyThreadCount) {
  MarketOptions m;
  m.requests = 7000;
  auto log = generate_market(m);
  AuctionParams th;
  th.alpha = 0.7;
  th.beta = 0.3;
  th.reserve = 0.15;
  ReplayOptions r;
  r.chunk = 512;
  r.threads = 1;
  Kpis a = replay(log, th, r);
  for (int t : {2, 3, 8}) {
    r.threads = t;
    Kpis b = replay(log, th, r);
    EXPECT_EQ(std::memcmp(&a, &b, sizeof(Kpis)), 0) << "threads " << t;
  }
  // The total equals the per-request KPIs summed in order.
  auto per = replay_per_request(log, th, r);
  Kpis s;
  for (auto& k : per) s += k;
  EXPECT_NEAR(s.revenue, a.revenue, 1e-9 * a.revenue);
  EXPECT_DOUBLE_EQ(s.impressions, a.impressions);
  EXPECT_DOUBLE_EQ(a.requests, 7000);
  EXPECT_NEAR(a.rpm(), 1000 * a.revenue / 7000, 1e-12);
  EXPECT_NEAR(a.ctr(), a.clicks / a.impressions, 1e-15);
}

TEST(Replay, ReserveTradesClicksForPrice) {
  MarketOptions m;
  m.requests = 3000;
  auto log = generate_market(m);
  AuctionParams lo, hi;
  lo.reserve = 0.05;
  hi.reserve = 3.0;
  Kpis a = replay(log, lo, {}), b = replay(log, hi, {});
  EXPECT_LT(b.impressions, a.impressions);  // a higher reserve can only remove ads
  EXPECT_LT(b.clicks, a.clicks);
  EXPECT_GE(b.revenue / b.clicks, a.revenue / a.clicks);  // and raises the average price per click
}
