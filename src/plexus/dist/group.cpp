// c10d declares its Gloo classes only with USE_C10D_GLOO. TorchConfig.cmake puts it in TORCH_CXX_FLAGS for
// LibTorch builds with Gloo (Debian's 1.13 and PyTorch's wheels); the guard covers a build without it.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
// PLEXUS_WITH_NCCL is set by CMake for this file only: 1 when the LibTorch found has CUDA and NCCL's nccl.h was
// found (PyTorch's wheels ship it in the nvidia-nccl package). ProcessGroupNCCL.hpp declares its class only
// under USE_C10D_NCCL, which TorchConfig.cmake does not export, so it is defined here.
#ifndef PLEXUS_WITH_NCCL
#define PLEXUS_WITH_NCCL 0
#endif
#if PLEXUS_WITH_NCCL && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL 1
#endif
#include "plexus/dist/group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if PLEXUS_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <thread>

#include "plexus/core/error.h"

namespace plexus::dist {

namespace {

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

// First line of an exception's message, without LibTorch's backtrace.
std::string first_line(const std::exception& e) {
  std::string m = describe_exception(e);
  if (m.rfind("internal: ", 0) == 0) m = m.substr(10);
  return m;
}

}  // namespace

bool nccl_available() { return PLEXUS_WITH_NCCL != 0; }

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;  // Gloo groups
#if PLEXUS_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // NCCL groups
#endif
  double timeout_s = 300;

  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& list) {
#if PLEXUS_WITH_NCCL
    if (nccl) return nccl->allreduce(list);
#endif
    return pg->allreduce(list);
  }
};

struct Group::Pending::Impl {
  c10::intrusive_ptr<c10d::Work> work;
  std::vector<at::Tensor> list;  // c10d keeps a reference to the list until the work is done
  std::string what;
  int rank = 0, size = 1;
  double timeout_s = 300;
};

Group::Pending::Pending() = default;
Group::Pending::Pending(Pending&&) noexcept = default;
Group::Pending& Group::Pending::operator=(Pending&& o) noexcept {
  if (this != &o) {
    if (impl_) {
      try {
        wait();
      } catch (...) {  // the error reaches whoever waits next on this group
      }
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}
Group::Pending::~Pending() {
  if (!impl_) return;
  try {
    wait();
  } catch (...) {  // a destructor must not throw; a failed rank fails the next transfer
  }
}

void Group::Pending::wait() {
  if (!impl_) return;
  auto impl = std::move(impl_);
  try {
    impl->work->wait(to_ms(impl->timeout_s));
  } catch (const std::exception& e) {
    throw Error::io("dist: rank {}: {} across {} ranks failed (a rank died or timed out after {}s): {}", impl->rank,
                    impl->what, impl->size, impl->timeout_s, first_line(e));
  }
}

Group::Group(std::unique_ptr<Impl> impl, int rank, int size) : impl_(std::move(impl)), rank_(rank), size_(size) {}
Group::~Group() = default;

std::unique_ptr<Group> Group::connect(const RankEnv& env, double timeout_s, Backend backend) {
  auto impl = std::make_unique<Impl>();
  impl->timeout_s = timeout_s;
  torch::Device device = torch::kCPU;
  if (backend == Backend::Nccl) {
#if PLEXUS_WITH_NCCL
    const int gpus = static_cast<int>(c10::cuda::device_count());
    if (env.local_rank >= gpus)
      throw Error::config("dist: rank {} has LOCAL_RANK {} but this host has {} GPU(s); start at most {} ranks "
                          "per host", env.rank, env.local_rank, gpus, gpus);
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
#else
    throw Error::config("dist: NCCL needs a build against a CUDA LibTorch with nccl.h (see docs/distributed.md); "
                        "this build has Gloo only: run.device = \"cpu\"");
#endif
  }
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env.master_port);
    // Rank 0 hosts the store unless the launcher does (torchrun's agent store, plexus --ranks); a group of one
    // without an address hosts its own on a free loopback port.
    o.isServer = env.rank == 0 && !env.agent_store;
    const std::string addr = env.master_addr.empty() && env.world == 1 ? "127.0.0.1" : env.master_addr;
    if (env.master_addr.empty() && env.world == 1) o.port = 0, o.isServer = true;
    o.numWorkers = static_cast<std::size_t>(env.world);
    o.waitWorkers = false;
    o.timeout = to_ms(timeout_s);
    impl->store = c10::make_intrusive<c10d::TCPStore>(addr, o);
#if PLEXUS_WITH_NCCL
    if (backend == Backend::Nccl) {
      auto nopts = c10d::ProcessGroupNCCL::Options::create();
      nopts->timeout = to_ms(timeout_s);
      impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("plexus/nccl", impl->store), env.rank, env.world, nopts);
    }
#endif
    // Gloo also carries an NCCL group's point-to-point transfers of CPU tensors (exchange).
    auto opts = c10d::ProcessGroupGloo::Options::create(to_ms(timeout_s));
    // Gloo binds to the address that reaches the store: loopback for local ranks, the host otherwise.
    const bool local = addr == "127.0.0.1" || addr == "localhost";
    opts->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                  : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("plexus", impl->store), env.rank, env.world, opts);
  } catch (const std::exception& e) {
    throw Error::io("dist: rank {}: cannot join the {} ranks at {}:{} within {}s: {}", env.rank, env.world,
                    env.master_addr, env.master_port, timeout_s, first_line(e));
  }
  auto g = std::unique_ptr<Group>(new Group(std::move(impl), env.rank, env.world));
  g->backend_ = backend;
  g->device_ = device;
  return g;
}

void Group::exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& recvs, const std::string& what) {
  const int tag = static_cast<int>(sequence_++ % (1u << 24));
  std::vector<std::pair<int, c10::intrusive_ptr<c10d::Work>>> works;  // (peer, work)
  // c10d takes the tensor lists by reference and keeps them until the work is done.
  std::vector<std::vector<at::Tensor>> lists;
  lists.reserve(sends.size() + recvs.size());
  int peer = -1;
  try {
    for (const auto& t : recvs) {
      // Gloo's send/recv read and write host memory (its CUDA variants are collectives only): callers stage
      // device rows through the CPU (fl::exchange_rows).
      PLEXUS_CHECK(t.tensor.is_contiguous() && t.tensor.device().is_cpu() && t.peer != rank_,
                   "recv buffer from rank {} must be a contiguous CPU tensor (is on {})", t.peer,
                   t.tensor.device().str());
      lists.push_back({t.tensor});
      peer = t.peer;
      works.emplace_back(t.peer, impl_->pg->recv(lists.back(), t.peer, tag));
    }
    for (const auto& t : sends) {
      PLEXUS_CHECK(t.tensor.is_contiguous() && t.tensor.device().is_cpu() && t.peer != rank_,
                   "send buffer to rank {} must be a contiguous CPU tensor (is on {})", t.peer,
                   t.tensor.device().str());
      lists.push_back({t.tensor});
      peer = t.peer;
      works.emplace_back(t.peer, impl_->pg->send(lists.back(), t.peer, tag));
      bytes_sent_ += t.tensor.numel() * static_cast<int64_t>(t.tensor.element_size());
    }
    for (auto& [p, w] : works) {
      peer = p;
      w->wait(to_ms(impl_->timeout_s));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error::io("dist: rank {}: {} with rank {} failed (a rank died or timed out after {}s): {}", rank_, what,
                    peer, impl_->timeout_s, first_line(e));
  }
}

void Group::allreduce_sum(torch::Tensor& t, const std::string& what) {
  PLEXUS_CHECK(t.is_contiguous(), "allreduce of a non-contiguous tensor");
  // The backend's device: CPU for Gloo, this rank's GPU for NCCL (a loss on the CPU goes there and back).
  const bool staged = t.device() != device_;
  auto on = staged ? t.to(device_) : t;
  allreduce_sum_async(on, what).wait();
  if (staged) t.copy_(on);
}

Group::Pending Group::allreduce_sum_async(torch::Tensor t, const std::string& what) {
  PLEXUS_CHECK(t.is_contiguous() && t.device() == device_, "allreduce of a non-contiguous tensor or one on {} "
               "(the group's tensors are on {})", t.device().str(), device_.str());
  Pending p;
  p.impl_ = std::make_unique<Pending::Impl>();
  auto& pi = *p.impl_;
  pi.list = {t};
  pi.what = what;
  pi.rank = rank_;
  pi.size = size_;
  pi.timeout_s = impl_->timeout_s;
  try {
    pi.work = impl_->allreduce(pi.list);
  } catch (const std::exception& e) {
    throw Error::io("dist: rank {}: {} across {} ranks failed (a rank died or timed out after {}s): {}", rank_,
                    what, size_, impl_->timeout_s, first_line(e));
  }
  return p;
}

std::string Group::share_from_rank0(const std::string& key, const std::string& value) {
  const std::string k = "plexus/share/" + key;
  try {
    if (rank_ == 0) {
      impl_->store->set(k, std::vector<uint8_t>(value.begin(), value.end()));
      return value;
    }
    // Poll rather than wait: a failure claimed meanwhile (rank 0 refused the run before publishing) ends the
    // wait at once instead of after the timeout.
    const auto start = std::chrono::steady_clock::now();
    while (!impl_->store->check({k})) {
      if (impl_->store->check({kFailureKey}))
        throw Error::io("dist: rank {}: another rank failed before sharing '{}'", rank_, key);
      if (std::chrono::steady_clock::now() - start > to_ms(impl_->timeout_s))
        throw Error::io("dist: rank {}: waiting for rank 0's '{}' timed out after {}s", rank_, key, impl_->timeout_s);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto v = impl_->store->get(k);
    return {v.begin(), v.end()};
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    store_lost_ = true;
    throw Error::io("dist: rank {}: waiting for rank 0's '{}' failed (rank 0 died or timed out after {}s): {}",
                    rank_, key, impl_->timeout_s, first_line(e));
  }
}

bool Group::claim_failure() {
  if (store_lost_) return false;
  try {
    return impl_->store->add(kFailureKey, 1) == 1;
  } catch (const std::exception&) {
    return false;  // the store's host (rank 0) is gone: it failed first and said so, or was killed
  }
}

}  // namespace plexus::dist
