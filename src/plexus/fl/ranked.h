// FL across R processes (docs/distributed.md): what the round loop (runner.cpp) does differently when the run
// has a process group. Rank k trains only the participants of its block (rank_blocks.h); the algorithm's
// communicator is wrapped by RankedCommunicator, which moves the rows it needs before the unchanged
// communicator runs on the full-size X, so every row a rank owns comes out bit-identical to the
// single-process run:
//   server FL (ServerAverage and its subclasses:   all-gather of the trained participants' rows, then every
//   FedProx, SCAFFOLD; DP-wrapped or not)          rank averages exactly as one process does
//   gossip X ← W_t^Q X (DFedAvg(M), DFedSAM(-MGS))  after training, each rank receives the rows of W_t^Q's
//                                                  non-zero columns of its block from their owners; the dense
//                                                  product then gives its own rows exactly (the rows it lacks
//                                                  have weight 0)
//   combine-first gossip (D-PSGD)                  the same rows, of the pre-training X, before training
//   personalized FL (pfl_comm.h), on the communicated columns C only (the shared body; heads never travel
//   for the algorithm, only to rank 0 for evaluation):
//     ServerColumns (FedPer, FedRep, FedBABU,      all-gather of the participants' C columns
//       FedAvg-FT, Ditto)
//     GossipColumns (DFedAlt, DFedSalt, DFedPGP    rows j of W_t's (or the pull matrix's) non-zero columns
//       uniform_pull, pfl DFedAvgM)                 of the block, C columns
//     PushSum (DFedPGP)                             after u_i += z_i' − z_i: the (u_j, μ_j) with p_ij ≠ 0 for i
//                                                  in the block, i.e. along P_t's directed edges j → i only
//     NoCommunication (Local)                       nothing
//   rule state (LocalRule::client_state)           participants' rows to every rank (SCAFFOLD's Δc_i) or to
//                                                  rank 0 (SCAFFOLD's c_i, Ditto's personal models)
// Every rank evaluates its own clients and sends only the results to rank 0 (eval_ranks.h). Rank 0 alone
// writes metrics and checkpoints and computes the consensus distance and x̄: gossip gathers every block there
// after communication; personalized FL also sends it the participants' trained heads. Client sampling and DP noise come from streams addressed by (seed, purpose,
// client, round): the same on every rank. With no process group (one process) none of this runs: RankedRun
// answers as the plain loop. A checkpoint holds every row (it equals the single-process one), so a run may
// resume on any rank count (1 included).
// Columns (ranks > 1): comm_bytes_rank<k> (model bytes rank k sent for the algorithm in the round) and
// gather_bytes (bytes sent to rank 0 for evaluation, metrics and checkpoints, all ranks).
// Letters: N clients, P parameters, R ranks, k a rank, C the communicated columns.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plexus/fl/parts.h"
#include "plexus/fl/rank_blocks.h"

namespace plexus::dist {
class Group;
}

namespace plexus::fl {

class Gossip;
class GossipColumns;
class PushSum;

/// The algorithms that run across ranks (fl.algorithm values), for messages and checks.
const std::vector<std::string>& ranked_algorithms();

/// Refuse what this slice cannot run across `ranks` ranks, before any data is loaded.
/// Throws: Error(Config) with one line naming the algorithms that work (an algorithm outside
/// ranked_algorithms()) or when fl.clients < ranks.
void check_ranked(const FlConfig& cfg, int ranks);

class RankedCommunicator;

/// The rank side of a run; with `group` null (one process) every method is the single-process answer.
class RankedRun {
 public:
  /// Also sets s.eval_ranks, so the evaluators split their work over the ranks (eval_ranks.h).
  RankedRun(Session& s, dist::Group* group);

  bool distributed() const { return group_ != nullptr; }
  /// Rank 0 (or the only process): combines the evaluation, writes the run directory, logs progress.
  bool lead() const;
  int rank() const;
  const RankBlocks& blocks() const { return blocks_; }

  /// The participants of `who` this rank trains (all of them in one process).
  std::vector<int64_t> own(const std::vector<int64_t>& who) const;
  /// Mean training loss over `who` from the losses of `mine` (own(who), in order): the losses of the other
  /// ranks are gathered first (a sum all-reduce of disjoint entries, exact), then summed in `who`'s order
  /// as one process sums them. Units: nats.
  double mean_loss(const std::vector<int64_t>& who, const std::vector<int64_t>& mine,
                   const std::vector<double>& losses);
  /// Before a checkpoint: rank 0 receives every block of the momentum rows M, so the file equals the
  /// single-process one (X is already whole on rank 0).
  void before_checkpoint(Federation& fed);
  /// Rank 0 publishes `value` (e.g. the checkpoint path to resume from); the others receive it.
  std::string share(const std::string& key, const std::string& value);

  /// Wrap the algorithm's communicator (identity in one process) in the multi-rank form it names
  /// (Communicator::rank_exchange); `rule` is the algorithm's local rule (its client_state() rows move too).
  /// Throws: Error(Internal) for a communicator with no multi-rank form (RankExchange::None).
  std::unique_ptr<Communicator> wrap(Session& s, std::unique_ptr<Communicator> comm, const LocalRule& rule);
  /// After local training of `who` in `round`: move the rule's per-client state, and the trained rows (or
  /// heads) rank 0 needs for the consensus distance and checkpoints that communication will not bring it.
  void after_training(const std::vector<int64_t>& who, int64_t round);

 private:
  dist::Group* group_;
  RankBlocks blocks_;
  RankedCommunicator* comm_ = nullptr;  // owned by the Parts; set by wrap()
};

/// The communicator of one rank: moves the rows `inner` needs (see the file comment), then runs it.
class RankedCommunicator : public Communicator {
 public:
  using Kind = RankExchange;  // named by the inner communicator (Communicator::rank_exchange)
  RankedCommunicator(Session& s, std::unique_ptr<Communicator> inner, Kind kind, const LocalRule& rule,
                     dist::Group& group, const RankBlocks& blocks);

  std::vector<int64_t> participants(int64_t round) const override { return inner_->participants(round); }
  torch::Tensor models() const override { return inner_->models(); }
  void before_training(const std::vector<int64_t>& who, int64_t round) override;
  /// See RankedRun::after_training.
  void after_training(const std::vector<int64_t>& who, int64_t round);
  void communicate(const std::vector<int64_t>& who, int64_t round) override;
  std::string describe() const override;

  void save(Checkpoint& ck) const override { inner_->save(ck); }
  void load(const Checkpoint& ck, const std::string& path) override { inner_->load(ck, path); }
  void columns(Row& row) const override;
  void summary(Row& sum, const Rows& rows) const override { inner_->summary(sum, rows); }
  std::string progress(bool evaluated) const override { return inner_->progress(evaluated); }

 private:
  RowPlan gossip_rows(int64_t round) const;
  /// exchange_rows, with the bytes this rank sent counted as algorithm (`algorithm`) or gather bytes.
  void transfer(torch::Tensor T, const RowPlan& plan, const std::string& what, bool algorithm,
            const RowColumns& columns = {});

  Session& s_;
  std::unique_ptr<Communicator> inner_;
  Kind kind_;
  const Gossip* gossip_ = nullptr;                // inner_ as the class its kind names (null for other kinds)
  const GossipColumns* gossip_columns_ = nullptr;
  PushSum* push_sum_ = nullptr;
  const LocalRule& rule_;
  dist::Group& group_;
  RankBlocks blocks_;
  RowColumns communicated_, personal_;  // personalized FL: C and its complement (empty: every column / none)
  int64_t algorithm_sent_ = 0;          // this round's bytes of this rank, algorithm / to rank 0
  int64_t gather_sent_ = 0;
  std::vector<int64_t> comm_bytes_;     // [R] this round's algorithm bytes per rank
  int64_t gather_bytes_ = 0;            // this round's bytes to rank 0, all ranks
  mutable RowPlan static_plan_;         // gossip plan of a static topology, built once
};

}  // namespace plexus::fl
