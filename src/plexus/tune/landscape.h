// Synthetic tuning landscapes with a known global optimum (docs/tune.md, [D]): a mixture of Gaussian
// bumps and a rescaled Rastrigin function on the unit box [0, 1]^d, observed per request with additive
// Gaussian noise. They let tests and benchmarks measure regret and the share of runs reaching the global
// mode exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plexus/core/options.h"
#include "plexus/tune/problem.h"

namespace plexus::tune {

/// TOML section [landscape].
struct LandscapeOptions {
  std::string kind = "bumps";   // bumps | rastrigin
  int64_t dim = 2;
  int64_t modes = 4;            // bumps: number of bumps (the first is the global mode, height 1)
  double width = 0.12;          // bumps: kernel width (sd) as a fraction of the box
  double noise = 0.5;           // per-request noise sd (KPI scale: the global peak is 1)
  double production = 0.2;      // θ0 = (production, ..., production)
  uint64_t seed = 1;            // layout seed (mode positions); traffic noise uses the run seed
  static LandscapeOptions parse(ConfigTable& t);
  /// The declared keys of [landscape] (core/options.h).
  static const OptionSchema<LandscapeOptions>& schema();
};

/// A synthetic landscape as a Problem with one KPI column "f" and no constraints.
class LandscapeProblem : public Problem {
 public:
  /// Throws: Error(Config) on bad options (dim < 1, modes < 1, ...).
  LandscapeProblem(const LandscapeOptions& opt, uint64_t run_seed);

  /// The noiseless landscape F(θ). Shapes: theta has dim() entries.
  double value(const double* theta) const;
  const std::vector<double>& global_mode() const { return centres_[0]; }

  std::string name() const override { return opt_.kind; }
  std::vector<std::string> names() const override;
  std::vector<double> lower() const override { return std::vector<double>(opt_.dim, 0.0); }
  std::vector<double> upper() const override { return std::vector<double>(opt_.dim, 1.0); }
  std::vector<double> production() const override { return std::vector<double>(opt_.dim, opt_.production); }
  Samples traffic(const Mixture& q, int64_t n, int64_t iteration) override { return serve(q, n, iteration, "landscape/traffic"); }
  Samples evaluate(const std::vector<double>& theta, int64_t n, int64_t iteration, int64_t id) override;
  Samples simulate(const std::vector<double>& theta, int64_t n) override;
  /// Like traffic() on its own noise stream: the synthetic simulator is unbiased.
  Samples simulate_traffic(const Mixture& q, int64_t n, int64_t iteration) override;
  std::vector<double> simulator_optimum() override { return centres_[0]; }
  const ObjectiveSpec& objective() const override { return spec_; }
  double true_value(const std::vector<double>& theta) override { return value(theta.data()); }
  double optimum_value() override { return optimum_; }
  bool in_global_mode(const std::vector<double>& theta) override;

 private:
  Samples serve(const Mixture& q, int64_t n, int64_t iteration, const char* purpose) const;
  LandscapeOptions opt_;
  uint64_t run_seed_;
  std::vector<std::vector<double>> centres_;
  std::vector<double> heights_;
  double optimum_ = 0, second_peak_ = 0;
  int64_t sim_calls_ = 0;
  ObjectiveSpec spec_;
};

}  // namespace plexus::tune
