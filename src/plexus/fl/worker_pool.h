// Run independent per-client work on a fixed number of worker threads.
//
// Each worker owns its own model instance (a LocalTrainer), so clients train concurrently without sharing
// autograd state. Items are handed out by an atomic counter; results must not depend on which worker runs
// an item (randomness is addressed by client and round), so the outcome is identical for any worker count.
#pragma once

#include <cstdint>
#include <functional>

namespace plexus::fl {

/// Call fn(worker, item) for item in [0, n) on `workers` threads (1 = inline). The first exception thrown
/// by any call is rethrown after all threads stop.
void parallel_for(int64_t n, int64_t workers, const std::function<void(int64_t worker, int64_t item)>& fn);

}  // namespace plexus::fl
