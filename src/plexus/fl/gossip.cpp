// Chunked dense / sparse gossip, push-sum and consensus distance. See gossip.h.
#include "plexus/fl/gossip.h"

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/fl/device_copy.h"

namespace plexus::fl {

namespace {

bool is_sparse(const torch::Tensor& W) { return W.is_sparse() || W.layout() == torch::kSparseCsr; }

void check_square(const torch::Tensor& W, int64_t n, const char* what) {
  if (W.dim() != 2 || W.size(0) != n || W.size(1) != n)
    throw Error::config("{} must be [{},{}] to match {} client rows, got a {}-d tensor of {} entries", what, n, n,
                        n, W.dim(), W.numel());
}

int64_t auto_chunk(const torch::Tensor& X, int64_t chunk_columns, int64_t target_bytes) {
  if (chunk_columns > 0) return chunk_columns;
  const int64_t bytes_per_column = std::max<int64_t>(1, X.size(0) * static_cast<int64_t>(X.element_size()));
  return std::max<int64_t>(1, target_bytes / bytes_per_column);
}

// The sparse operator as a coalesced COO tensor in X's dtype and device.
torch::Tensor sparse_operator(const torch::Tensor& W, const torch::Tensor& X) {
  torch::Tensor S = W.layout() == torch::kSparseCsr ? W.to_dense().to_sparse() : W;
  return S.to(X.device(), X.scalar_type()).coalesce();
}

// Dense W^Q, formed in float64 on the CPU by repeated squaring, then cast to X's dtype and device. [N,N] is
// small next to X, and one product per chunk replaces Q (same result up to rounding).
torch::Tensor dense_power(const torch::Tensor& W, int64_t Q, const torch::Tensor& X) {
  auto W64 = W.to(torch::kCPU, torch::kFloat64);
  auto M = Q == 1 ? W64 : torch::linalg_matrix_power(W64, Q);
  return to_device_async(M, X.device(), X.scalar_type());  // contiguous; queued without a host sync
}

// X[:, ranges] ← M X[:, ranges] chunk by chunk with one [N, chunk] buffer (M dense [N,N]).
void apply_dense(torch::Tensor& X, const torch::Tensor& M, const ColumnRanges& ranges, int64_t chunk) {
  const int64_t n = X.size(0);
  int64_t widest = 0;
  for (auto [b, e] : ranges) widest = std::max(widest, std::min(chunk, e - b));
  if (widest == 0) return;
  auto buffer = torch::empty({n * widest}, X.options());  // the one extra chunk buffer
  for (auto [b, e] : ranges) {
    for (int64_t c = b; c < e; c += chunk) {
      const int64_t len = std::min(chunk, e - c);
      auto xs = X.narrow(1, c, len);                     // [N,len] view, strides (P,1): a valid BLAS operand
      auto out = buffer.narrow(0, 0, n * len).view({n, len});  // contiguous [N,len]
      torch::mm_out(out, M, xs);
      xs.copy_(out);
    }
  }
}

// X[:, ranges] ← S^Q X[:, ranges] chunk by chunk with a sparse S (Q products per chunk).
void apply_sparse(torch::Tensor& X, const torch::Tensor& S, int64_t Q, const ColumnRanges& ranges, int64_t chunk) {
  for (auto [b, e] : ranges) {
    for (int64_t c = b; c < e; c += chunk) {
      const int64_t len = std::min(chunk, e - c);
      auto xs = X.narrow(1, c, len);
      torch::Tensor y = xs;
      for (int64_t q = 0; q < Q; ++q) y = torch::mm(S, y);  // [N,len]; at most two live chunk buffers
      xs.copy_(y);
    }
  }
}

// A dense W on the CPU with many clients and few links is applied as the sparse operator it is: the dense
// product costs 2·N²·P flops per step (1.16 TFLOP at N = 1000, P = 582k: ~11 s per round on 2 vCPUs, the
// reference's cost too), the sparse one 2·nnz·P (~10 links per client: 1/100 of that). Same W, same math;
// the sums run in another order, so the rows can differ from the dense product's in the last bits. Small
// federations (every test's, N < kSparseMinClients) keep the dense product bit for bit.
constexpr int64_t kSparseMinClients = 256;
bool sparse_pays(const torch::Tensor& W, int64_t Q, const torch::Tensor& X) {
  const int64_t n = W.size(0);
  if (!X.device().is_cpu() || n < kSparseMinClients) return false;
  const int64_t nnz = W.ne(0).sum().item<int64_t>();
  return Q * nnz * 16 <= n * n;  // Q sparse products at ≤ 1/16 of one dense product's work
}

void check_state(const torch::Tensor& X, const char* what) {
  if (X.dim() != 2) throw Error::config("{} must be a 2-d [clients, parameters] tensor, got {}-d", what, X.dim());
  if (!X.is_floating_point()) throw Error::config("{} must be a floating-point tensor", what);
}

}  // namespace

ColumnRanges normalize_columns(const ColumnRanges& columns, int64_t P) {
  if (columns.empty()) return P > 0 ? ColumnRanges{{0, P}} : ColumnRanges{};
  ColumnRanges r;
  for (auto [b, e] : columns) {
    if (b < 0 || e > P || b > e)
      throw Error::config("column range [{}, {}) is outside [0, {}) or reversed", b, e, P);
    if (b < e) r.emplace_back(b, e);
  }
  std::sort(r.begin(), r.end());
  for (std::size_t i = 1; i < r.size(); ++i)
    if (r[i].first < r[i - 1].second)
      throw Error::config("column ranges [{}, {}) and [{}, {}) overlap", r[i - 1].first, r[i - 1].second,
                          r[i].first, r[i].second);
  return r;
}

void gossip(torch::Tensor& X, const torch::Tensor& W, int64_t Q, const ColumnRanges& columns, int64_t chunk_columns) {
  check_state(X, "gossip state X");
  if (Q < 0) throw Error::config("gossip_steps = {} must be >= 0", Q);
  check_square(W, X.size(0), "mixing matrix W");
  const auto ranges = normalize_columns(columns, X.size(1));
  if (Q == 0 || ranges.empty()) return;
  torch::NoGradGuard no_grad;
  if (is_sparse(W) || sparse_pays(W, Q, X))
    apply_sparse(X, sparse_operator(is_sparse(W) ? W : W.to_sparse(), X), Q, ranges,
                 auto_chunk(X, chunk_columns, kSparseGossipChunkBytes));
  else
    apply_dense(X, dense_power(W, Q, X), ranges, auto_chunk(X, chunk_columns, kGossipChunkBytes));
}

void push_sum_step(torch::Tensor& U, torch::Tensor& mu, const torch::Tensor& P, const ColumnRanges& columns,
                   int64_t chunk_columns) {
  check_state(U, "push-sum state U");
  if (mu.dim() != 1 || mu.size(0) != U.size(0))
    throw Error::config("push-sum weights mu must be [{}], got {}-d with {} entries", U.size(0), mu.dim(),
                        mu.numel());
  gossip(U, P, 1, columns, chunk_columns);
  torch::NoGradGuard no_grad;
  auto m = mu.unsqueeze(1);  // [N,1] view
  if (is_sparse(P))
    m.copy_(torch::mm(sparse_operator(P, mu), m));
  else
    m.copy_(torch::mm(to_device_async(P, mu.device(), mu.scalar_type()), m));
}

torch::Tensor push_sum_debias(const torch::Tensor& U, const torch::Tensor& mu, const ColumnRanges& columns) {
  check_state(U, "push-sum state U");
  if (mu.dim() != 1 || mu.size(0) != U.size(0))
    throw Error::config("push-sum weights mu must be [{}], got {}-d with {} entries", U.size(0), mu.dim(),
                        mu.numel());
  torch::NoGradGuard no_grad;
  auto Z = U.clone();
  const auto inv = mu.to(U.scalar_type()).reciprocal().unsqueeze(1);  // [N,1]
  for (auto [b, e] : normalize_columns(columns, U.size(1))) Z.narrow(1, b, e - b).mul_(inv);
  return Z;
}

double consensus_distance(const torch::Tensor& X, const ColumnRanges& columns) {
  check_state(X, "state X");
  torch::NoGradGuard no_grad;
  const int64_t n = X.size(0);
  if (n == 0) return 0.0;
  const int64_t chunk = std::max<int64_t>(1, kGossipChunkBytes / (8 * n));
  double total = 0.0;
  for (auto [b, e] : normalize_columns(columns, X.size(1))) {
    for (int64_t c = b; c < e; c += chunk) {
      // [N,len] float64 copy, centred and squared in place: one chunk-sized buffer instead of three (the same
      // element-wise kernels, so the same value bit for bit).
      auto xs = X.narrow(1, c, std::min(chunk, e - c)).to(torch::kFloat64, /*non_blocking=*/false, /*copy=*/true);
      total += xs.sub_(xs.mean(0, /*keepdim=*/true)).pow_(2).sum().item<double>();
    }
  }
  return total / static_cast<double>(n);
}

}  // namespace plexus::fl
