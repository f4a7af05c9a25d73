// core/heap: freed blocks stay in the process (what makes tensor-sized allocations cheap), and the opt-out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "plexus/core/heap.h"

#if defined(__GLIBC__)
// A freed 64 MiB block (an activation tensor's size) must stay in the heap as free space for the next tensor.
// With glibc's defaults it is above the mmap threshold's 32 MiB cap, so it is unmapped on free and the next
// allocation faults in fresh pages; mallinfo2's fordblks (free bytes held in the arenas) shows the difference.
TEST(Heap, AFreedTensorSizedBlockStaysInTheProcess) {
  const char* env = std::getenv("PLEXUS_MALLOC");  // the settings themselves are under test: apply them
  const std::string saved = env ? env : "";
  ::unsetenv("PLEXUS_MALLOC");
  ASSERT_TRUE(plexus::keep_freed_memory());
  if (env) ::setenv("PLEXUS_MALLOC", saved.c_str(), 1);
  constexpr std::size_t kBytes = 64u << 20;
  void* p = std::malloc(kBytes);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, kBytes);  // touch the pages
  const auto before = mallinfo2();
  EXPECT_LT(before.hblkhd, kBytes) << "the block was mmapped on its own";
  std::free(p);
  EXPECT_GE(mallinfo2().fordblks, kBytes) << "the freed block was returned to the kernel";
}
#endif

TEST(Heap, SystemMallocOptOutSkipsTheSettings) {
  ::setenv("PLEXUS_MALLOC", "system", 1);
  EXPECT_FALSE(plexus::keep_freed_memory());
  ::unsetenv("PLEXUS_MALLOC");
}
