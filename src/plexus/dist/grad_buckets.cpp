// Bucketed gradient averaging over a Group. See grad_buckets.h.
#include "plexus/dist/grad_buckets.h"

#include <fmt/format.h>

#include "plexus/core/error.h"

namespace plexus::dist {

GradBuckets::GradBuckets(std::vector<torch::Tensor> params, int64_t bucket_bytes) : params_(std::move(params)) {
  Bucket open;
  int64_t open_bytes = 0;
  for (size_t j = params_.size(); j-- > 0;) {
    const auto& p = params_[j];
    if (!p.device().is_cpu())
      throw Error::config("data parallel runs over Gloo with CPU tensors only; run.device = \"cpu\" with ranks");
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const auto dtype = p.scalar_type();
    if (!open.members.empty() && (open_bytes + bytes > bucket_bytes || dtype != open.dtype)) {
      buckets_.push_back(std::move(open));
      open = Bucket{};
      open_bytes = 0;
    }
    open.members.push_back(j);
    open.numel += p.numel();
    open.dtype = dtype;
    open_bytes += bytes;
    bytes_ += bytes;
  }
  if (!open.members.empty()) buckets_.push_back(std::move(open));
}

void GradBuckets::average(Group& group) {
  torch::NoGradGuard ng;
  const double R = static_cast<double>(group.size());
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const auto& bucket = buckets_[b];
    // The gradients, then one presence flag per member: a parameter no rank gave a gradient (an expert no
    // token chose anywhere) keeps an undefined gradient, as in one process; counts ≤ R are exact in any dtype.
    const auto n = static_cast<int64_t>(bucket.members.size());
    auto flat = torch::zeros({bucket.numel + n}, torch::TensorOptions().dtype(bucket.dtype));
    int64_t off = 0;
    for (size_t i = 0; i < bucket.members.size(); ++i) {
      const auto& p = params_[bucket.members[i]];
      if (p.grad().defined()) {
        flat.narrow(0, off, p.numel()).copy_(p.grad().reshape({-1}));
        flat[bucket.numel + static_cast<int64_t>(i)] = 1;
      }
      off += p.numel();
    }
    group.allreduce_sum(flat, fmt::format("gradient bucket {} of {}", b + 1, buckets_.size()));
    auto present = flat.narrow(0, bucket.numel, n).to(torch::kCPU).to(torch::kFloat64);
    auto grads = flat.narrow(0, 0, bucket.numel).div_(R);
    off = 0;
    for (size_t i = 0; i < bucket.members.size(); ++i) {
      auto& p = params_[bucket.members[i]];
      auto g = grads.narrow(0, off, p.numel()).view(p.sizes());
      off += p.numel();
      if (present[static_cast<int64_t>(i)].item<double>() == 0) continue;  // no rank had one: stays undefined
      if (p.grad().defined()) p.mutable_grad().copy_(g);
      else p.mutable_grad() = g.clone();
    }
  }
}

}  // namespace plexus::dist
