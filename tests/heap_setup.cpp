// Every test executable configures malloc as the plexus CLI does (core/heap.h), before main runs, so the
// in-process engine tests run under the CLI's allocator settings; a global environment then checks, before
// the first test, that the settings took (unless PLEXUS_MALLOC=system asked for glibc's defaults).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "plexus/core/heap.h"

namespace {
const bool kHeapConfigured = plexus::keep_freed_memory();

class HeapSettings : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* env = std::getenv("PLEXUS_MALLOC");
#if defined(__GLIBC__)
    if (!(env && std::strcmp(env, "system") == 0)) {
      ASSERT_TRUE(kHeapConfigured) << "mallopt refused a setting";
    }
#endif
  }
};
[[maybe_unused]] ::testing::Environment* const kHeapEnvironment = ::testing::AddGlobalTestEnvironment(new HeapSettings);
}  // namespace
