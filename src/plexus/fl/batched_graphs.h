// CUDA graphs of the batched local step (issue 10): persistent buffers and captured graphs per chunk shape.
//
// A CUDA graph replays its kernels on the device addresses seen at capture (plexus::CudaGraph, core/cuda_graph.h),
// so everything a step reads or writes must keep its address across replays: the chunk's state (Wb, Mb [n,P],
// loss_sum [n]) and inputs (idx [B·n], mask [n,B], active [n,1], lr [1]) live in one StepGraphEntry per chunk
// shape, reused across steps and rounds. The dataset tensors are part of the key (their addresses are baked in).
// Per round the rows are copied into Wb/Mb, per step the step's inputs into idx/mask/active (device copies), then
// the graph is replayed; lr is a device scalar so the per-round learning-rate decay needs no recapture.
// Two graphs per shape: all clients active (plain update) and masked (clients past their steps stay untouched).
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plexus/core/cuda_graph.h"

namespace plexus::fl {

/// The persistent tensors of one chunk shape and its captured step graphs.
struct StepGraphEntry {
  std::string key;                                   ///< shape, options and dataset addresses (see batched_trainer.cpp)
  torch::Tensor Wb, Mb, loss_sum, idx, mask, active, lr;  ///< fixed-address state and inputs (BatchedTrainer::StepTensors)
  std::array<std::unique_ptr<CudaGraph>, 2> graph;   ///< [0] masked update, [1] every client active; null until captured
};

/// A small cache of StepGraphEntry by key, least recently used evicted beyond `capacity` (each entry holds one
/// step's activations in its graphs' memory pool).
class BatchedStepGraphs {
 public:
  explicit BatchedStepGraphs(std::size_t capacity = 4) : capacity_(capacity) {}

  /// The entry for `key`; a new one is filled by `make` (allocate the tensors; no graph yet).
  StepGraphEntry& get(const std::string& key, const std::function<void(StepGraphEntry&)>& make);

  int64_t captures = 0;  ///< graphs captured so far
  int64_t replays = 0;   ///< steps run by replaying a graph
  bool failed = false;   ///< a capture failed: later steps run eagerly (BatchedTrainer logs it once)

 private:
  std::size_t capacity_;
  std::vector<std::unique_ptr<StepGraphEntry>> entries_;  // most recently used last
};

}  // namespace plexus::fl
