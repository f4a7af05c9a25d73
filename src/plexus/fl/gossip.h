// Gossip on the stacked federation state X [N,P] (row i = client i's flattened parameters; docs/algorithms.md).
//
// One gossip step is X ← W X (x_i ← Σ_j w_ij x_j, D-PSGD / DFedAvg / DFedSAM); Multiple Gossip Steps (MGS,
// DFedSAM-MGS, arXiv 2302.04083 Alg. 2) apply it Q times: X ← W^Q X. Push-sum (directed graphs; DFedPGP, arXiv
// 2405.17876, after SGP, Assran et al. 2019) mixes U and the weights μ with a column-stochastic P and de-biases
// with z_i = u_i / μ_i.
//
// Memory: X may be huge (N = 1000 clients × P = 1.6M floats = 6.4 GB), so every product runs over column
// chunks: the dense path forms M = W^Q once ([N,N], small) and needs ONE extra [N, chunk] buffer; the sparse
// path (COO W, for graphs with ~10 neighbours) applies W Q times per chunk with transient [N, chunk] buffers.
// Letters: N clients, P parameters per client, Q gossip steps.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace plexus::fl {

/// Half-open column ranges [begin, end) of X; empty = all columns. Used to gossip only shared parameters.
using ColumnRanges = std::vector<std::pair<int64_t, int64_t>>;

/// Default chunk size of the dense path: the column count whose [N, chunk] buffer takes about this many bytes
/// (large chunks keep the GEMM efficient; one buffer of this size is the only extra memory).
constexpr int64_t kGossipChunkBytes = int64_t{64} << 20;
/// Default chunk size of the sparse path. The sparse product does one axpy per non-zero over the chunk's
/// columns, so each row of X is read deg+1 times: chunks small enough for the [N, chunk] input and output to
/// stay in cache cut memory traffic (measured 3.3× faster than 64 MiB chunks at N = 1000, k = 10; see
/// docs/results.md#results-gossip).
constexpr int64_t kSparseGossipChunkBytes = int64_t{1} << 20;

/// X ← W^Q X in place (Q gossip steps; MGS), restricted to `columns` (other columns stay bit-for-bit).
/// W: dense [N,N] (float64 or float32; cast to X's dtype and device) or sparse COO/CSR [N,N].
/// chunk_columns: columns per chunk (0 = auto: about kGossipChunkBytes per [N, chunk] buffer for dense W,
/// kSparseGossipChunkBytes for sparse W).
/// Shapes: X [N,P] (f32 or f64, any device), W [N,N]. Units: Q per round.
/// Throws: Error(Config) if Q < 0, W is not [N,N], or a column range is outside [0, P] or reversed.
/// Source: DFedSAM-MGS (arXiv 2302.04083, Alg. 2: x^{(q)} = W x^{(q−1)}, q = 1..Q).
void gossip(torch::Tensor& X, const torch::Tensor& W, int64_t Q, const ColumnRanges& columns = {},
            int64_t chunk_columns = 0);

/// One push-sum step: U ← P U (on `columns`), μ ← P μ. P column-stochastic (push_sum_matrix), dense or sparse.
/// Shapes: U [N,P'], mu [N] (f32/f64), P [N,N]. Throws: Error(Config) on shape mismatches.
/// Source: push-sum (Kempe et al. 2003); SGP (Assran et al. 2019, Alg. 1); DFedPGP (arXiv 2405.17876).
void push_sum_step(torch::Tensor& U, torch::Tensor& mu, const torch::Tensor& P, const ColumnRanges& columns = {},
                   int64_t chunk_columns = 0);

/// De-biased push-sum estimate Z = U / μ (row i divided by μ_i); only `columns` are divided (the others are
/// copied unchanged, e.g. personal parameters that are never pushed). Shapes: U [N,P'], mu [N] → Z [N,P'].
torch::Tensor push_sum_debias(const torch::Tensor& U, const torch::Tensor& mu, const ColumnRanges& columns = {});

/// Consensus distance (1/N) Σ_i ||x_i − x̄||² over `columns` (all if empty), accumulated in float64 by chunks.
/// Shapes: X [N,P] → scalar. Units: squared parameter norm. Source: DFedSAM's consistency measure.
double consensus_distance(const torch::Tensor& X, const ColumnRanges& columns = {});

/// The ranges normalized against P columns: empty → {[0,P)}; validated, sorted, empty ranges dropped.
/// Throws: Error(Config) if a range is reversed or outside [0, P], or ranges overlap.
ColumnRanges normalize_columns(const ColumnRanges& columns, int64_t P);

}  // namespace plexus::fl
