// Partitioners. Every loop here is bounded by n (samples), N·C or max_attempts; see partition.h.
#include "plexus/data/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "plexus/core/error.h"
#include "plexus/data/dataset.h"

namespace plexus::data {
namespace {

void check_clients(int64_t n, int64_t clients) {
  if (clients < 1) throw Error::config("number of clients = {} must be >= 1", clients);
  if (clients > n) {
    throw Error::infeasible("{} clients but only {} training samples: every client needs at least one sample; "
                            "use at most {} clients",
                            clients, n, n);
  }
}

void check_alpha(double alpha) {
  if (!(alpha > 0) || !std::isfinite(alpha)) {
    throw Error::config("[data] dirichlet_alpha = {} must be a finite number > 0 (small, e.g. 0.1, gives strong "
                        "label skew; large, e.g. 100, is close to IID)",
                        alpha);
  }
}

// Indices of each class, each list shuffled by `rng`.
std::vector<std::vector<int64_t>> class_pools(const std::vector<int64_t>& labels, int64_t num_classes, Rng& rng) {
  class_counts(labels, num_classes);  // validates the label range
  std::vector<std::vector<int64_t>> pools(static_cast<size_t>(num_classes));
  for (size_t j = 0; j < labels.size(); ++j) pools[static_cast<size_t>(labels[j])].push_back(static_cast<int64_t>(j));
  for (auto& p : pools) rng.shuffle(p);
  return pools;
}

void sort_all(ClientIndices& parts) {
  for (auto& p : parts) std::sort(p.begin(), p.end());
}

}  // namespace

std::vector<int64_t> proportional_counts(int64_t total, const std::vector<double>& weights) {
  const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  PLEXUS_CHECK(sum > 0 && total >= 0, "proportional_counts needs positive weights, got sum {}", sum);
  std::vector<int64_t> out(weights.size());
  std::vector<std::pair<double, size_t>> frac;  // (fractional part, index)
  int64_t given = 0;
  for (size_t c = 0; c < weights.size(); ++c) {
    const double exact = static_cast<double>(total) * weights[c] / sum;
    out[c] = static_cast<int64_t>(std::floor(exact));
    given += out[c];
    // Zero-weight entries sort last (-1) so they never receive a remainder unit.
    frac.emplace_back(weights[c] > 0 ? exact - std::floor(exact) : -1.0, c);
  }
  // Largest remainders first; ties go to the lower index (stable sort on the index order).
  std::stable_sort(frac.begin(), frac.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (int64_t r = 0; r < total - given; ++r) {
    ++out[frac[static_cast<size_t>(r) % frac.size()].second];
  }
  return out;
}

ClientIndices partition_iid(int64_t n, int64_t clients, Rng& rng) {
  check_clients(n, clients);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  rng.shuffle(perm);
  ClientIndices parts(static_cast<size_t>(clients));
  int64_t start = 0;
  for (int64_t i = 0; i < clients; ++i) {
    const int64_t size = n / clients + (i < n % clients ? 1 : 0);
    parts[static_cast<size_t>(i)].assign(perm.begin() + start, perm.begin() + start + size);
    start += size;
  }
  sort_all(parts);
  return parts;
}

ClientIndices partition_dirichlet_per_client(const std::vector<int64_t>& labels, int64_t num_classes,
                                             int64_t clients, double alpha, Rng& rng) {
  check_alpha(alpha);
  const auto n = static_cast<int64_t>(labels.size());
  check_clients(n, clients);
  auto pools = class_pools(labels, num_classes, rng);
  const auto C = static_cast<size_t>(num_classes);

  std::vector<std::vector<double>> prior(static_cast<size_t>(clients));
  for (auto& p : prior) p = rng.dirichlet(alpha, C);  // p_i ~ Dir(α·1_C)

  std::vector<int64_t> capacity(static_cast<size_t>(clients));
  std::vector<int64_t> open;  // clients that still have free slots
  for (int64_t i = 0; i < clients; ++i) {
    capacity[static_cast<size_t>(i)] = n / clients + (i < n % clients ? 1 : 0);
    open.push_back(i);
  }
  ClientIndices parts(static_cast<size_t>(clients));
  int64_t left = n;  // unused samples; equals the total free capacity, so a class is always available
  for (int64_t slot = 0; slot < n; ++slot) {
    const auto k = static_cast<size_t>(rng.below(open.size()));
    const auto i = static_cast<size_t>(open[k]);
    // Mass of p_i on classes that still have samples.
    double mass = 0;
    for (size_t c = 0; c < C; ++c)
      if (!pools[c].empty()) mass += prior[i][c];
    size_t chosen = C;
    if (mass > 0) {
      double u = rng.uniform() * mass;
      for (size_t c = 0; c < C; ++c) {
        if (pools[c].empty() || prior[i][c] <= 0) continue;
        chosen = c;  // the last eligible class absorbs rounding at the top end
        if ((u -= prior[i][c]) < 0) break;
      }
    } else {
      // p_i has no mass left (possible for tiny α): draw a class ∝ its remaining samples.
      auto u = static_cast<int64_t>(rng.below(static_cast<uint64_t>(left)));
      for (size_t c = 0; c < C; ++c) {
        chosen = c;
        if ((u -= static_cast<int64_t>(pools[c].size())) < 0) break;
      }
    }
    PLEXUS_CHECK(chosen < C && !pools[chosen].empty(), "no class available at slot {}", slot);
    parts[i].push_back(pools[chosen].back());
    pools[chosen].pop_back();
    --left;
    if (static_cast<int64_t>(parts[i].size()) == capacity[i]) {
      open[k] = open.back();
      open.pop_back();
    }
  }
  sort_all(parts);
  return parts;
}

ClientIndices partition_dirichlet_per_class(const std::vector<int64_t>& labels, int64_t num_classes,
                                            int64_t clients, double alpha, int64_t min_client_samples, Rng& rng,
                                            int max_attempts) {
  check_alpha(alpha);
  const auto n = static_cast<int64_t>(labels.size());
  check_clients(n, clients);
  if (min_client_samples < 1) {
    throw Error::config("[data] min_client_samples = {} must be >= 1", min_client_samples);
  }
  const int64_t need = std::min(min_client_samples, n / clients);  // ≥ 1 since N ≤ n
  const double fair = static_cast<double>(n) / static_cast<double>(clients);
  const auto N = static_cast<size_t>(clients);
  int64_t best_min = -1;
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    auto pools = class_pools(labels, num_classes, rng);
    ClientIndices parts(N);
    for (auto& idx : pools) {
      // NIID-Bench draws q ~ Dir(α·1_N), zeroes the shares of clients already holding ≥ n/N samples and
      // renormalizes. By the aggregation property of the Dirichlet, the renormalized shares of a subset S
      // of coordinates are Dir(α·1_|S|), so drawing directly over the open clients is the same
      // distribution, and never leaves all mass on full clients (where NIID-Bench divides 0 by 0).
      std::vector<size_t> open;
      for (size_t i = 0; i < N; ++i)
        if (static_cast<double>(parts[i].size()) < fair) open.push_back(i);
      PLEXUS_CHECK(!open.empty(), "every client is full before all classes are assigned");
      const auto q = rng.dirichlet(alpha, open.size());
      // Cut the shuffled class at ⌊n_c·cumsum(q)⌋; the last open client takes the rounding remainder.
      const auto nc = static_cast<int64_t>(idx.size());
      double cum = 0;
      int64_t prev = 0;
      for (size_t k = 0; k < open.size(); ++k) {
        cum += q[k];
        int64_t cut = k + 1 == open.size() ? nc : static_cast<int64_t>(std::floor(static_cast<double>(nc) * cum));
        cut = std::clamp<int64_t>(cut, prev, nc);
        auto& dst = parts[open[k]];
        dst.insert(dst.end(), idx.begin() + prev, idx.begin() + cut);
        prev = cut;
      }
    }
    int64_t min_size = n;
    for (auto& p : parts) min_size = std::min<int64_t>(min_size, static_cast<int64_t>(p.size()));
    best_min = std::max(best_min, min_size);
    if (min_size >= need) {
      sort_all(parts);
      return parts;
    }
  }
  throw Error::infeasible(
      "per-class Dirichlet(alpha={}) over {} clients left some client with fewer than {} samples in all {} "
      "draws (best: {}); raise [data] dirichlet_alpha, use fewer clients, lower [data] min_client_samples, or "
      "use dirichlet_form = \"per_client\" (equal client sizes, always feasible)",
      alpha, clients, need, max_attempts, best_min);
}

ClientIndices partition_pathological(const std::vector<int64_t>& labels, int64_t num_classes, int64_t clients,
                                     int64_t classes_per_client, Rng& rng) {
  const auto n = static_cast<int64_t>(labels.size());
  if (classes_per_client < 1 || classes_per_client > num_classes) {
    throw Error::config("[data] classes_per_client = {} must be in [1, {}] (the number of classes)",
                        classes_per_client, num_classes);
  }
  check_clients(n, clients);
  auto pools = class_pools(labels, num_classes, rng);
  const auto C = static_cast<size_t>(num_classes);

  std::vector<int64_t> order(static_cast<size_t>(clients));
  std::iota(order.begin(), order.end(), 0);
  rng.shuffle(order);
  std::vector<int64_t> load(C, 0);
  std::vector<std::vector<int64_t>> holders(C);
  std::vector<std::vector<int64_t>> client_classes(static_cast<size_t>(clients));
  for (int64_t i : order) {
    // The k least-loaded classes, ties broken by a random key: loads stay within one of each other.
    std::vector<std::pair<std::pair<int64_t, double>, size_t>> keyed;
    for (size_t c = 0; c < C; ++c) keyed.push_back({{load[c], rng.uniform()}, c});
    std::sort(keyed.begin(), keyed.end());
    for (int64_t k = 0; k < classes_per_client; ++k) {
      const size_t c = keyed[static_cast<size_t>(k)].second;
      ++load[c];
      holders[c].push_back(i);
      client_classes[static_cast<size_t>(i)].push_back(static_cast<int64_t>(c));
    }
  }
  ClientIndices parts(static_cast<size_t>(clients));
  for (size_t c = 0; c < C; ++c) {
    const auto h = static_cast<int64_t>(holders[c].size());
    const auto nc = static_cast<int64_t>(pools[c].size());
    int64_t start = 0;
    for (int64_t j = 0; j < h; ++j) {
      const int64_t size = nc / h + (j < nc % h ? 1 : 0);
      auto& dst = parts[static_cast<size_t>(holders[c][static_cast<size_t>(j)])];
      dst.insert(dst.end(), pools[c].begin() + start, pools[c].begin() + start + size);
      start += size;
    }
  }
  for (int64_t i = 0; i < clients; ++i) {
    if (parts[static_cast<size_t>(i)].empty()) {
      throw Error::infeasible(
          "pathological partition: client {} got no samples (its {} classes have fewer samples than clients "
          "holding them); use fewer clients or a larger [data] classes_per_client / train_subset",
          i, classes_per_client);
    }
  }
  sort_all(parts);
  return parts;
}

ClientIndices local_test_sets(const std::vector<int64_t>& test_labels, int64_t num_classes,
                              const std::vector<std::vector<int64_t>>& train_hist, int64_t per_client,
                              uint64_t seed) {
  if (test_labels.empty()) throw Error::infeasible("the test set is empty: cannot draw local test sets");
  if (per_client < 1) throw Error::config("[data] local_test_size = {} must be >= 1 (or 0 for the default)", per_client);
  const auto C = static_cast<size_t>(num_classes);
  std::vector<std::vector<int64_t>> pools(C);
  for (size_t j = 0; j < test_labels.size(); ++j) {
    const int64_t c = test_labels[j];
    if (c < 0 || c >= num_classes) throw Error::data("test label {} of sample {} is outside [0, {})", c, j, num_classes);
    pools[static_cast<size_t>(c)].push_back(static_cast<int64_t>(j));
  }
  ClientIndices out(train_hist.size());
  for (size_t i = 0; i < train_hist.size(); ++i) {
    Rng rng(seed, "local_test", i);
    std::vector<double> w(C, 0.0);
    double sum = 0;
    for (size_t c = 0; c < C; ++c) sum += (w[c] = pools[c].empty() ? 0.0 : static_cast<double>(train_hist[i][c]));
    if (!(sum > 0)) {  // no overlap with the test classes: fall back to the test set's own distribution
      for (size_t c = 0; c < C; ++c) w[c] = static_cast<double>(pools[c].size());
    }
    const auto counts = proportional_counts(per_client, w);
    for (size_t c = 0; c < C; ++c) {
      const int64_t m = counts[c], avail = static_cast<int64_t>(pools[c].size());
      if (m == 0) continue;
      PLEXUS_CHECK(avail > 0, "class {} has a share but no test samples", c);
      for (int64_t k : rng.sample_without_replacement(avail, std::min(m, avail))) out[i].push_back(pools[c][static_cast<size_t>(k)]);
      for (int64_t r = avail; r < m; ++r) out[i].push_back(pools[c][rng.below(static_cast<uint64_t>(avail))]);
    }
    std::sort(out[i].begin(), out[i].end());
  }
  return out;
}

}  // namespace plexus::data
