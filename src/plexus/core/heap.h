// Keep freed tensor memory inside the process.
//
// Why: glibc's malloc hands large freed blocks back to the kernel (blocks over the mmap threshold are unmapped
// on free, the heap top is trimmed, and every thread gets its own arena of mmap'd heaps). A training loop
// allocates and frees the same activation-sized tensors thousands of times per round, so each new tensor
// starts on fresh pages and pays one page fault per 4 KiB on first write. Profiled on the 2-vCPU dev VM
// (Firecracker, `perf stat -e page-faults` on one quickstart round): 750k faults, and the kernel's fault
// path took ~30% of the run; LibTorch's own CPU allocator is plain posix_memalign, so nothing caches them.
// PyTorch's performance guide recommends jemalloc/tcmalloc for the same reason; glibc's own tunables
// (mallopt) give the same effect without another library. docs/performance.md has the measurements.
#pragma once

namespace plexus {

/// Configure glibc malloc once, before any tensor is allocated, to reuse freed memory: one arena for all
/// threads (M_ARENA_MAX = 1, so worker threads reuse each other's blocks), blocks up to 1 GiB from the heap
/// instead of fresh mmaps (M_MMAP_THRESHOLD), no trimming of the heap top (M_TRIM_THRESHOLD) and heap growth
/// in 256 MiB steps (M_TOP_PAD); the heap's first ~1.2 GiB are marked for transparent huge pages
/// (MADV_HUGEPAGE: first writes fault per 2 MiB, not per 4 KiB; address space only, nothing is touched). The
/// process's resident memory then stays at its peak instead of shrinking between rounds. Setting the
/// environment variable PLEXUS_MALLOC=system skips this (glibc defaults, e.g. to measure the difference).
/// Returns whether the settings were applied. Never throws.
bool keep_freed_memory();

}  // namespace plexus
