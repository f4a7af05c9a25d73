// Bucketed gradient averaging over a Group, after or overlapped with backward. See grad_buckets.h.
//
// Overlap. A post-hook on each parameter's gradient accumulator signals "gradient ready" once per backward
// (grad_ready.h, the autograd side), even for the embedding shared by the main model and the MTP block.
//
// Order. Collectives must be started in the same order on every rank, but which parameters get gradients can
// differ between ranks (an expert chosen by a token of one rank only), so buckets are started strictly in
// index order: a ready bucket waits for the buckets before it (as in DDP). A parameter whose accumulator is not
// reachable from this step's loss (an expert no token of this rank chose) can never fire its hook; begin_step
// finds those by walking the graph from the loss and counts them as ready with no gradient (zeros and a zero
// presence flag), so they hold back no bucket.
#include "plexus/dist/grad_buckets.h"

#include <fmt/format.h>

#include <exception>
#include <mutex>

#include "plexus/core/error.h"
#include "plexus/dist/grad_ready.h"

namespace plexus::dist {

struct GradBuckets::State {
  struct Bucket {
    std::vector<size_t> members;  // indices into params, reverse model order
    int64_t numel = 0;
    torch::Dtype dtype = torch::kFloat32;
    torch::Device device = torch::kCPU;
  };
  struct Slot {
    size_t bucket = 0, index = 0;  // member `index` of `bucket`
    int64_t offset = 0;            // first float of the parameter in the bucket's flat buffer
  };
  std::vector<torch::Tensor> params;
  std::vector<Bucket> buckets;
  std::vector<Slot> slots;  // per parameter
  int64_t bytes = 0;

  // Overlap (attach): hooks, and the state of the step in flight, guarded by mu (hooks may run on autograd's
  // device threads).
  Group* group = nullptr;
  std::vector<std::unique_ptr<GradReadyHook>> hooks;  // per parameter; null: needs no grad
  std::mutex mu;
  bool armed = false;
  std::vector<torch::Tensor> flats;        // per bucket: numel gradients, then one presence flag per member
  std::vector<int64_t> missing;            // per bucket: hooked members not ready yet
  std::vector<Group::Pending> pending;     // per bucket
  size_t next = 0;                         // first bucket not started
  std::vector<Launch> launches;
  int64_t fired = 0;
  std::exception_ptr error;                // from a hook; rethrown by finish_step

  // Parameter j's gradient (if it has one) and its presence flag into its bucket's `flat`.
  void fill(size_t j, torch::Tensor& flat) {
    const auto& p = params[j];
    const auto& s = slots[j];
    if (!p.grad().defined()) return;
    flat.narrow(0, s.offset, p.numel()).copy_(p.grad().reshape({-1}));
    flat[buckets[s.bucket].numel + static_cast<int64_t>(s.index)] = 1;
  }

  // The summed bucket back into the gradients: divided by R; a parameter no rank had keeps none.
  void unpack(size_t b, torch::Tensor& flat, double R) {
    const auto& bucket = buckets[b];
    const auto n = static_cast<int64_t>(bucket.members.size());
    auto present = flat.narrow(0, bucket.numel, n).to(torch::kCPU, torch::kFloat64);
    auto grads = flat.narrow(0, 0, bucket.numel).div_(R);
    for (size_t i = 0; i < bucket.members.size(); ++i) {
      auto& p = params[bucket.members[i]];
      if (present[static_cast<int64_t>(i)].item<double>() == 0) continue;  // no rank had one: stays undefined
      auto g = grads.narrow(0, slots[bucket.members[i]].offset, p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(g);
      else p.mutable_grad() = g.clone();
    }
  }

  // Start every bucket from `next` on whose members are all ready (in index order). Caller holds mu.
  void start_ready(bool during_backward) {
    while (next < buckets.size() && missing[next] == 0) {
      pending[next] = group->allreduce_sum_async(flats[next],
                                                 fmt::format("gradient bucket {} of {}", next + 1, buckets.size()));
      launches.push_back({next, fired, during_backward});
      ++next;
    }
  }

  // Post-hook of parameter j's accumulator: its gradient for this backward is complete.
  void ready(size_t j) {
    std::lock_guard<std::mutex> lock(mu);
    if (!armed || error) return;
    ++fired;
    try {
      torch::NoGradGuard ng;
      const auto b = slots[j].bucket;
      fill(j, flats[b]);
      if (--missing[b] == 0) start_ready(true);
    } catch (...) {
      error = std::current_exception();  // backward goes on; finish_step reports it
    }
  }
};

GradBuckets::GradBuckets(std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : state_(std::make_shared<State>()) {
  auto& st = *state_;
  st.params = std::move(params);
  st.slots.resize(st.params.size());
  State::Bucket open;
  int64_t open_bytes = 0;
  for (size_t j = st.params.size(); j-- > 0;) {
    const auto& p = st.params[j];
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    if (!open.members.empty() &&
        (open_bytes + bytes > bucket_bytes || p.scalar_type() != open.dtype || p.device() != open.device)) {
      st.buckets.push_back(std::move(open));
      open = State::Bucket{};
      open_bytes = 0;
    }
    st.slots[j] = {st.buckets.size(), open.members.size(), open.numel};
    open.members.push_back(j);
    open.numel += p.numel();
    open.dtype = p.scalar_type();
    open.device = p.device();
    open_bytes += bytes;
    st.bytes += bytes;
  }
  if (!open.members.empty()) st.buckets.push_back(std::move(open));
}

GradBuckets::~GradBuckets() = default;  // the hooks go with the state (they hold it weakly)

void GradBuckets::average(Group& group) {
  torch::NoGradGuard ng;
  auto& st = *state_;
  const double R = static_cast<double>(group.size());
  for (size_t b = 0; b < st.buckets.size(); ++b) {
    const auto& bucket = st.buckets[b];
    const auto n = static_cast<int64_t>(bucket.members.size());
    auto flat = torch::zeros({bucket.numel + n}, torch::TensorOptions().dtype(bucket.dtype).device(bucket.device));
    for (auto j : bucket.members) st.fill(j, flat);
    group.allreduce_sum(flat, fmt::format("gradient bucket {} of {}", b + 1, st.buckets.size()));
    st.unpack(b, flat, R);
  }
}

void GradBuckets::attach(Group& group) {
  auto& st = *state_;
  PLEXUS_CHECK(st.group == nullptr, "GradBuckets::attach called twice");
  st.group = &group;
  for (const auto& bucket : st.buckets) {
    st.flats.push_back(torch::zeros({bucket.numel + static_cast<int64_t>(bucket.members.size())},
                                    torch::TensorOptions().dtype(bucket.dtype).device(bucket.device)));
    // Each bucket's flat buffer is all-reduced as it is, so it must live where the backend's tensors do.
    if (bucket.device != group.device())
      throw Error::config("data parallel over {}: the parameters are on {} but the group's tensors on {}; "
                          "run.device must match the backend (cpu: Gloo, cuda: NCCL)",
                          group.backend() == Backend::Nccl ? "NCCL" : "Gloo", bucket.device.str(),
                          group.device().str());
  }
  st.missing.assign(st.buckets.size(), 0);
  st.pending.resize(st.buckets.size());
  st.hooks.resize(st.params.size());
  for (size_t j = 0; j < st.params.size(); ++j) {
    if (!st.params[j].requires_grad()) continue;  // never gets a gradient: absent every step
    // The hook holds the state weakly: a hook outliving its GradBuckets does nothing.
    std::weak_ptr<State> weak = state_;
    st.hooks[j] = std::make_unique<GradReadyHook>(st.params[j], [weak, j] {
      if (auto s = weak.lock()) s->ready(j);
    });
  }
}

void GradBuckets::begin_step(const torch::Tensor& loss) {
  torch::NoGradGuard ng;
  auto& st = *state_;
  PLEXUS_CHECK(st.group != nullptr, "GradBuckets::begin_step before attach");
  // The accumulators backward from `loss` will run; the others' parameters get no gradient this step, so they
  // count as ready (absent) now and their buckets need not wait for the end of backward.
  const auto seen = backward_nodes(loss);
  std::lock_guard<std::mutex> lock(st.mu);
  for (size_t b = 0; b < st.buckets.size(); ++b) {
    st.flats[b].zero_();
    st.missing[b] = 0;
    for (auto j : st.buckets[b].members)
      st.missing[b] += st.hooks[j] && seen.count(st.hooks[j]->accumulator()) ? 1 : 0;
  }
  st.next = 0;
  st.launches.clear();
  st.fired = 0;
  st.error = nullptr;
  st.armed = true;
  st.start_ready(true);  // leading buckets whose parameters all stay without a gradient
}

void GradBuckets::finish_step() {
  torch::NoGradGuard ng;
  auto& st = *state_;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    PLEXUS_CHECK(st.armed, "GradBuckets::finish_step without begin_step");
    st.armed = false;
    if (!st.error) {
      try {
        // Buckets still waiting (a reachable accumulator whose hook did not fire: not expected, but the
        // collectives must still be matched on every rank) start now, in order; absent members are zeros.
        for (size_t b = st.next; b < st.buckets.size(); ++b) st.missing[b] = 0;
        st.start_ready(false);
      } catch (...) {
        st.error = std::current_exception();
      }
    }
  }
  const double R = static_cast<double>(st.group->size());
  for (size_t b = 0; b < st.buckets.size(); ++b) {
    if (st.error) {  // still wait for what started, so no buffer is freed under a running all-reduce
      try {
        st.pending[b].wait();
      } catch (...) {
      }
      continue;
    }
    st.pending[b].wait();
    st.unpack(b, st.flats[b], R);
  }
  if (st.error) std::rethrow_exception(st.error);
}

const std::vector<GradBuckets::Launch>& GradBuckets::last_launches() const { return state_->launches; }
int64_t GradBuckets::hooks_fired() const { return state_->fired; }
size_t GradBuckets::size() const { return state_->buckets.size(); }
int64_t GradBuckets::bytes_per_step() const { return state_->bytes; }

}  // namespace plexus::dist
