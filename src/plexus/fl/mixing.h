// Mixing matrices on a communication graph and their spectral properties.
//
// Undirected gossip uses a symmetric doubly stochastic W (x_i ← Σ_j w_ij x_j); DFedSAM's rates depend on
// λ = max(|λ_2(W)|, |λ_N(W)|) through the spectral gap 1 − λ (arXiv 2302.04083, Assumption on W).
// Directed graphs use push-sum's column-stochastic P (Kempe et al. 2003; SGP, Assran et al. 2019; DFedPGP
// arXiv 2405.17876) or the row-stochastic "uniform pull" average of the DFedPGP reference code.
// Letters: N clients. All matrices are dense [N,N] float64 on the CPU (N is at most a few thousand).
#pragma once

#include <torch/torch.h>

#include <string>

#include "plexus/fl/topology.h"

namespace plexus::fl {

/// Symmetric doubly stochastic mixing matrix of an undirected graph.
///   "metropolis": w_ij = 1/(1 + max(d_i, d_j)) for j ∈ N(i), w_ii = 1 − Σ_{j≠i} w_ij (Metropolis–Hastings;
///                 Xiao & Boyd 2004) — doubly stochastic on any undirected graph.
///   "uniform":    w_ij = 1/(d_i + 1) for j ∈ N(i) ∪ {i} (ring: 1/3 each) — requires a regular graph.
/// Shapes: → [N,N] f64. Throws: Error(Config) for a directed graph (use push_sum_matrix /
/// uniform_pull_matrix), an unknown `mixing`, or "uniform" on a graph whose degrees differ.
torch::Tensor mixing_matrix(const Graph& g, const std::string& mixing);

/// Column-stochastic push-sum matrix: node i splits its mass equally over itself and its out-neighbours,
/// p_ji = 1/(out_deg_i + 1) for j ∈ out(i) ∪ {i}. Then U ← P U, μ ← P μ, z_i = u_i/μ_i → mean of the rows of U_0.
/// Shapes: → [N,N] f64. Source: push-sum (Kempe et al. 2003), SGP (Assran et al. 2019), DFedPGP §3.
torch::Tensor push_sum_matrix(const Graph& g);

/// Row-stochastic "uniform pull": node i averages itself and its in-neighbours, w_ij = 1/(in_deg_i + 1) for
/// j ∈ in(i) ∪ {i}. Iterating converges to 1·πᵀX_0 with π the left Perron vector of W — biased unless W is
/// also column-stochastic. Shapes: → [N,N] f64. Source: DFedPGP reference `dfedpgp_api.py::_aggregate_func`.
torch::Tensor uniform_pull_matrix(const Graph& g);

/// Properties of a mixing matrix W on graph g.
struct MixingReport {
  bool symmetric = false;           // max |W − Wᵀ| <= 1e-12
  double max_row_sum_error = 0;     // max_i |Σ_j w_ij − 1|
  double max_col_sum_error = 0;     // max_j |Σ_i w_ij − 1|
  double lambda2 = 0;               // second largest eigenvalue modulus (max(|λ_2|, |λ_N|) when symmetric)
  double spectral_gap = 0;          // 1 − lambda2
  bool connected = false;           // g connected (strongly, if directed)
  bool nonnegative = false;         // min_ij w_ij >= 0
};

/// Analyze W: stochasticity errors, symmetry, the second largest eigenvalue modulus and spectral gap.
/// Uses a symmetric eigensolver when W is symmetric, the general one (complex moduli) otherwise.
/// Shapes: W [N,N] (any float dtype). Throws: Error(Config) if W is not square or its size is not g.n.
MixingReport analyze(const torch::Tensor& W, const Graph& g);

/// Mixing matrix to use for a round: mixing_matrix for undirected graphs, push_sum_matrix for directed ones.
/// Shapes: → [N,N] f64.
torch::Tensor round_matrix(const Graph& g, const std::string& mixing);

/// Sparse COO copy of a dense matrix (zeros dropped), for gossip on sparse graphs. Shapes: [N,N] → [N,N] COO.
torch::Tensor to_sparse_matrix(const torch::Tensor& W);

}  // namespace plexus::fl
