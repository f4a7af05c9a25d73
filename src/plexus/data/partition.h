// Partitioners: split a labelled training set over N clients, and draw per-client local test sets.
//
// All take the labels (n values in [0, C)) and return N lists of sample indices; every randomness comes
// from the Rng passed in (callers use Rng(seed, "partition")), so a partition is a pure function of
// (labels, settings, seed). None can loop forever: every loop is bounded and infeasible settings end with
// Error(Infeasible). Formulas and the departures from the reference code are in docs/data.md.
#pragma once

#include <cstdint>
#include <vector>

#include "plexus/core/rng.h"

namespace plexus::data {

using ClientIndices = std::vector<std::vector<int64_t>>;  // [N][n_i] indices into the dataset

/// IID: shuffle all n indices and cut them into N contiguous chunks of size ⌊n/N⌋ or ⌈n/N⌉
/// (the first n mod N clients get one more).
/// Shapes: n labels → [N][n_i], Σ n_i = n. Throws: Error(Infeasible) if N > n; Error(Config) if N < 1.
/// Source: McMahan et al. 2017 (FedAvg, arXiv 1602.05629) IID split.
ClientIndices partition_iid(int64_t n, int64_t clients, Rng& rng);

/// Dirichlet label skew, per-client-prior form of the DisPFL/DFedSAM reference code (fl_algorithms.md §0):
/// p_i ~ Dir(α·1_C) for each client; every client gets n_i = ⌊n/N⌋ or ⌈n/N⌉ samples (Σ n_i = n). Slots are
/// filled one at a time: pick a uniformly random non-full client i, draw class c with probability
/// p_{i,c}·[r_c > 0] / Σ_k p_{i,k}·[r_k > 0] (r_c = unused samples of class c), take a random unused index
/// of class c. Restricting and renormalizing equals the reference's "redraw while exhausted" exactly, but
/// always ends; if p_i puts zero mass on every class left, c is drawn ∝ r_c instead (where the reference
/// would loop forever).
/// Shapes: n labels in [0,C) → [N][n_i]. Throws: Error(Config) if α ≤ 0 or not finite;
/// Error(Infeasible) if N > n. Source: DisPFL `data_loader.py` (partition "dir"), Dai et al. ICML 2022.
ClientIndices partition_dirichlet_per_client(const std::vector<int64_t>& labels, int64_t num_classes,
                                             int64_t clients, double alpha, Rng& rng);

/// Dirichlet label skew, common per-class form (Yurochkin et al. 2019; Hsu et al. 2019; NIID-Bench,
/// Li et al. 2022, arXiv 2102.02079): for each class c, the clients O still holding < n/N samples draw
/// shares q ~ Dir(α·1_|O|) (NIID-Bench draws over all N, zeroes full clients and renormalizes: the same
/// distribution by the Dirichlet aggregation property, without its 0/0 when all mass lands on full
/// clients), and the shuffled indices of class c are cut at ⌊n_c·cumsum(q)⌋. The whole draw is repeated
/// while some client has fewer than m = min(min_client_samples, ⌊n/N⌋) samples — at most `max_attempts`
/// times (NIID-Bench loops without bound, which never ends for many clients and small α).
/// Shapes: n labels → [N][n_i] (sizes vary). Throws: Error(Config) if α ≤ 0; Error(Infeasible) if N > n or
/// no draw in max_attempts gives every client ≥ m samples (the message says what to change).
ClientIndices partition_dirichlet_per_class(const std::vector<int64_t>& labels, int64_t num_classes,
                                            int64_t clients, double alpha, int64_t min_client_samples, Rng& rng,
                                            int max_attempts = 100);

/// Pathological non-IID: every client holds exactly k = classes_per_client distinct classes.
/// Classes are assigned greedily in a random client order: each client takes the k classes currently held
/// by the fewest clients (random tie-break), so class loads differ by at most one; then each class's
/// shuffled indices are split evenly among its holders. No sample is repeated and, when N·k ≥ C, every
/// sample is used (the reference code instead draws classes independently and reuses samples once a class
/// runs out).
/// Shapes: n labels → [N][n_i]. Throws: Error(Config) if k < 1 or k > C; Error(Infeasible) if a client
/// would get no sample (a class has fewer samples than holders and it is the client's only class, …).
/// Source: McMahan et al. 2017 shards; DisPFL `data_loader.py` (partition "n_cls").
ClientIndices partition_pathological(const std::vector<int64_t>& labels, int64_t num_classes, int64_t clients,
                                     int64_t classes_per_client, Rng& rng);

/// Local test sets: client i gets m test indices split over classes in proportion to its training label
/// histogram h_i: m_c = round-to-sum(m·h_{i,c}/n_i) by largest remainders (Σ_c m_c = m exactly), then m_c
/// random test indices of class c (without replacement while the class has enough, repeated beyond that).
/// Classes absent from the test set get no share (it goes to the others). Overlap across clients is allowed,
/// as in the reference. Randomness: Rng(seed, "local_test", i).
/// Shapes: test labels n_test, train_hist [N][C] → [N][m]. Throws: Error(Infeasible) if the test set is empty.
/// Source: DisPFL `data_loader.py` (local test sets), fl_algorithms.md §0.
ClientIndices local_test_sets(const std::vector<int64_t>& test_labels, int64_t num_classes,
                              const std::vector<std::vector<int64_t>>& train_hist, int64_t per_client,
                              uint64_t seed);

/// Split `total` into parts proportional to `weights` that sum exactly to `total` (largest remainder
/// method, ties to the lower index). Weights ≥ 0 with a positive sum. Units: counts.
std::vector<int64_t> proportional_counts(int64_t total, const std::vector<double>& weights);

}  // namespace plexus::data
