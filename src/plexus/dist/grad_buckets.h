// Data-parallel gradient averaging: the gradients of a model's parameters, flattened into buckets of about
// 25 MB in reverse parameter order (the order backward produces them, as DDP's reducer buckets them) and
// averaged over the ranks with one sum all-reduce per bucket (docs/distributed.md, "LLM data parallel").
// Two ways to run it: average() after backward, or overlapped with backward (attach(), then begin_step(loss)
// before and finish_step() after each backward), where a bucket's all-reduce starts as soon as the last of its
// parameters has its gradient, while backward still computes the earlier layers' (DDP's Reducer does the same
// through the same autograd hooks). Both give bit-identical gradients.
// Letters: R ranks, P parameters (floats).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "plexus/dist/group.h"

namespace plexus::dist {

/// Bucket size DDP uses by default (bucket_cap_mb = 25).
constexpr int64_t kGradBucketBytes = 25 * 1024 * 1024;

class GradBuckets {
 public:
  /// One bucket all-reduce started in the last overlapped step, in start order (what the tests check).
  struct Launch {
    size_t bucket = 0;           ///< bucket index (0 = the last parameters of the model)
    int64_t hooks_fired = 0;     ///< gradient-ready hooks fired when it started (of hooks_fired())
    bool during_backward = true; ///< started by begin_step or a hook (false: by finish_step)
  };

  /// Buckets over `params` (the optimizer's parameters, in model order): walked from the last to the first,
  /// a parameter joins the open bucket unless that would pass `bucket_bytes` (a parameter larger than that
  /// gets a bucket of its own), or its dtype or device differs from the bucket's.
  GradBuckets(std::vector<torch::Tensor> params, int64_t bucket_bytes = kGradBucketBytes);
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  /// grad ← (Σ over ranks of grad) / R for every parameter, bucket by bucket (flatten, all-reduce, divide,
  /// copy back), after backward. A parameter no rank gave a gradient keeps none (one presence flag per
  /// parameter rides in its bucket); a parameter only some ranks had contributes zeros from the others.
  /// Units: bytes_per_step() payload bytes per call.
  /// Throws: Error(Io) when a rank died or timed out (Group::allreduce_sum).
  void average(Group& group);

  /// Overlap mode: registers a post-hook on every parameter's gradient accumulator (autograd's AccumulateGrad
  /// node, which runs once per backward after summing every partial gradient of the parameter, so a parameter
  /// used twice, like an embedding tied to the output head, is ready once). The hooks stay until destruction;
  /// they act only between begin_step() and finish_step(). `group` must outlive this object.
  void attach(Group& group);

  /// Arms the hooks for the backward of `loss` (call after zero_grad and the forward, before backward):
  /// buckets cleared; parameters whose accumulator `loss`'s graph does not reach (an expert no token of this
  /// rank chose) count as ready without a gradient, and leading buckets made only of such start at once.
  /// Throws: Error(Io) if an all-reduce cannot be started.
  void begin_step(const torch::Tensor& loss);

  /// After backward: starts any bucket not yet started (in bucket order, as every rank does), waits for all,
  /// and writes the averaged gradients back, with the same result as average(). Throws: Error(Io) as
  /// average().
  void finish_step();

  /// The bucket all-reduces of the last overlapped step, in start order.
  const std::vector<Launch>& last_launches() const;

  /// Gradient-ready hooks fired in the last overlapped step.
  int64_t hooks_fired() const;

  /// Number of buckets.
  size_t size() const;

  /// Payload bytes of one step: 4·P for f32 parameters (a ring all-reduce then sends 2·(R−1)/R times this per
  /// rank).
  int64_t bytes_per_step() const;

  struct State;  // shared with the hooks (which hold it weakly)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace plexus::dist
