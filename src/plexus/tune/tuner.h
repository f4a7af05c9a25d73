// Shared pieces of the tuners (GIS, SGIS, AMIS and the black-box baselines): options, per-iteration
// records, the replay budget, candidate placement inside a trust region and IS scoring of candidates.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "plexus/core/config.h"
#include "plexus/tune/problem.h"

namespace plexus::tune {

/// TOML section [tuner]. Fractions refer to each dimension's box width.
struct TunerOptions {
  std::string method = "amis";       // gis | sgis | amis | random | grid | cem
  int64_t iterations = 20;           // iteration cap
  int64_t traffic = 1000;            // randomized requests per IS iteration (N)
  int64_t budget = 0;                // total replays; 0 = iterations × traffic
  double sigma = 0.1;                // initial proposal sd (fraction of box width)
  double min_sigma = 0.01;           // floor on proposal sd (fraction of box width)
  int64_t candidates = 64;           // IS candidates per proposal component per iteration
  double trust_radius = 1.5;         // candidates lie within this Mahalanobis radius of their centre
  double target_scale = 0.7;         // target kernel S = target_scale² Σ_component; must be < √2
  double shrink = 1.0;               // GIS: Σ ← shrink² Σ after each iteration (1 = fixed Σ0)
  std::string is_mode = "self_normalized";  // plain | self_normalized
  double clip = 0;                   // weight cap (0 = none)
  std::string ci = "delta";          // delta | bootstrap
  int64_t bootstrap = 100;           // bootstrap resamples when ci = bootstrap
  // SGIS
  int64_t grid_points = 5;           // coarse grid points per dimension (capped at 4096 points; Sobol-free random if more)
  int64_t sim_requests = 500;        // simulator requests per coarse point (the subsample n_s)
  int64_t top_m = 3;                 // coarse points kept; the best seeds the IS stage
  double sgis_shrink = 0.7;          // Σ ← γ Σ after each accepted move (γ in spec §4)
  // AMIS
  int64_t components = 3;            // mixture components K
  std::string variant = "multi_modal";  // multi_modal | multi_variance
  std::string update = "pcu";        // gu (score-based greedy) | pcu (rank-based peak cluster)
  double pi_min = 0.05;              // floor on mixing rates
  double epsilon = 0.3;              // mix the updated rates with uniform at this rate
  double temperature = 1.0;          // GU: softmax temperature in units of the score spread
  double top_frac = 0.2;             // PCU: fraction of ranked candidates kept for clustering
  double cluster_radius = 3.0;       // PCU: peak-cluster radius (Mahalanobis under Σ0)
  double spread = 2.0;               // multi_variance: scales spread^{k − (K−1)/2}
  int64_t reseed_after = 2;          // multi_modal: re-seed a component starved for this many rounds
  // Baselines
  int64_t evals = 200;               // requests per black-box evaluation of one candidate
  int64_t population = 16;           // candidates per baseline iteration (random, grid, CEM)
  double elite_frac = 0.25;          // CEM elite fraction
  double cem_sigma = 0.3;            // CEM initial sd (fraction of box width)

  /// Parse [tuner]. Throws: Error(Config) on a bad key or value.
  static TunerOptions parse(ConfigTable& t);
  int64_t total_budget() const { return budget > 0 ? budget : iterations * traffic; }
  IsOptions is_options(uint64_t seed) const;
};

/// One iteration of a tuner, as written to metrics.csv.
struct IterationRecord {
  int64_t iteration = 0;
  int64_t replays = 0;                 // cumulative replays spent
  std::vector<double> best;            // the incumbent recommendation θ̂
  double estimate = std::numeric_limits<double>::quiet_NaN();  // its estimated objective
  double estimate_lo = std::numeric_limits<double>::quiet_NaN(), estimate_hi = std::numeric_limits<double>::quiet_NaN();
  double ess = 0;                      // ESS of the incumbent's weights (N for direct evaluations)
  bool feasible = false;               // whether the incumbent passed the constraints at its bounds
  double true_value = 0, regret = 0;   // exact objective and F* − F(θ̂)
  bool found = false;                  // θ̂ in the global mode's basin
  int components = 1;                  // proposal components (AMIS)
};

struct TuneResult {
  std::vector<IterationRecord> history;
  std::vector<double> best;
  double estimate = std::numeric_limits<double>::quiet_NaN();
  bool any_feasible = false;
  int64_t replays = 0;
  std::string stop_reason;
  // SGIS final check: simulator objective of the recommendation and of production (NaN if not run).
  double verify_simulated = std::numeric_limits<double>::quiet_NaN();
  double verify_production = std::numeric_limits<double>::quiet_NaN();
};

using IterationCallback = std::function<void(const IterationRecord&)>;

/// Run the tuner named by opt.method. Randomness from streams keyed by `seed`.
/// Throws: Error(Config) on an unknown method or options inconsistent with the problem.
TuneResult run_tuner(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb = {});

TuneResult run_gis(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb);
TuneResult run_sgis(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb);
TuneResult run_amis(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb);
TuneResult run_random_search(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb);
TuneResult run_grid_search(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb);
TuneResult run_cem(Problem& p, const TunerOptions& opt, uint64_t seed, const IterationCallback& cb);

// ---- helpers shared by the tuner implementations ----

/// A candidate with the proposal component it came from and its IS score.
struct Candidate {
  std::vector<double> x;
  int component = 0;
  CandidateScore score;
};

/// Box widths hi − lo.
std::vector<double> box_widths(const Problem& p);
/// Clamp x into the box.
void clamp_to_box(const Problem& p, std::vector<double>& x);
/// Diagonal Gaussian centred at `mean` with sd = frac × width per dimension.
Gaussian box_gaussian(const Problem& p, const std::vector<double>& mean, double frac);
/// n points uniform in the Mahalanobis ball {(x−μ)ᵀΣ⁻¹(x−μ) ≤ r²} of g (clamped to the box), the first
/// being μ itself. Draws from Rng(seed, "tune/candidates", stream, iteration).
std::vector<std::vector<double>> trust_region_candidates(const Problem& p, const Gaussian& g, int64_t n, double r,
                                                         uint64_t seed, uint64_t stream, int64_t iteration);
/// IS score of a candidate x with target N(x, scale² Σ_ref).
CandidateScore score_is(const Samples& s, const Problem& p, const std::vector<double>& x, const std::vector<double>& cov_ref,
                        double target_scale, const IsOptions& is);
/// Fill true value, regret and found for the record's `best`, append it and call cb.
void finish_record(Problem& p, IterationRecord& rec, TuneResult& res, const IterationCallback& cb);

}  // namespace plexus::tune
