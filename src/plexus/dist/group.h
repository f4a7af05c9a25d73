// A process group of R ranks over PyTorch's c10d: TCPStore rendezvous and Gloo over TCP (CPU tensors) or NCCL
// (CUDA tensors, one GPU per rank: LOCAL_RANK), the engines DDP uses (docs/distributed.md). plexus needs from it:
// batches of point-to-point row transfers (gossip neighbours, server gathers), sum all-reduces (losses, byte
// counters; gradient buckets, started asynchronously during backward) and small strings from rank 0 (the
// store). c10d's headers stay inside group.cpp.
//
// Failure: every operation waits at most the timeout (dist_timeout_seconds()); a rank that dies closes its
// sockets, so the others fail at their next transfer with Error(Io) naming the peer, not a hang.
// Letters: R ranks, k this rank.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plexus/dist/rank_env.h"

namespace plexus::dist {

/// c10d backend of a Group: Gloo (CPU tensors, TCP) or NCCL (CUDA tensors; only in a build against a CUDA
/// LibTorch whose nccl.h was found, see nccl_available()).
enum class Backend { Gloo, Nccl };

/// The rendezvous-store key counting the failures of a run (ranks, and the --ranks launcher for a rank killed
/// by a signal): the first to add to it reports the error (rank_failure.h).
inline constexpr const char* kFailureKey = "plexus/failed";

/// Whether this build can make an NCCL group (CUDA LibTorch and nccl.h at build time).
bool nccl_available();

class Group {
 public:
  /// An all-reduce in flight (allreduce_sum_async). wait() blocks until its result is in the tensor (for
  /// NCCL: until the caller's CUDA stream is ordered after it). Destroying an unwaited Pending waits first.
  class Pending {
   public:
    Pending();
    Pending(Pending&&) noexcept;
    Pending& operator=(Pending&&) noexcept;
    ~Pending();
    /// Throws: Error(Io) "dist: rank k: <what> across R ranks failed ..." when a rank died or timed out.
    void wait();

   private:
    friend class Group;
    struct Impl;
    std::unique_ptr<Impl> impl_;
  };

  /// One transfer of a batch: a contiguous CPU tensor sent to or received from rank `peer` (Gloo groups only).
  struct Transfer {
    int peer = 0;
    torch::Tensor tensor;
  };

  /// Rendezvous with the other ranks of `env` and build the `backend` group on env.master_addr:env.master_port;
  /// every wait is bounded by `timeout_s` seconds. A world of 1 is allowed (a group of one rank). NCCL: this
  /// rank's device is cuda:env.local_rank (made the current CUDA device).
  /// Throws: Error(Io) with one line if the store cannot be reached or the ranks do not all arrive in time;
  /// Error(Config) for NCCL in a build without it or with fewer GPUs than LOCAL_RANK + 1.
  static std::unique_ptr<Group> connect(const RankEnv& env, double timeout_s, Backend backend = Backend::Gloo);
  ~Group();

  int rank() const { return rank_; }
  int size() const { return size_; }
  Backend backend() const { return backend_; }
  /// Where the backend's tensors live: the CPU (Gloo) or cuda:LOCAL_RANK (NCCL).
  torch::Device device() const { return device_; }

  /// Post every send and receive of one batch, then wait for all of them (no order between peers can
  /// deadlock). Every rank must call exchange() the same number of times (the calls are numbered to match
  /// them up); at most one send and one receive per peer in a batch. Received data land in the tensors.
  /// Bytes of the sends are added to bytes_sent(). `what` names the batch in errors.
  /// Throws: Error(Io) "dist: rank k: <what> with rank j failed: <cause>" when a peer died or timed out.
  void exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& recvs, const std::string& what);

  /// t ← Σ over ranks of t, in place (contiguous; a tensor not on device() goes through a copy there and back).
  /// Throws: Error(Io) as exchange.
  void allreduce_sum(torch::Tensor& t, const std::string& what);

  /// Start t ← Σ over ranks of t without waiting (t contiguous and on device(); it must not be read or written
  /// until the Pending is waited). Every rank must start its all-reduces in the same order.
  /// Throws: Error(Io) if it cannot be started.
  Pending allreduce_sum_async(torch::Tensor t, const std::string& what);

  /// Rank 0 publishes `value` under `key`; every other rank waits for it (up to the timeout) and returns it.
  /// Throws: Error(Io) on timeout, or as soon as another rank has claimed a failure (claim_failure: rank 0
  /// failed before publishing).
  std::string share_from_rank0(const std::string& key, const std::string& value);

  /// Record in the store that this rank failed; true if it is the run's first failure (it reports the error;
  /// later ones are its consequences: rank_failure.h). False when the store cannot be reached, or could not be
  /// earlier (share_from_rank0 lost it): its host, rank 0 (mpirun, srun, hand-set variables), is gone, having
  /// failed first (and said so) or been killed (which its launcher reports). Without the second condition a
  /// store that still answered one last add while rank 0 was closing it could make this rank print too.
  bool claim_failure();

  /// Payload bytes this rank has sent through exchange() so far.
  int64_t bytes_sent() const { return bytes_sent_; }

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl, int rank, int size);
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1;
  Backend backend_ = Backend::Gloo;
  torch::Device device_ = torch::kCPU;
  int64_t bytes_sent_ = 0;
  bool store_lost_ = false;  ///< a store operation failed: rank 0 (its host) is gone
  uint32_t sequence_ = 0;  // numbers exchange() calls: the Gloo tag of a batch
};

}  // namespace plexus::dist
