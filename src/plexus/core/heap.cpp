#include "plexus/core/heap.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#endif

namespace plexus {

#if defined(__GLIBC__)
namespace {

// Grow the heap once by a block just under M_MMAP_THRESHOLD (so it comes from brk, not its own mmap), free it
// (it stays as the heap's top: M_TRIM_THRESHOLD is above its size) and mark that range for transparent huge
// pages (MADV_HUGEPAGE; the system's THP mode "madvise" then backs it with 2 MiB pages on first touch). The
// first write to fresh heap memory then faults once per 2 MiB instead of once per 4 KiB: on the 2-vCPU VM,
// whose page-fault path is expensive, one quickstart round went from 224k to 19k faults and 11.3 to 8.4–9.0 s
// of CPU (docs/performance.md). This is glibc's own `glibc.malloc.hugetlb=1` tunable, which can only be set from
// the environment before the process starts. Only address space is reserved: nothing is touched here.
void advise_huge_pages_on_heap() {
  static bool done = false;
  if (done) return;
  done = true;
  constexpr std::size_t kReserve = std::size_t{1000} << 20;  // < M_MMAP_THRESHOLD (1 GiB) below
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto start = reinterpret_cast<std::uintptr_t>(sbrk(0));
  void* p = std::malloc(kReserve);
  if (!p) return;
  const auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
  std::free(p);
  if (end <= start) return;  // the block did not come from the heap: leave the defaults
  const std::uintptr_t b = (start + kHuge - 1) & ~(kHuge - 1), e = end & ~(kHuge - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);  // fails harmlessly where THP is off
}

}  // namespace
#endif

bool keep_freed_memory() {
  const char* env = std::getenv("PLEXUS_MALLOC");
  if (env && std::strcmp(env, "system") == 0) return false;
#if defined(__GLIBC__)
  constexpr int kMiB = 1 << 20;
  bool ok = mallopt(M_ARENA_MAX, 1) == 1;
  ok = (mallopt(M_MMAP_THRESHOLD, 1024 * kMiB) == 1) && ok;
  ok = (mallopt(M_TRIM_THRESHOLD, 0x7fffffff) == 1) && ok;
  ok = (mallopt(M_TOP_PAD, 256 * kMiB) == 1) && ok;
  if (ok) advise_huge_pages_on_heap();
  return ok;
#else
  return false;  // other C libraries: their defaults
#endif
}

}  // namespace plexus
