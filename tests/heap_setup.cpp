// Every test executable configures malloc as the plexus CLI does (core/heap.h), before main runs: the
// in-process engine tests then run at the CLI's speed and under its allocator settings.
#include "plexus/core/heap.h"

namespace {
const bool kHeapConfigured = plexus::keep_freed_memory();
}  // namespace
