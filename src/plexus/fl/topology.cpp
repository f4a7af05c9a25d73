// Graph generators. See topology.h for the kinds and their sources.
#include "plexus/fl/topology.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <set>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::fl {

namespace {

const std::vector<std::string> kKinds = {"ring",         "torus",         "exponential",          "complete",
                                         "k_regular",    "erdos_renyi",   "time_varying",         "directed_ring",
                                         "directed_exponential", "directed_time_varying"};

// Attempts at drawing a connected random k-regular graph before giving up (k >= 3 graphs are connected
// with probability → 1 as N grows, so this is only reached for tiny or degenerate cases).
constexpr int kRegularAttempts = 64;

// Adds i → j (and j → i if undirected) into adjacency sets.
void add_edge(std::vector<std::set<int64_t>>& adj, int64_t i, int64_t j, bool directed) {
  if (i == j) return;
  adj[i].insert(j);
  if (!directed) adj[j].insert(i);
}

Graph from_sets(int64_t n, bool directed, const std::vector<std::set<int64_t>>& adj) {
  Graph g;
  g.n = n;
  g.directed = directed;
  g.out.resize(n);
  for (int64_t i = 0; i < n; ++i) g.out[i].assign(adj[i].begin(), adj[i].end());
  return g;
}

// Offsets 2^0, 2^1, … below n (exponential graphs).
std::vector<int64_t> power_of_two_offsets(int64_t n) {
  std::vector<int64_t> o;
  for (int64_t d = 1; d < n; d *= 2) o.push_back(d);
  return o;
}

// k distinct clients other than i, uniform without replacement, from the (seed, "topology", i, round) stream.
std::vector<int64_t> pick_others(int64_t n, int64_t i, int64_t k, uint64_t seed, int64_t round) {
  Rng rng(seed, "topology", static_cast<uint64_t>(i), static_cast<uint64_t>(round));
  auto s = rng.sample_without_replacement(n - 1, k);
  for (auto& j : s)
    if (j >= i) ++j;  // skip i itself: map [0, n−1) onto [0, n) \ {i}
  return s;
}

// Random k-regular simple graph: start from the circulant graph (offsets ±1..±k/2, plus n/2 if k is odd)
// and apply 10·|E| random degree-preserving double-edge swaps (a–b, c–d) → (a–d, c–b) rejecting loops and
// multi-edges (the standard MCMC for random regular graphs; Milo et al. 2003). k = 2 is drawn directly as a
// random Hamiltonian cycle, since a random 2-regular graph is usually a union of several cycles.
std::vector<std::set<int64_t>> random_regular(int64_t n, int64_t k, Rng& rng) {
  std::vector<std::set<int64_t>> adj(n);
  if (k == 2) {
    std::vector<int64_t> perm(n);
    for (int64_t i = 0; i < n; ++i) perm[i] = i;
    rng.shuffle(perm);
    for (int64_t i = 0; i < n; ++i) add_edge(adj, perm[i], perm[(i + 1) % n], false);
    return adj;
  }
  std::vector<std::pair<int64_t, int64_t>> edges;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t d = 1; d <= k / 2; ++d)
      if (!adj[i].count((i + d) % n)) {
        add_edge(adj, i, (i + d) % n, false);
        edges.emplace_back(i, (i + d) % n);
      }
    if (k % 2 == 1 && i < n / 2) {
      add_edge(adj, i, i + n / 2, false);
      edges.emplace_back(i, i + n / 2);
    }
  }
  const int64_t m = static_cast<int64_t>(edges.size());
  for (int64_t s = 0; s < 10 * m && m >= 2; ++s) {
    const auto e1 = rng.below(m), e2 = rng.below(m);
    if (e1 == e2) continue;
    auto [a, b] = edges[e1];
    auto [c, d] = edges[e2];
    if (rng.below(2)) std::swap(c, d);
    if (a == d || c == b || adj[a].count(d) || adj[c].count(b)) continue;
    adj[a].erase(b), adj[b].erase(a), adj[c].erase(d), adj[d].erase(c);
    add_edge(adj, a, d, false);
    add_edge(adj, c, b, false);
    edges[e1] = {a, d};
    edges[e2] = {c, b};
  }
  return adj;
}

void require_k(const TopologyOptions& o, int64_t n) {
  if (o.neighbors < 1 || o.neighbors >= n)
    throw Error::config("[topology] neighbors = {} must be in [1, {}] for kind = \"{}\" with {} clients "
                        "(each client needs that many distinct others)",
                        o.neighbors, n - 1, o.kind, n);
}

}  // namespace

const plexus::OptionSchema<TopologyOptions>& TopologyOptions::schema() {
  static const auto s =
      plexus::OptionSchema<TopologyOptions>("topology")
          .key("kind", &TopologyOptions::kind, "graph family (docs/topology.md)", plexus::one_of(kKinds))
          .key("neighbors", &TopologyOptions::neighbors,
               "k: degree (k_regular), neighbours drawn per round (time_varying), out-degree "
               "(directed_time_varying); below the client count",
               ">= 1")
          .key("edge_probability", &TopologyOptions::edge_probability, "erdos_renyi edge probability", "(0, 1]")
          .key("mixing", &TopologyOptions::mixing,
               "`metropolis` w_ij = 1/(1+max(d_i,d_j)), or `uniform` 1/(deg+1) (regular graphs only)",
               plexus::one_of({"metropolis", "uniform"}));
  return s;
}

TopologyOptions TopologyOptions::parse(plexus::ConfigTable& t) {
  TopologyOptions o = schema().parse(t);
  t.require(!(o.mixing == "uniform" && (o.kind == "erdos_renyi" || o.kind == "time_varying")), "mixing",
            "\"uniform\" weights 1/(deg+1) are doubly stochastic only on regular graphs; use \"metropolis\" "
            "with erdos_renyi or time_varying");
  return o;
}

std::vector<std::vector<int64_t>> Graph::in_neighbors() const {
  std::vector<std::vector<int64_t>> in(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j : out[i]) in[j].push_back(i);  // i ascending ⇒ each list sorted
  return in;
}

int64_t Graph::edge_count() const {
  int64_t m = 0;
  for (const auto& o : out) m += static_cast<int64_t>(o.size());
  return directed ? m : m / 2;
}

bool is_time_varying(const TopologyOptions& o) {
  return o.kind == "time_varying" || o.kind == "directed_time_varying";
}

bool is_directed(const TopologyOptions& o) { return o.kind.rfind("directed_", 0) == 0; }

std::pair<int64_t, int64_t> torus_shape(int64_t n) {
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  while (r > 1 && n % r != 0) --r;
  return {std::max<int64_t>(r, 1), n / std::max<int64_t>(r, 1)};
}

namespace {
// Breadth-first reachability from node 0 along `adj`.
int64_t reach_count(const std::vector<std::vector<int64_t>>& adj) {
  const int64_t n = static_cast<int64_t>(adj.size());
  if (n == 0) return 0;
  std::vector<char> seen(n, 0);
  std::deque<int64_t> q{0};
  seen[0] = 1;
  int64_t count = 1;
  while (!q.empty()) {
    int64_t i = q.front();
    q.pop_front();
    for (int64_t j : adj[i])
      if (!seen[j]) seen[j] = 1, ++count, q.push_back(j);
  }
  return count;
}
}  // namespace

bool is_connected(const Graph& g) {
  if (g.n <= 1) return true;
  if (reach_count(g.out) != g.n) return false;
  // Strong connectivity: node 0 must also be reachable from everyone (reachability in the reversed graph).
  return !g.directed || reach_count(g.in_neighbors()) == g.n;
}

Graph transpose(const Graph& g) {
  Graph t;
  t.n = g.n;
  t.directed = g.directed;
  t.out = g.in_neighbors();
  return t;
}

Graph make_graph(const TopologyOptions& o, int64_t n, uint64_t seed, int64_t round) {
  if (n < 1) throw Error::config("[topology] number of clients = {} must be >= 1", n);
  const bool directed = is_directed(o);
  std::vector<std::set<int64_t>> adj(n);
  const auto& k = o.neighbors;

  if (o.kind == "ring" || o.kind == "directed_ring") {
    for (int64_t i = 0; i < n; ++i) add_edge(adj, i, (i + 1) % n, directed);
  } else if (o.kind == "torus") {
    auto [rows, cols] = torus_shape(n);
    if (rows < 2)
      throw Error::config("[topology] kind = \"torus\" needs clients = rows x cols with rows, cols >= 2, but {} {}; "
                          "choose a composite number of clients (4, 6, 8, 9, …) or kind = \"ring\"",
                          n, n < 4 ? "is below 4 (the smallest torus is 2 x 2)" : "is prime");
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = r * cols + c;
        add_edge(adj, i, ((r + 1) % rows) * cols + c, false);
        add_edge(adj, i, r * cols + (c + 1) % cols, false);
      }
  } else if (o.kind == "exponential" || o.kind == "directed_exponential") {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d : power_of_two_offsets(n)) add_edge(adj, i, (i + d) % n, directed);
  } else if (o.kind == "complete") {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) add_edge(adj, i, j, false);
  } else if (o.kind == "k_regular") {
    require_k(o, n);
    if ((n * k) % 2 != 0)
      throw Error::config("[topology] kind = \"k_regular\" needs clients x neighbors even, got {} x {}; change "
                          "neighbors by one",
                          n, k);
    if (k == 1 && n > 2)
      throw Error::config("[topology] kind = \"k_regular\" with neighbors = 1 is a perfect matching, disconnected "
                          "for {} clients; use neighbors >= 2",
                          n);
    for (int attempt = 0; attempt < kRegularAttempts; ++attempt) {
      Rng rng(seed, "topology", static_cast<uint64_t>(attempt), 0);
      adj = random_regular(n, k, rng);
      if (is_connected(from_sets(n, false, adj))) break;
      if (attempt + 1 == kRegularAttempts)
        throw Error::config("[topology] could not draw a connected {}-regular graph on {} clients in {} attempts; "
                            "increase neighbors",
                            k, n, kRegularAttempts);
    }
  } else if (o.kind == "erdos_renyi") {
    Rng rng(seed, "topology", 0, 0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j)
        if (rng.uniform() < o.edge_probability) add_edge(adj, i, j, false);
  } else if (o.kind == "time_varying" || o.kind == "directed_time_varying") {
    require_k(o, n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j : pick_others(n, i, k, seed, round)) add_edge(adj, i, j, directed);
  } else {
    throw Error::config("[topology] unknown kind '{}'", o.kind);
  }

  Graph g = from_sets(n, directed, adj);
  if (!is_time_varying(o) && !is_connected(g)) {
    if (o.kind == "erdos_renyi")
      throw Error::config("[topology] the Erdős–Rényi graph with edge_probability = {} on {} clients is "
                          "disconnected; raise edge_probability above ln(N)/N = {:.3f} (or change the seed)",
                          o.edge_probability, n, std::log(static_cast<double>(n)) / n);
    throw Error::config("[topology] kind = \"{}\" on {} clients is not {}connected", o.kind, n,
                        directed ? "strongly " : "");
  }
  return g;
}

}  // namespace plexus::fl
