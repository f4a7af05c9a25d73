// CUDA graphs: a fixed sequence of GPU kernels captured once and replayed with one launch.
#pragma once

#include <functional>
#include <memory>

namespace plexus {

/// Whether this build can capture CUDA graphs: true when plexus was linked against a CUDA LibTorch (the GPU
/// machine's PyTorch 2.x), false for Debian's CPU LibTorch. Nothing else in plexus depends on CUDA headers.
bool cuda_graphs_supported();

/// One captured CUDA graph (PyTorch's torch.cuda.CUDAGraph, ATen/cuda/CUDAGraph.h; NVIDIA, "CUDA Graphs",
/// CUDA C++ Programming Guide §3.2.8.7). A replay re-runs the captured kernels on the same device addresses:
/// the body must read its inputs from tensors that outlive the graph (copy fresh values into them before
/// replay()) and write its results into tensors read after replay(). Tensors the body allocates live in the
/// graph's private memory pool and keep their addresses across replays. The body may not synchronise with the
/// host (.item(), .cpu(), data-dependent shapes), may not draw from a generator, and must not change which
/// kernels it launches between calls; a violation surfaces as a CUDA capture error (c10::Error).
class CudaGraph {
 public:
  CudaGraph();
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  /// Runs `body` `warmup` times eagerly, then records one more call, all on a side stream of the current CUDA
  /// device (the warm-up lets cuBLAS/cuDNN create their handles and workspaces and the caching allocator settle
  /// before capture, as torch.cuda.make_graphed_callables does). The warm-up calls really execute: a body that
  /// updates state in place does so `warmup` times; the captured call does not execute until replay().
  /// Throws Error::config on a CPU-only build (nothing to capture there); rethrows a failed capture after
  /// discarding it.
  void capture(const std::function<void()>& body, int warmup = 2);

  /// Launches the captured kernels on the current stream (asynchronous, like any CUDA work). Throws
  /// Error::internal when nothing is captured (a bug in the caller).
  void replay();

  /// Whether capture() succeeded and reset() has not been called since.
  bool captured() const;

  /// Frees the graph and its memory pool.
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus
