// A tuning problem as the tuners see it: a box of parameters, production θ0, live randomized traffic,
// direct evaluations, a cheaper simulator, and (for measuring tuners only) the exact objective.
//
// Costs are counted in replays: one request served (live) or replayed (simulator) under one θ. A
// randomized-traffic iteration of N requests costs N; a black-box evaluation of one candidate on n
// requests costs n; an SGIS coarse point simulated on n_s requests costs n_s (docs/tune.md: cost N·c·K).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plexus/tune/gaussian.h"
#include "plexus/tune/importance_sampling.h"
#include "plexus/tune/objective.h"

namespace plexus::tune {

class Problem {
 public:
  virtual ~Problem() = default;
  virtual std::string name() const = 0;
  /// Tuned parameter names, box bounds and production values (all of size dim()).
  virtual std::vector<std::string> names() const = 0;
  virtual std::vector<double> lower() const = 0;
  virtual std::vector<double> upper() const = 0;
  virtual std::vector<double> production() const = 0;
  int dim() const { return static_cast<int>(names().size()); }

  /// Live exploration traffic of iteration `iteration`: n requests, request i served with θ_i ~ q;
  /// log_q holds log q(θ_i) under the whole (mixture) proposal.
  virtual Samples traffic(const Mixture& q, int64_t n, int64_t iteration) = 0;
  /// Live traffic of n requests all served at θ (black-box evaluation; `id` separates evaluations).
  virtual Samples evaluate(const std::vector<double>& theta, int64_t n, int64_t iteration, int64_t id) = 0;
  /// The open-box simulator on n requests at θ (may be biased: e.g. pCTR clicks).
  virtual Samples simulate(const std::vector<double>& theta, int64_t n) = 0;
  /// Randomized simulator replays of iteration `iteration`: n logged requests, each replayed once with
  /// its own θ_i ~ q (SGIS's offline mode, docs/tune.md step 3: cost n instead of n·K); log_q as in traffic().
  virtual Samples simulate_traffic(const Mixture& q, int64_t n, int64_t iteration) = 0;
  /// The simulator's own optimum of the constrained objective (its constraints judged against its own
  /// view of production), for reporting the simulator's bias; empty if unknown. Uncharged, metrics only.
  virtual std::vector<double> simulator_optimum() { return {}; }

  /// The objective resolved against this problem's KPI columns.
  virtual const ObjectiveSpec& objective() const = 0;
  /// Exact objective value of recommending θ (uncharged; for metrics only). An infeasible θ is worth
  /// production's value (it would be rejected at launch).
  virtual double true_value(const std::vector<double>& theta) = 0;
  /// Exact optimum value F* (for regret).
  virtual double optimum_value() = 0;
  /// Whether θ lies in the basin of the global optimum.
  virtual bool in_global_mode(const std::vector<double>& theta) = 0;
};

}  // namespace plexus::tune
