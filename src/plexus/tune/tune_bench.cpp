#include "plexus/tune/tune_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "plexus/core/error.h"
#include "plexus/tune/auction_problem.h"
#include "plexus/tune/landscape.h"
#include "plexus/tune/replay.h"
#include "plexus/tune/tuner_registry.h"

namespace plexus::tune {

nlohmann::ordered_json bench_replay(const AuctionLog& log, const std::vector<int>& threads, int reps) {
  AuctionParams theta;
  theta.alpha = 0.8;
  theta.reserve = 0.1;
  const double bytes = static_cast<double>(log.ads()) * 4 * sizeof(float) +
                       static_cast<double>(log.requests()) * (sizeof(uint64_t) + sizeof(uint32_t));
  nlohmann::ordered_json out;
  out["requests"] = log.requests();
  out["ads"] = log.ads();
  out["log_bytes"] = bytes;
  out["reps"] = reps;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  Kpis first;
  bool identical = true;
  for (int t : threads) {
    ReplayOptions r;
    r.threads = t;
    Kpis k = replay(log, theta, r);  // warm-up (page in the log)
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) k = replay(log, theta, r);
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rows.empty()) first = k;
    else identical = identical && std::memcmp(&first, &k, sizeof(Kpis)) == 0;
    double aps = static_cast<double>(log.requests()) * reps / sec;
    rows.push_back({{"threads", t}, {"seconds", sec}, {"auctions_per_sec", aps}, {"auctions_per_sec_per_core", aps / t},
                    {"log_bytes_per_sec", bytes * reps / sec}, {"rpm", k.rpm()}});
  }
  out["runs"] = rows;
  out["identical_across_threads"] = identical;
  return out;
}

namespace {
// A run's config: [tuner] with the shared sizes, [<tuner>] with the variant's keys and the request counts
// its section knows (evals, sim_requests), then the user's overrides; parsed like `plexus tune run` does.
struct MethodSetup {
  const TunerInfo* info;
  TunerOptions tuner;
  GuardOptions guard;
  std::shared_ptr<const Tuner> method;
};

MethodSetup method_setup(const CompareOptions& opt, const std::string& label, int64_t scale) {
  TunerVariant v = find_variant(label);
  const std::string& name = v.info->name;
  toml::table root;
  toml::table tuner{{"method", name}, {"iterations", opt.iterations}, {"traffic", opt.traffic * scale}};
  root.insert("tuner", tuner);
  toml::table section = parse_toml(v.overrides, "bench variant " + label);
  ConfigTable defaults(nullptr, name);
  v.info->make(defaults);
  for (const auto& [key, value] : std::vector<std::pair<const char*, int64_t>>{{"evals", opt.evals}, {"sim_requests", opt.sim_requests}})
    if (defaults.resolved().contains(key) && !section.contains(key)) section.insert(key, value * scale);
  root.insert(name, section);
  for (const auto& o : opt.overrides) apply_override(root, o);
  MethodSetup m{v.info, {}, {}, nullptr};
  ConfigTable t(root["tuner"].as_table(), "tuner");
  m.tuner = TunerOptions::parse(t);
  ConfigTable g(root["guard"].as_table(), "guard");
  m.guard = GuardOptions::parse(g);
  ConfigTable s(root[name].as_table(), name);
  m.method = v.info->make(s);
  return m;
}

// Regret of the incumbent after at most `replays` replays (the regret before the first record is the
// production's).
double regret_at(const TuneResult& r, int64_t replays, double production_regret) {
  double v = production_regret;
  for (const auto& h : r.history)
    if (h.replays <= replays) v = h.regret;
  return v;
}
}  // namespace

nlohmann::ordered_json bench_compare(const CompareOptions& opt) {
  nlohmann::ordered_json out;
  out["seeds"] = opt.seeds;
  out["budget_replays"] = opt.iterations * opt.traffic;
  out["traffic_per_iteration"] = opt.traffic;
  out["evals_per_candidate"] = opt.evals;
  out["overrides"] = opt.overrides;
  std::vector<std::string> methods = opt.methods;
  if (methods.empty())
    for (const auto& v : tuner_variants()) methods.push_back(v.label);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  std::shared_ptr<AuctionProblem> auction_proto;
  for (const auto& prob : opt.problems) {
    std::vector<double> noises = prob == "auction" ? std::vector<double>{-1} : opt.noise;
    if (prob == "auction" && !auction_proto) {
      MarketOptions m;
      m.requests = opt.auction_requests;
      auto log = std::make_shared<AuctionLog>(generate_market(m));
      AuctionProblemOptions a;
      a.threads = 1;
      auction_proto = std::make_shared<AuctionProblem>(log, a, ObjectiveOptions{}, 0);
    } else if (prob != "auction" && prob != "bumps" && prob != "rastrigin") {
      throw Error::config("bench: unknown problem '{}' (bumps, rastrigin, auction)", prob);
    }
    for (double noise : noises) {
      for (const auto& m : methods) {
        const MethodSetup ms = method_setup(opt, m, prob == "auction" ? opt.auction_scale : 1);
        const TunerOptions& to = ms.tuner;
        std::vector<TuneResult> res(opt.seeds);
        std::vector<double> prod_regret(opt.seeds);
        auto t0 = std::chrono::steady_clock::now();
        parallel_chunks(opt.seeds, 1, opt.threads, [&](int64_t s, int64_t, int64_t) {
          std::unique_ptr<Problem> p;
          const uint64_t seed = 1000 + static_cast<uint64_t>(s);
          if (prob == "auction") {
            // Copies share the read-only log and the oracle optimum; the traffic seed differs.
            auto a = std::make_unique<AuctionProblem>(*auction_proto);
            a->reseed(seed);
            p = std::move(a);
          } else {
            LandscapeOptions l;
            l.kind = prob;
            l.dim = opt.landscape_dim;
            l.noise = noise;
            p = std::make_unique<LandscapeProblem>(l, seed);
          }
          prod_regret[s] = p->optimum_value() - p->true_value(p->production());
          res[s] = run_tuner(*p, *ms.info, *ms.method, to, ms.guard, seed);
        });
        double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::vector<double> fin;
        double found = 0, replays = 0, r25 = 0, r50 = 0, feas = 0, worse = 0, shipped = 0;
        const int64_t B = to.total_budget();
        for (int s = 0; s < opt.seeds; ++s) {
          fin.push_back(res[s].history.back().regret);
          found += res[s].history.back().found;
          replays += static_cast<double>(res[s].replays);
          r25 += regret_at(res[s], B / 4, prod_regret[s]);
          r50 += regret_at(res[s], B / 2, prod_regret[s]);
          feas += res[s].any_feasible;
          shipped += res[s].guard.shipped;
          // Worse than production: the recommendation's true value lies below production's (relative 1e-9).
          worse += fin.back() > prod_regret[s] + 1e-9 * (1 + std::abs(prod_regret[s]));
        }
        std::vector<double> sorted = fin;
        std::sort(sorted.begin(), sorted.end());
        double mean = 0;
        for (double v : fin) mean += v / fin.size();
        double sd = 0;
        for (double v : fin) sd += (v - mean) * (v - mean) / std::max<std::size_t>(1, fin.size() - 1);
        nlohmann::ordered_json row;
        row["problem"] = prob;
        row["noise"] = noise < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(noise);
        row["method"] = m;
        row["mean_regret"] = mean;
        row["se_regret"] = std::sqrt(sd / fin.size());
        row["median_regret"] = sorted[sorted.size() / 2];
        row["regret_at_25pct"] = r25 / opt.seeds;
        row["regret_at_50pct"] = r50 / opt.seeds;
        row["found_share"] = found / opt.seeds;
        row["worse_than_production_share"] = worse / opt.seeds;
        row["guard_shipped_share"] = ms.info->importance_sampling && ms.guard.enabled ? nlohmann::ordered_json(shipped / opt.seeds) : nlohmann::ordered_json(nullptr);
        row["feasible_share"] = feas / opt.seeds;
        row["mean_replays"] = replays / opt.seeds;
        row["production_regret"] = prod_regret[0];
        row["budget_replays"] = B;
        row["wall_seconds"] = wall;
        rows.push_back(row);
      }
    }
  }
  out["rows"] = rows;
  return out;
}

}  // namespace plexus::tune
