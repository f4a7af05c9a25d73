// The clients of a multi-process FL run split over R ranks (docs/distributed.md): rank k owns the contiguous
// block [begin(k), begin(k+1)) with begin(k) = ⌊k·N/R⌋, trains only those rows and is the authority on them.
// Every rank keeps the whole stacked state X [N,P]; rows it does not own may be stale and are refreshed from
// their owners only where a computation needs them. A RowPlan says which rows each rank sends to each other
// rank; every rank derives the same plan from data all ranks share (participants, W_t), so no negotiation
// is needed, and exchange_rows moves exactly those rows.
// Letters: N clients, P parameters, R ranks, k a rank, Q gossip steps.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace plexus::dist {
class Group;
}

namespace plexus::fl {

/// Contiguous blocks of N clients over R ranks (sizes differ by at most one).
struct RankBlocks {
  int64_t clients = 1;  ///< N
  int ranks = 1;        ///< R

  /// First client of rank k (k = R gives N).
  int64_t begin(int k) const { return static_cast<int64_t>(k) * clients / ranks; }
  int64_t end(int k) const { return begin(k + 1); }
  /// The rank owning client i.
  int owner(int64_t i) const;
  /// The clients of `who` that rank k owns, in `who`'s order.
  std::vector<int64_t> owned(const std::vector<int64_t>& who, int k) const;
};

/// rows[src][dst]: ascending rows of X that rank src sends to rank dst (empty on the diagonal).
using RowPlan = std::vector<std::vector<std::vector<int64_t>>>;

/// Server FL: every rank sends its block's participants to every other rank (an all-gather of the trained
/// rows, so each rank can compute the server average exactly as one process does).
RowPlan participants_plan(const RankBlocks& b, const std::vector<int64_t>& who);

/// Gossip X ← W^Q X: rank dst needs row j of another rank when (W^Q)_ij ≠ 0 for some row i of dst's block;
/// the pattern of W^Q is taken as the Q-step reachability of W's non-zeros (a superset of the numeric
/// non-zeros, so no needed row is ever missed). Shapes: W [N,N] dense or sparse; Q >= 1.
RowPlan gossip_plan(const RankBlocks& b, const torch::Tensor& W, int64_t Q);

/// Every rank k ≠ 0 sends the clients of `who` in its block to rank 0 (rank 0 then holds every participant's
/// fresh row: the trained models it evaluates, per-client state it checkpoints).
RowPlan lead_plan(const RankBlocks& b, const std::vector<int64_t>& who);

/// Every rank k ≠ 0 sends its whole block to rank 0 (rank 0 then holds every fresh row: evaluation,
/// metrics and checkpoints are computed there).
RowPlan gather_plan(const RankBlocks& b);

/// Bytes rank k sends under `plan` for rows of `row_bytes` bytes each.
int64_t plan_bytes(const RowPlan& plan, int k, int64_t row_bytes);

/// Half-open column ranges [begin, end) of T (fl/gossip.h's ColumnRanges); empty = every column.
using RowColumns = std::vector<std::pair<int64_t, int64_t>>;

/// The columns of [0, P) outside `columns` (ascending, non-overlapping ranges): the personal head of a
/// partial model when `columns` is its shared body. Empty when `columns` covers [0, P) (or is empty: all).
RowColumns complement_columns(const RowColumns& columns, int64_t P);

/// Move rows of T [N,P] as `plan` says: rank k sends T[rows[k][d]] to each d and overwrites T[rows[s][k]]
/// with what s sent; only the columns in `columns` travel and are overwritten (empty: every column; the
/// column-restricted gossip of partial models). Rows travel as one contiguous CPU block per peer (copied to
/// and from T's device). T may be a view (e.g. μ [N] as μ.unsqueeze(1)).
/// Throws: Error(Io) as dist::Group::exchange when a peer died or timed out.
void exchange_rows(dist::Group& group, torch::Tensor& T, const RowPlan& plan, const std::string& what,
                   const RowColumns& columns = {});

}  // namespace plexus::fl
