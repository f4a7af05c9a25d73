// Host-to-device copies that do not make the host wait for the GPU (issue 10: no host synchronisation inside a
// round except the metrics).
//
// A copy from ordinary (pageable) host memory to a CUDA device is synchronous in PyTorch: it waits until the
// stream has finished all queued work, so the host stops running ahead of the GPU. Staged in pinned
// (page-locked) memory the copy is queued like a kernel and the host continues; PyTorch's pinned-memory cache
// keeps the staging buffer alive until the copy has run (CachingHostAllocator's event per use).
#pragma once

#include <torch/torch.h>

namespace plexus::fl {

/// `t` (on the CPU) as `dtype` on `device`. On CUDA: converted on the host, staged in pinned memory and
/// copied without blocking (the result is ready for later work on the current stream); elsewhere `t.to`.
inline torch::Tensor to_device_async(const torch::Tensor& t, torch::Device device, torch::ScalarType dtype) {
  if (!device.is_cuda() || !t.device().is_cpu() || t.is_sparse()) return t.to(device, dtype);
  return t.to(dtype).contiguous().pin_memory().to(device, dtype, /*non_blocking=*/true);
}

}  // namespace plexus::fl
