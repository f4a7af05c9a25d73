// A Chrome trace of a stretch of LibTorch work through PyTorch's own profiler (Kineto; the C++ side of
// torch.profiler), so that a plexus benchmark and its PyTorch reference are profiled by the same tool and their
// kernels can be summed by bench/kernel_breakdown.py.
#pragma once
#include <string>

namespace plexus::bench {

/// Start recording CPU operators and, when `cuda`, CUDA kernels (CUPTI).
void trace_start(bool cuda);

/// Stop recording and write the trace as Chrome-trace JSON (events with "cat": "kernel", "dur" in µs) to `path`.
/// Throws std::runtime_error if this LibTorch has no Kineto (Debian's 1.13 build).
void trace_stop(const std::string& path);

}  // namespace plexus::bench
