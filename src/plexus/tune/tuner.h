// Shared pieces of the tuners (GIS, SGIS, AMIS and the black-box baselines): the options every tuner
// shares ([tuner]), per-iteration records, the archive of live exploration traffic kept for the guarded
// final step, the Tuner interface, candidate placement inside a trust region and IS scoring of candidates.
// Each tuner lives in its own file with its own options struct and section, and registers itself
// (tuner_registry.h).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "plexus/core/config.h"
#include "plexus/core/options.h"
#include "plexus/tune/problem.h"

namespace plexus::tune {

/// TOML section [tuner]: what every tuner shares. Sizes like `sigma` are fractions of each box width.
struct TunerOptions {
  std::string method;
  int64_t iterations = 20;
  int64_t traffic = 1000;
  int64_t budget = 0;
  double sigma = 0.1;
  double min_sigma = 0.01;
  int64_t candidates = 64;
  double trust_radius = 1.5;
  double target_scale = 0.7;
  std::string is_mode = "self_normalized";
  double clip = 0;
  std::string ci = "delta";
  int64_t bootstrap = 100;
  double defensive = 0.1;  // share λ of live traffic from the defensive component N(θ0, Σ0)

  static const OptionSchema<TunerOptions>& schema();
  /// Parse [tuner]; `method` must name a registered tuner. Throws: Error(Config) on a bad key or value.
  static TunerOptions parse(ConfigTable& t);
  int64_t total_budget() const { return budget > 0 ? budget : iterations * traffic; }
  IsOptions is_options(uint64_t seed) const;
};

/// One iteration of a tuner, as written to metrics.csv. `stage` is "iterate" for the tuner's own
/// iterations (best = its current pick, not yet guarded) and "final" for the guarded recommendation.
struct IterationRecord {
  int64_t iteration = 0;
  std::string stage = "iterate";
  int64_t replays = 0;                 // cumulative replays spent
  std::vector<double> best;            // the pick θ̂
  double estimate = std::numeric_limits<double>::quiet_NaN();  // its estimated objective
  double estimate_lo = std::numeric_limits<double>::quiet_NaN(), estimate_hi = std::numeric_limits<double>::quiet_NaN();
  double ess = 0;                      // ESS of the pick's weights (N for direct evaluations)
  bool feasible = false;               // whether the pick passed the constraints at its bounds
  double true_value = 0, regret = 0;   // exact objective and F* − F(θ̂)
  bool found = false;                  // θ̂ in the global mode's basin
};

/// Live exploration traffic of one IS iteration, kept for the guarded final step: the proposal q_t it
/// was drawn from, the part the tuner adapted on, the held-out part (never seen by the tuner), and the
/// iteration's feasible candidates, best first.
struct IterationArchive {
  Mixture q;
  Samples used, holdout;
  std::vector<std::vector<double>> ranked;
};

/// One KPI of a candidate against production on the same weighted traffic (guard.h).
struct KpiComparison {
  std::string name;
  double candidate = 0, production = 0;          // each KPI alone
  double gain = 0, gain_lo = 0, gain_hi = 0;     // candidate − production, paired CI
  double ratio = 1, ratio_lo = 1, ratio_hi = 1;  // candidate / production, paired CI
};

/// What the guarded final step decided and why.
struct GuardReport {
  bool ran = false;
  bool shipped = false;             // the recommendation is a candidate (false: production)
  std::string data;                 // pooled | fresh: where the confirmation traffic came from
  std::string reason;               // why production was kept (empty if shipped)
  std::vector<double> candidate;    // the finalist chosen on the selection traffic (empty if none)
  std::vector<KpiComparison> kpis;  // objective first, then each constraint, on the confirmation traffic
  std::vector<double> margins;      // per constraint: lower bound of the ratio − its floor (≥ 0 passes)
  int64_t finalists = 0;            // candidates re-scored (besides production)
  int64_t selection_requests = 0, confirmation_requests = 0;
  double confirmation_ess = 0;      // ESS of the chosen finalist's confirmation weights
  int64_t replays = 0;              // fresh replays the guard itself spent
  double confidence = 0.95;         // one-sided level of every lower bound it judged
};

struct TuneResult {
  std::vector<IterationRecord> history;
  std::vector<double> best;         // the recommendation
  double estimate = std::numeric_limits<double>::quiet_NaN();
  bool any_feasible = false;
  int64_t replays = 0;
  std::string stop_reason;
  // SGIS final check: simulator objective of its pick and of production (NaN if not run).
  double verify_simulated = std::numeric_limits<double>::quiet_NaN();
  double verify_production = std::numeric_limits<double>::quiet_NaN();
  // For the guarded final step (IS tuners only).
  std::vector<IterationArchive> archive;  // per IS iteration
  std::vector<double> kernel_ref;         // Σ_ref (d×d): the final kernel is target_scale² Σ_ref
  GuardReport guard;
};

using IterationCallback = std::function<void(const IterationRecord&)>;

/// What a tuner run needs besides the problem and options.
struct TuneContext {
  uint64_t seed = 0;       // traffic, candidate and bootstrap streams
  double holdout = 0;      // share of each IS iteration's live traffic withheld for the guard's confirmation
  IterationCallback cb;    // called after every record
};

/// A tuner: built from its own config section by its registration (tuner_registry.h).
class Tuner {
 public:
  virtual ~Tuner() = default;
  /// Run on `p` within opt.total_budget() replays. Throws: Error(Config) on options inconsistent with
  /// the problem or a budget below one iteration.
  virtual TuneResult run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const = 0;
  /// Whether the run archives live exploration traffic (false: the guard must draw fresh traffic).
  virtual bool archives_live_traffic() const { return true; }
  /// Iterations a run will report at most (for progress lines).
  virtual int64_t planned_iterations(const TunerOptions& opt) const { return opt.iterations; }
};

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
/// Diagonal covariance diag((frac × width)²), row-major d×d.
std::vector<double> box_cov(const Problem& p, double frac);
/// n points uniform in the Mahalanobis ball {(x−μ)ᵀΣ⁻¹(x−μ) ≤ r²} of g (clamped to the box), the first
/// being μ itself. Draws from Rng(seed, "tune/candidates", stream, iteration).
std::vector<std::vector<double>> trust_region_candidates(const Problem& p, const Gaussian& g, int64_t n, double r,
                                                         uint64_t seed, uint64_t stream, int64_t iteration);
/// IS score of a candidate x with target N(x, scale² Σ_ref). Every candidate of an iteration uses the
/// same Σ_ref, so all estimate the KPIs smoothed by one common kernel.
CandidateScore score_is(const Samples& s, const ObjectiveSpec& spec, const std::vector<double>& x, const std::vector<double>& cov_ref,
                        double target_scale, const IsOptions& is);
/// Score every candidate with score_is (one kernel) into `scores`; returns the indices of those passing
/// ESS and constraints, best first (stable: ties keep candidate order).
std::vector<int> rank_candidates(const Samples& s, const ObjectiveSpec& spec, const std::vector<std::vector<double>>& cands,
                                 const std::vector<double>& cov_ref, double target_scale, const IsOptions& is,
                                 std::vector<CandidateScore>& scores);
/// The defensive mixture q_λ = (1 − λ) q + λ d (Hesterberg 1995, "Weighted average importance sampling and
/// defensive mixture distributions", Technometrics 37(2)): every component weight of q scaled by 1 − λ and
/// d appended with weight λ. For any target p, w = p/q_λ ≤ p/(λ d), so a target near d (production) keeps
/// bounded weights whatever q has adapted to. λ = 0 returns q unchanged. Throws: Error(Config) unless
/// 0 <= λ < 1 or if d's dimension differs from q's.
Mixture defensive_mixture(const Mixture& q, double lambda, const Gaussian& d);
/// Serve one IS iteration of live traffic: opt.traffic requests from the defensive mixture of q with
/// N(θ0, box_cov(p, opt.sigma)) at share opt.defensive, the last ⌊holdout·n⌋ of which are archived for the
/// guard and not returned. Archives the served mixture and both parts in res.archive; returns the tuner's
/// part (its log q is the served mixture's density, so the tuner's estimates stay unbiased).
Samples live_iteration(Problem& p, const Mixture& q, const TunerOptions& opt, int64_t iteration, double holdout,
                       TuneResult& res);
/// Record the iteration's feasible candidates cands[order[0]], cands[order[1]], … (at most 16) in the
/// last archive entry.
void archive_ranked(TuneResult& res, const std::vector<std::vector<double>>& cands, const std::vector<int>& order);
/// Fill true value, regret and found for the record's `best`, append it and call cb.
void finish_record(Problem& p, IterationRecord& rec, TuneResult& res, const IterationCallback& cb);

}  // namespace plexus::tune
