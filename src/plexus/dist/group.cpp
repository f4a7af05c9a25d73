// c10d declares its Gloo classes only with USE_C10D_GLOO. TorchConfig.cmake puts it in TORCH_CXX_FLAGS for
// LibTorch builds with Gloo (Debian's 1.13 and PyTorch's wheels); the guard covers a build without it.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include "plexus/dist/group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>

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

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  double timeout_s = 300;
};

Group::Group(std::unique_ptr<Impl> impl, int rank, int size) : impl_(std::move(impl)), rank_(rank), size_(size) {}
Group::~Group() = default;

std::unique_ptr<Group> Group::connect(const RankEnv& env, double timeout_s) {
  auto impl = std::make_unique<Impl>();
  impl->timeout_s = timeout_s;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env.master_port);
    // Rank 0 hosts the store unless the launcher does (torchrun's agent store, plexus --ranks).
    o.isServer = env.rank == 0 && !env.agent_store;
    o.numWorkers = static_cast<std::size_t>(env.world);
    o.waitWorkers = false;
    o.timeout = to_ms(timeout_s);
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    auto opts = c10d::ProcessGroupGloo::Options::create(to_ms(timeout_s));
    // Gloo binds to the address that reaches the store: loopback for local ranks, the host otherwise.
    const bool local = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    opts->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                  : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("plexus", impl->store), env.rank, env.world, opts);
  } catch (const std::exception& e) {
    throw Error::io("dist: rank {}: cannot join the {} ranks at {}:{} within {}s: {}", env.rank, env.world,
                    env.master_addr, env.master_port, timeout_s, first_line(e));
  }
  return std::unique_ptr<Group>(new Group(std::move(impl), env.rank, env.world));
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
      PLEXUS_CHECK(t.tensor.is_contiguous() && t.peer != rank_, "recv buffer from rank {}", t.peer);
      lists.push_back({t.tensor});
      peer = t.peer;
      works.emplace_back(t.peer, impl_->pg->recv(lists.back(), t.peer, tag));
    }
    for (const auto& t : sends) {
      PLEXUS_CHECK(t.tensor.is_contiguous() && t.peer != rank_, "send buffer to rank {}", t.peer);
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
  PLEXUS_CHECK(t.is_contiguous() && t.device().is_cpu(), "allreduce of a non-contiguous or non-CPU tensor");
  std::vector<at::Tensor> list{t};
  try {
    impl_->pg->allreduce(list)->wait(to_ms(impl_->timeout_s));
  } catch (const std::exception& e) {
    throw Error::io("dist: rank {}: {} across {} ranks failed (a rank died or timed out after {}s): {}", rank_,
                    what, size_, impl_->timeout_s, first_line(e));
  }
}

std::string Group::share_from_rank0(const std::string& key, const std::string& value) {
  const std::string k = "plexus/share/" + key;
  try {
    if (rank_ == 0) {
      impl_->store->set(k, std::vector<uint8_t>(value.begin(), value.end()));
      return value;
    }
    impl_->store->wait({k}, to_ms(impl_->timeout_s));
    auto v = impl_->store->get(k);
    return {v.begin(), v.end()};
  } catch (const std::exception& e) {
    throw Error::io("dist: rank {}: waiting for rank 0's '{}' failed (rank 0 died or timed out after {}s): {}",
                    rank_, key, impl_->timeout_s, first_line(e));
  }
}

}  // namespace plexus::dist
