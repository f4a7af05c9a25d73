// Multi-threaded, deterministic replay of a logged auction set under parameters θ (the open-box simulator).
//
// Requests are cut into fixed chunks of `chunk` requests independent of the thread count; each chunk's KPI
// partial sum is stored in its own slot and the slots are added in chunk order. The floating-point result
// is therefore bit-identical for any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "plexus/tune/gsp_auction.h"
#include "plexus/tune/kpis.h"
#include "plexus/tune/marketplace.h"

namespace plexus::tune {

struct ReplayOptions {
  int threads = 1;                          // worker threads (>= 1)
  int64_t chunk = 2048;                     // requests per chunk (fixes the summation order)
  ClickModel click_model = ClickModel::True;
};

/// Run fn(chunk_index, begin, end) for every chunk [begin, end) of [0, n) on `threads` std::threads.
/// Chunks are claimed dynamically; fn must write only to its own chunk's output. Exceptions in workers
/// are re-thrown on the calling thread.
void parallel_chunks(int64_t n, int64_t chunk, int threads, const std::function<void(int64_t, int64_t, int64_t)>& fn);

/// Total KPIs of replaying every request of `log` under θ. Deterministic for any thread count.
Kpis replay(const AuctionLog& log, const AuctionParams& theta, const ReplayOptions& opt);

/// KPIs of each request (requests = 1 each) under θ.
std::vector<Kpis> replay_per_request(const AuctionLog& log, const AuctionParams& theta, const ReplayOptions& opt);

}  // namespace plexus::tune
