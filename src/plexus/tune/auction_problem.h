// The auction marketplace as a tuning Problem: live traffic with true CTRs (sampled or expected clicks),
// the open-box simulator with the (miscalibrated) pCTR click model on a subsample, and an exact oracle
// (expected KPIs with true CTRs over the whole log) for regret. Spec §9 items 3–6 ([D]).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plexus/core/options.h"
#include "plexus/tune/gsp_auction.h"
#include "plexus/tune/marketplace.h"
#include "plexus/tune/problem.h"

namespace plexus::tune {

/// TOML section [auction].
struct AuctionProblemOptions {
  std::vector<std::string> params = {"alpha", "reserve"};  // tuned dimensions of θ
  std::string production = "alpha=1,beta=0,reserve=0.1,mainline_reserve=0,quality_threshold=0";  // θ0
  std::vector<double> lower = {};  // tuning box per tuned dim; empty = defaults per parameter
  std::vector<double> upper = {};
  bool sampled_clicks = true;      // live traffic draws Bernoulli clicks (else expected clicks)
  int64_t oracle_grid = 21;        // grid points per dimension for the exact optimum (d ≤ 3)
  int threads = 2;                 // replay threads (from run.threads; not a key of [auction])
  bool oracle = true;              // compute the exact optimum (grid) for regret; off for pure logging
  static AuctionProblemOptions parse(ConfigTable& t);
  /// The declared keys of [auction] (core/options.h).
  static const OptionSchema<AuctionProblemOptions>& schema();
};

/// Default tuning range of a parameter (narrower than its hard bounds): alpha, beta ∈ [0, 2],
/// reserve ∈ [0, 1], mainline_reserve ∈ [0, 0.1], quality_threshold ∈ [0, 0.9].
std::pair<double, double> default_tuning_range(int param_index);

class AuctionProblem : public Problem {
 public:
  /// `log` is shared (read-only) between problems. Computes production KPIs and the oracle optimum.
  /// Throws: Error(Config) on unknown/duplicate params, a box outside the hard bounds, or θ0 outside it.
  AuctionProblem(std::shared_ptr<const AuctionLog> log, const AuctionProblemOptions& opt,
                 const ObjectiveOptions& obj, uint64_t run_seed);

  /// θ with the tuned coordinates replaced by x (clamped to the hard bounds).
  AuctionParams params_of(const double* x) const;
  /// Exact expected KPIs over the whole log (true CTR, expected clicks).
  Kpis oracle_kpis(const std::vector<double>& x) const;
  const Kpis& production_kpis() const { return production_kpis_; }
  const std::vector<double>& optimum() const { return optimum_x_; }
  /// A new traffic seed (for copies of one problem used with several seeds; the oracle is unchanged).
  void reseed(uint64_t run_seed) { run_seed_ = run_seed; }

  std::string name() const override { return "auction"; }
  std::vector<std::string> names() const override { return opt_.params; }
  std::vector<double> lower() const override { return lo_; }
  std::vector<double> upper() const override { return hi_; }
  std::vector<double> production() const override { return x0_; }
  Samples traffic(const Mixture& q, int64_t n, int64_t iteration) override;
  Samples evaluate(const std::vector<double>& theta, int64_t n, int64_t iteration, int64_t id) override;
  Samples simulate(const std::vector<double>& theta, int64_t n) override;
  Samples simulate_traffic(const Mixture& q, int64_t n, int64_t iteration) override;
  /// Grid optimum (oracle_grid^d, d ≤ 3) of the objective replayed over the whole log with the pCTR click
  /// model, constraints relative to production replayed the same way. Computed on first call.
  std::vector<double> simulator_optimum() override;
  const ObjectiveSpec& objective() const override { return spec_; }
  double true_value(const std::vector<double>& theta) override;
  double optimum_value() override { return optimum_value_; }
  bool in_global_mode(const std::vector<double>& theta) override;

 private:
  // Serve n requests; request i uses θ from theta_of(i, rng) and the click model of the live world.
  template <class ThetaFn> Samples serve(int64_t n, const char* purpose, uint64_t iteration, ThetaFn theta_of, bool simulator);
  double objective_of(const Kpis& k) const;
  bool feasible(const Kpis& k) const;

  std::shared_ptr<const AuctionLog> log_;
  AuctionProblemOptions opt_;
  ObjectiveOptions obj_;
  uint64_t run_seed_;
  std::vector<int> idx_;
  AuctionParams base_;
  std::vector<double> lo_, hi_, x0_, optimum_x_;
  Kpis production_kpis_;
  double optimum_value_ = 0;
  std::vector<double> simulator_optimum_x_;
  ObjectiveSpec spec_;
};

}  // namespace plexus::tune
