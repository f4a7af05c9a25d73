// Data-parallel gradient averaging: the gradients of a model's parameters, flattened into buckets of about
// 25 MB in reverse parameter order (the order backward produces them, as DDP's reducer buckets them) and
// averaged over the ranks with one sum all-reduce per bucket (docs/distributed.md, "LLM data parallel").
// Letters: R ranks, P parameters (floats).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "plexus/dist/group.h"

namespace plexus::dist {

/// Bucket size DDP uses by default (bucket_cap_mb = 25).
constexpr int64_t kGradBucketBytes = 25 * 1024 * 1024;

class GradBuckets {
 public:
  /// Buckets over `params` (the optimizer's parameters, in model order): walked from the last to the first,
  /// a parameter joins the open bucket unless that would pass `bucket_bytes` (a parameter larger than that
  /// gets a bucket of its own), or its dtype differs from the bucket's.
  /// Throws: Error(Config) if a parameter is not on the CPU (Gloo over CPU tensors only).
  GradBuckets(std::vector<torch::Tensor> params, int64_t bucket_bytes = kGradBucketBytes);

  /// grad ← (Σ over ranks of grad) / R for every parameter, bucket by bucket (flatten, all-reduce, divide,
  /// copy back). A parameter with no gradient this step contributes zeros and gets a zero gradient, so every
  /// rank sends the same buckets. Units: bytes_per_step() payload bytes per call.
  /// Throws: Error(Io) when a rank died or timed out (Group::allreduce_sum).
  void average(Group& group);

  /// Number of buckets.
  size_t size() const { return buckets_.size(); }

  /// Payload bytes of one average() call: 4·P for f32 parameters (a ring all-reduce then sends
  /// 2·(R−1)/R times this per rank).
  int64_t bytes_per_step() const { return bytes_; }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into params_, reverse model order
    int64_t numel = 0;
    torch::Dtype dtype = torch::kFloat32;
  };
  std::vector<torch::Tensor> params_;
  std::vector<Bucket> buckets_;
  int64_t bytes_ = 0;
};

}  // namespace plexus::dist
