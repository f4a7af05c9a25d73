// Mixing matrices (metropolis / uniform / push-sum / uniform pull) and their spectral analysis.
#include "plexus/fl/mixing.h"

#include <algorithm>

#include "plexus/core/error.h"

namespace plexus::fl {

namespace {
torch::Tensor zeros_nn(int64_t n) { return torch::zeros({n, n}, torch::kFloat64); }
}  // namespace

torch::Tensor mixing_matrix(const Graph& g, const std::string& mixing) {
  if (g.directed)
    throw Error::config("[topology] mixing matrices need an undirected graph; directed kinds use push-sum "
                        "(push_sum_matrix) or uniform pull");
  const int64_t n = g.n;
  auto W = zeros_nn(n);
  auto w = W.accessor<double, 2>();
  if (mixing == "uniform") {
    for (int64_t i = 1; i < n; ++i)
      if (g.degree(i) != g.degree(0))
        throw Error::config("[topology] mixing = \"uniform\" needs a regular graph, but client 0 has degree {} and "
                            "client {} has {}; use mixing = \"metropolis\"",
                            g.degree(0), i, g.degree(i));
    for (int64_t i = 0; i < n; ++i) {
      const double v = 1.0 / static_cast<double>(g.degree(i) + 1);
      w[i][i] = v;
      for (int64_t j : g.out[i]) w[i][j] = v;
    }
  } else if (mixing == "metropolis") {
    for (int64_t i = 0; i < n; ++i) {
      double off = 0;
      for (int64_t j : g.out[i]) {
        w[i][j] = 1.0 / static_cast<double>(1 + std::max(g.degree(i), g.degree(j)));
        off += w[i][j];
      }
      w[i][i] = 1.0 - off;  // >= 1/(d_i+1) > 0 since each w_ij <= 1/(1+d_i)
    }
  } else {
    throw Error::config("[topology] unknown mixing '{}' (choose metropolis or uniform)", mixing);
  }
  return W;
}

torch::Tensor push_sum_matrix(const Graph& g) {
  auto P = zeros_nn(g.n);
  auto p = P.accessor<double, 2>();
  for (int64_t i = 0; i < g.n; ++i) {
    const double v = 1.0 / static_cast<double>(g.degree(i) + 1);
    p[i][i] = v;                       // column i: what node i keeps …
    for (int64_t j : g.out[i]) p[j][i] = v;  // … and what it pushes to each out-neighbour j
  }
  return P;
}

torch::Tensor uniform_pull_matrix(const Graph& g) {
  auto W = zeros_nn(g.n);
  auto w = W.accessor<double, 2>();
  const auto in = g.in_neighbors();
  for (int64_t i = 0; i < g.n; ++i) {
    const double v = 1.0 / static_cast<double>(in[i].size() + 1);
    w[i][i] = v;
    for (int64_t j : in[i]) w[i][j] = v;
  }
  return W;
}

torch::Tensor round_matrix(const Graph& g, const std::string& mixing) {
  return g.directed ? push_sum_matrix(g) : mixing_matrix(g, mixing);
}

MixingReport analyze(const torch::Tensor& W_in, const Graph& g) {
  if (W_in.dim() != 2 || W_in.size(0) != W_in.size(1) || W_in.size(0) != g.n)
    throw Error::config("mixing matrix must be square [{},{}] to match the graph, got a {}-d tensor with {} entries",
                        g.n, g.n, W_in.dim(), W_in.numel());
  MixingReport r;
  const auto W = W_in.to(torch::kCPU, torch::kFloat64);
  const int64_t n = g.n;
  r.symmetric = n == 0 || (W - W.t()).abs().max().item<double>() <= 1e-12;
  r.max_row_sum_error = n == 0 ? 0 : (W.sum(1) - 1).abs().max().item<double>();
  r.max_col_sum_error = n == 0 ? 0 : (W.sum(0) - 1).abs().max().item<double>();
  r.nonnegative = n == 0 || W.min().item<double>() >= 0;
  r.connected = is_connected(g);
  if (n >= 2) {
    // Eigenvalue moduli, largest first; for a stochastic matrix the largest is 1 and the second is λ.
    torch::Tensor mod = r.symmetric ? torch::linalg_eigvalsh(W).abs() : torch::linalg_eigvals(W).abs();
    mod = std::get<0>(mod.sort(/*dim=*/0, /*descending=*/true));
    r.lambda2 = mod[1].item<double>();
  }
  r.spectral_gap = 1.0 - r.lambda2;
  return r;
}

torch::Tensor to_sparse_matrix(const torch::Tensor& W) { return W.to_sparse().coalesce(); }

}  // namespace plexus::fl
