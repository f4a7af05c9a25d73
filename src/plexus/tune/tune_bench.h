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
  std::vector<std::string> methods = {"gis", "sgis", "amis", "amis_gu", "amis_mv", "amis_mv_gu", "random", "grid", "cem"};
  int seeds = 30;
  int threads = 2;
  int64_t landscape_dim = 2;
  int64_t auction_requests = 10000;
  int64_t auction_scale = 20;  // auction: traffic, evals and sim_requests × this (its KPIs are far noisier)
  TunerOptions tuner;  // shared settings; method/variant/update are set per method name
};

/// Run every (problem, noise, method) over `seeds` seeds on equal replay budgets and summarize: mean and
/// median final regret, regret at 25/50% of the budget, share of seeds in the global mode, replays spent.
nlohmann::ordered_json bench_compare(const CompareOptions& opt);

}  // namespace plexus::tune
