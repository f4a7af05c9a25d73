// CUDA graph capture and replay over ATen's at::cuda::CUDAGraph. See cuda_graph.h.
#include "plexus/core/cuda_graph.h"

#include "plexus/core/error.h"

// PLEXUS_WITH_CUDA is set by CMake for this file only, when the LibTorch found has CUDA libraries
// (TORCH_CUDA_LIBRARIES); the CUDA headers are then available through LibTorch's include directories.
#if PLEXUS_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace plexus {

bool cuda_graphs_supported() { return PLEXUS_WITH_CUDA != 0; }

#if PLEXUS_WITH_CUDA

struct CudaGraph::Impl {
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

CudaGraph::CudaGraph() : impl_(std::make_unique<Impl>()) {}
CudaGraph::~CudaGraph() = default;

void CudaGraph::capture(const std::function<void()>& body, int warmup) {
  reset();
  auto caller = c10::cuda::getCurrentCUDAStream();
  auto side = c10::cuda::getStreamFromPool();
  caller.synchronize();  // the side stream must see everything queued before (inputs being copied, ...)
  {
    c10::cuda::CUDAStreamGuard on_side(side);
    for (int i = 0; i < warmup; ++i) body();
    side.synchronize();
    // The warm-up's freed activations sit in the allocator's ordinary pool; the capture draws from the graph's
    // private pool. Hand the former back so a graphed run does not hold both (without this a graphed LLM step
    // peaked at 1.7-1.8x the eager memory on the H200; the effect of this line is not yet measured).
    c10::cuda::CUDACachingAllocator::emptyCache();
    impl_->graph.capture_begin();
    try {
      body();
    } catch (...) {
      // End the capture so the stream leaves capture mode, then drop the broken graph.
      try {
        impl_->graph.capture_end();
      } catch (...) {
      }
      impl_ = std::make_unique<Impl>();
      throw;
    }
    impl_->graph.capture_end();
  }
  side.synchronize();
  impl_->captured = true;
}

void CudaGraph::replay() {
  PLEXUS_CHECK(impl_->captured, "CudaGraph::replay before capture");
  impl_->graph.replay();
}

bool CudaGraph::captured() const { return impl_->captured; }

void CudaGraph::reset() {
  if (impl_->captured) impl_ = std::make_unique<Impl>();
}

#else  // CPU-only LibTorch: no graphs; callers check cuda_graphs_supported() first.

struct CudaGraph::Impl {};

CudaGraph::CudaGraph() : impl_(std::make_unique<Impl>()) {}
CudaGraph::~CudaGraph() = default;

void CudaGraph::capture(const std::function<void()>&, int) {
  throw Error::config("CUDA graphs need plexus built against a CUDA LibTorch (this build is CPU-only); "
                      "set the graph option to \"off\"");
}

void CudaGraph::replay() { PLEXUS_CHECK(false, "CudaGraph::replay on a CPU-only build"); }

bool CudaGraph::captured() const { return false; }

void CudaGraph::reset() {}

#endif

}  // namespace plexus
