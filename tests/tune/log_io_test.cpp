// The PLXCOL log format: round trip, and clear errors for missing, truncated and corrupt files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "plexus/core/error.h"
#include "plexus/core/run_dir.h"
#include "plexus/tune/exploration_io.h"
#include "plexus/tune/log_io.h"
#include "plexus/tune/replay.h"

using namespace plexus;
using namespace plexus::tune;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& name) {
  auto d = fs::temp_directory_path() / ("plexus_tune_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}
ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;
}
}  // namespace

TEST(LogIo, RoundTripPreservesEveryColumn) {
  MarketOptions m;
  m.requests = 500;
  auto log = generate_market(m);
  auto p = tmp("rt.plx");
  save_auction_log(log, p);
  auto back = load_auction_log(p);
  EXPECT_EQ(back.offsets, log.offsets);
  EXPECT_EQ(back.segment, log.segment);
  EXPECT_EQ(back.bid, log.bid);
  EXPECT_EQ(back.ctr, log.ctr);
  EXPECT_EQ(back.pctr, log.pctr);
  EXPECT_EQ(back.relevance, log.relevance);
  EXPECT_EQ(back.position_effects, log.position_effects);
  EXPECT_EQ(back.mainline_slots, log.mainline_slots);
  AuctionParams th;
  EXPECT_EQ(replay(back, th, {}).revenue, replay(log, th, {}).revenue);
}

TEST(LogIo, MissingTruncatedAndCorruptFilesAreClearErrors) {
  MarketOptions m;
  m.requests = 200;
  auto p = tmp("c.plx");
  save_auction_log(generate_market(m), p);
  std::string bytes = read_file(p);
  EXPECT_EQ(kind_of([&] { load_auction_log(tmp("nope.plx")); }), ErrorKind::Io);
  atomic_write(p, bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(kind_of([&] { load_auction_log(p); }), ErrorKind::Data);
  std::string flipped = bytes;
  flipped[flipped.size() - 3] ^= 0x5a;
  atomic_write(p, flipped);
  try {
    load_auction_log(p);
    FAIL() << "corrupt file accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  atomic_write(p, "hello world, not a log");
  EXPECT_EQ(kind_of([&] { load_auction_log(p); }), ErrorKind::Data);
  atomic_write(p, "");
  EXPECT_EQ(kind_of([&] { load_auction_log(p); }), ErrorKind::Data);
}

TEST(LogIo, InvalidValuesAreRejected) {
  MarketOptions m;
  m.requests = 50;
  auto log = generate_market(m);
  log.pctr[3] = 1.5f;  // a well-formed file whose content breaks the auction's assumptions
  auto p = tmp("bad.plx");
  save_auction_log(log, p);
  EXPECT_EQ(kind_of([&] { load_auction_log(p); }), ErrorKind::Data);
}

TEST(LogIo, ExplorationRoundTrip) {
  ExplorationLog e;
  e.params = {"alpha"};
  e.theta0 = {1.0};
  e.sd = {0.1};
  e.samples.dim = 1;
  e.samples.kpi_names = {"requests", "revenue"};
  e.samples.theta = {0.9, 1.1};
  e.samples.log_q = {-0.1, -0.2};
  e.samples.kpi = {1, 0.5, 1, 0.25};
  auto p = tmp("e.plx");
  save_exploration(e, p);
  auto back = load_exploration(p);
  EXPECT_EQ(back.samples.theta, e.samples.theta);
  EXPECT_EQ(back.samples.kpi, e.samples.kpi);
  EXPECT_EQ(back.params, e.params);
  // An auction log is not an exploration log and vice versa.
  EXPECT_EQ(kind_of([&] { load_auction_log(p); }), ErrorKind::Data);
}
