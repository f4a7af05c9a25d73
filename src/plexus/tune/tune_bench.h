// Benchmarks behind `plexus tune bench ...` (printed as JSON; recorded in docs/results.md#results-tune).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "plexus/tune/marketplace.h"
#include "plexus/tune/tuner.h"

namespace plexus::tune {

/// Replay throughput: for each thread count, replay the whole log `reps` times under θ and report
/// auctions/s, auctions/s per core and log bytes/s; also checks the KPIs are bit-identical across counts.
nlohmann::ordered_json bench_replay(const AuctionLog& log, const std::vector<int>& threads, int reps);

struct CompareOptions {
  std::vector<std::string> problems = {"bumps", "rastrigin", "auction"};
  std::vector<double> noise = {0.0, 0.5, 1.0, 2.0};  // landscapes only
  std::vector<std::string> methods;  // bench variants of registered tuners (tuner_variants()); empty = all
  int seeds = 30;
  int threads = 2;
  int64_t landscape_dim = 2;
  int64_t auction_requests = 10000;
  int64_t auction_scale = 20;  // auction: traffic, evals and sim_requests × this (its KPIs are far noisier)
  int64_t iterations = 20;     // [tuner] iterations
  int64_t traffic = 500;       // [tuner] traffic (budget = iterations × traffic)
  int64_t evals = 100;         // `evals` of every tuner section that has one (black-box baselines)
  int64_t sim_requests = 100;  // `sim_requests` of every tuner section that has one (SGIS)
  std::vector<std::string> overrides;  // `section.key=value` applied to every run's config (e.g. guard.enabled=false)
};

/// Run every (problem, noise, method) over `seeds` seeds on equal replay budgets and summarize: mean and
/// median final regret, regret at 25/50% of the budget, share of seeds in the global mode, share of seeds
/// whose recommendation is worse than production, share where the guard shipped a candidate, replays spent.
/// Throws: Error(Config) on an unknown problem or method, or a bad override.
nlohmann::ordered_json bench_compare(const CompareOptions& opt);

}  // namespace plexus::tune
