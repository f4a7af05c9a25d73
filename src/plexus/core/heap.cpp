#include "plexus/core/heap.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace plexus {

bool keep_freed_memory() {
  const char* env = std::getenv("PLEXUS_MALLOC");
  if (env && std::strcmp(env, "system") == 0) return false;
#if defined(__GLIBC__)
  constexpr int kMiB = 1 << 20;
  bool ok = mallopt(M_ARENA_MAX, 1) == 1;
  ok = (mallopt(M_MMAP_THRESHOLD, 1024 * kMiB) == 1) && ok;
  ok = (mallopt(M_TRIM_THRESHOLD, 0x7fffffff) == 1) && ok;
  ok = (mallopt(M_TOP_PAD, 256 * kMiB) == 1) && ok;
  return ok;
#else
  return false;  // other C libraries: their defaults
#endif
}

}  // namespace plexus
