// A process group of R ranks over PyTorch's c10d: TCPStore rendezvous and Gloo over TCP (CPU tensors), the
// engine DDP uses (docs/distributed.md). plexus needs three things from it: batches of point-to-point row
// transfers (gossip neighbours, server gathers), a sum all-reduce of small tensors (losses, byte counters)
// and small strings from rank 0 (the store). c10d's headers stay inside group.cpp.
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

class Group {
 public:
  /// One transfer of a batch: a contiguous CPU tensor sent to or received from rank `peer`.
  struct Transfer {
    int peer = 0;
    torch::Tensor tensor;
  };

  /// Rendezvous with the other ranks of `env` (env.distributed() must hold) and build the Gloo group on
  /// env.master_addr:env.master_port; every wait is bounded by `timeout_s` seconds.
  /// Throws: Error(Io) with one line if the store cannot be reached or the ranks do not all arrive in time.
  static std::unique_ptr<Group> connect(const RankEnv& env, double timeout_s);
  ~Group();

  int rank() const { return rank_; }
  int size() const { return size_; }

  /// Post every send and receive of one batch, then wait for all of them (no order between peers can
  /// deadlock). Every rank must call exchange() the same number of times (the calls are numbered to match
  /// them up); at most one send and one receive per peer in a batch. Received data land in the tensors.
  /// Bytes of the sends are added to bytes_sent(). `what` names the batch in errors.
  /// Throws: Error(Io) "dist: rank k: <what> with rank j failed: <cause>" when a peer died or timed out.
  void exchange(const std::vector<Transfer>& sends, const std::vector<Transfer>& recvs, const std::string& what);

  /// t ← Σ over ranks of t, in place (CPU, contiguous). Throws: Error(Io) as exchange.
  void allreduce_sum(torch::Tensor& t, const std::string& what);

  /// Rank 0 publishes `value` under `key`; every other rank waits for it (up to the timeout) and returns it.
  /// Throws: Error(Io) on timeout.
  std::string share_from_rank0(const std::string& key, const std::string& value);

  /// Payload bytes this rank has sent through exchange() so far.
  int64_t bytes_sent() const { return bytes_sent_; }

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl, int rank, int size);
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1;
  int64_t bytes_sent_ = 0;
  uint32_t sequence_ = 0;  // numbers exchange() calls: the Gloo tag of a batch
};

}  // namespace plexus::dist
