// Communication graphs for decentralized FL: undirected (ring, 2-D torus, exponential, complete, random
// k-regular, Erdős–Rényi, time-varying random) and directed (ring, exponential i → i+2^k, time-varying random
// out-degree k). Letters: N clients (nodes), k neighbours.
//
// Randomness: every random graph is drawn from plexus::Rng(seed, "topology", client, round), so a graph is a
// pure function of (options, N, seed, round); static kinds ignore `round`.
// Sources: DFedSAM (arXiv 2302.04083, App. A: ring, grid, exponential, full, time-varying random);
// DFedPGP (arXiv 2405.17876; reference dfedpgp_api.py `_benefit_choose`): directed time-varying graphs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plexus/core/options.h"

namespace plexus::fl {

/// `[topology]` config table.
struct TopologyOptions {
  /// Graph family: ring | torus | exponential | complete | k_regular | erdos_renyi | time_varying |
  /// directed_ring | directed_exponential | directed_time_varying. Default "time_varying" (DFedSAM main setting).
  std::string kind = "time_varying";
  /// k: degree of k_regular; neighbours each client picks per round for time_varying (the union is
  /// symmetrized, so degrees are >= k); out-degree per round for directed_time_varying. 1 <= k < N. Default 10.
  int64_t neighbors = 10;
  /// Edge probability of erdos_renyi, in (0, 1]. Default 0.2.
  double edge_probability = 0.2;
  /// Weights of the undirected mixing matrix W: "metropolis" (w_ij = 1/(1+max(d_i,d_j))) or "uniform"
  /// (w_ij = 1/(d_i+1); doubly stochastic only on regular graphs). Default "metropolis".
  std::string mixing = "metropolis";

  /// Read `[topology]`. Throws: Error(Config) on unknown keys/kinds, k < 1, p outside (0,1], or "uniform"
  /// mixing with a kind whose graphs are not regular (erdos_renyi, time_varying).
  static TopologyOptions parse(plexus::ConfigTable& t);
  /// The declared keys of [topology] (core/options.h).
  static const plexus::OptionSchema<TopologyOptions>& schema();
};

/// A graph on N nodes. `out[i]` lists the nodes i sends to (sorted, distinct, never i itself). For an
/// undirected graph out[i] is the neighbour set N(i) and j ∈ out[i] ⇔ i ∈ out[j].
struct Graph {
  int64_t n = 0;
  bool directed = false;
  std::vector<std::vector<int64_t>> out;

  /// Out-degree of node i (degree for undirected graphs).
  int64_t degree(int64_t i) const { return static_cast<int64_t>(out[i].size()); }
  /// In-neighbour lists: in[i] = { j : i ∈ out[j] } (sorted).
  std::vector<std::vector<int64_t>> in_neighbors() const;
  /// Number of edges (directed arcs, or undirected edges counted once).
  int64_t edge_count() const;
};

/// True for kinds whose graph changes every round (time_varying, directed_time_varying).
bool is_time_varying(const TopologyOptions& o);
/// True for the directed kinds.
bool is_directed(const TopologyOptions& o);

/// The graph used in round `round` (static kinds ignore it). Deterministic in (o, n, seed, round).
/// Throws: Error(Config) if n < 1; k out of range (k >= n, or n·k odd for k_regular); a torus on a prime
/// number of clients; a static graph that is not (strongly) connected (e.g. Erdős–Rényi with p below the
/// ln(N)/N threshold). Time-varying graphs need not be connected in each round and are not checked.
/// Source: DFedSAM App. A (undirected kinds); DFedPGP `_benefit_choose` (directed time-varying).
Graph make_graph(const TopologyOptions& o, int64_t n, uint64_t seed, int64_t round);

/// Connected (undirected) or strongly connected (directed): every node reaches every other along out-edges.
bool is_connected(const Graph& g);

/// The reversed graph (j → i for every i → j). The DFedPGP reference code lets client i *pull* from k chosen
/// clients, i.e. those are i's in-neighbours: that graph is transpose(directed_time_varying).
Graph transpose(const Graph& g);

/// 2-D torus factorisation used by kind "torus": rows·cols = n with rows the largest divisor <= sqrt(n).
std::pair<int64_t, int64_t> torus_shape(int64_t n);

}  // namespace plexus::fl
