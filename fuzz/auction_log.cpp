// Fuzz target `auction_log`: the PLXCOL container of `plexus tune` (tune/log_io.h), read as an auction log and
// as an exploration log (tune/exploration_io.h). Input: the file.
// Property: an auction log that loads (and so passed AuctionLog::validate) replays without error, since the
// replay relies on validate's invariants.
#include "fuzz_support.h"

#include "plexus/tune/exploration_io.h"
#include "plexus/tune/log_io.h"
#include "plexus/tune/replay.h"

namespace {

using namespace plexus;

void one_input(std::string_view input) {
  const auto path = fuzz::scratch_file("log.plxcol", input);
  tune::AuctionLog log;
  if (fuzz::attempt([&] { log = tune::load_auction_log(path); })) {
    if (!fuzz::attempt([&] { tune::replay(log, tune::AuctionParams{}, tune::ReplayOptions{}); })) {
      fuzz::fail("a validated auction log ({} requests, {} ads) failed to replay", log.requests(), log.ads());
    }
  }
  fuzz::attempt([&] { tune::load_exploration(path); });
}

}  // namespace

PLEXUS_FUZZ_TARGET(auction_log, one_input)
