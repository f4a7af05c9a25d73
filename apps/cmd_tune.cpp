// `plexus tune ...`: the ads-auction tuning family (docs/tune.md).
//   generate  write a seeded sponsored-search auction log
//   simulate  replay a log under θ and print its KPIs as JSON (drive it from any outside optimizer)
//   explore   serve randomized exploration traffic θ_i ~ N(θ0, Σ) and log it per request
//   estimate  importance-sampling estimates of a candidate's KPIs from an exploration log
//   methods   list the registered tuners (tuner_registry.h)
//   run       run a registered tuner from a TOML config into runs/<name>/
//   bench     replay throughput and the tuner comparison (JSON)
#include <fmt/ranges.h>  // fmt::join (not in fmt/format.h on fmt >= 11)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "command_registry.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/run_dir.h"
#include "plexus/tune/auction_problem.h"
#include "plexus/tune/exploration_io.h"
#include "plexus/core/file_io.h"
#include "plexus/tune/explore_estimate.h"
#include "plexus/tune/log_io.h"
#include "plexus/tune/replay.h"
#include "plexus/tune/tune_bench.h"
#include "plexus/tune/tune_runner.h"
#include "plexus/tune/tuner_registry.h"

namespace {
using namespace plexus;
using namespace plexus::tune;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

toml::table load_with_overrides(const std::string& config, const std::vector<std::string>& sets) {
  toml::table root = config.empty() ? toml::table{} : load_toml(config);
  for (const auto& s : sets) apply_override(root, s);
  // A misspelled table (--set markt.segments=2) is an error here too, not ignored.
  std::vector<std::string> sections = {"run", "market", "auction", "landscape", "tuner", "guard", "objective"};
  for (const auto& n : tuner_names()) sections.push_back(n);  // one section per registered tuner
  check_sections(root, sections);
  return root;
}

// A comma-separated list of numbers; "abc" is an error, not 0.
std::vector<double> parse_numbers(const std::string& s, const char* flag) {
  std::vector<double> out;
  for (const auto& item : split(s)) {
    char* end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    if (end != item.c_str() + item.size() || !std::isfinite(v)) {
      throw Error::config("{} entry '{}' is not a finite number (give a list like 0,0.5,1)", flag, clip_text(item));
    }
    out.push_back(v);
  }
  return out;
}

void print(const nlohmann::ordered_json& j) { std::cout << j.dump(2) << std::endl; }

void setup(CLI::App& app) {
  auto& g = plexus::app::subcommand_group(app, "tune", "Ads-auction tuning: GSP simulator, importance sampling, GIS/SGIS/AMIS");

  {  // generate
    auto* c = g.add_subcommand("generate", "Write a seeded sponsored-search auction log (PLXCOL columnar file)");
    auto out = std::make_shared<std::string>();
    auto config = std::make_shared<std::string>();
    auto sets = std::make_shared<std::vector<std::string>>();
    auto requests = std::make_shared<int64_t>(0);
    auto seed = std::make_shared<int64_t>(0);
    c->add_option("--out", *out, "Output log file")->required();
    c->add_option("--config,-c", *config, "TOML file with a [market] section");
    c->add_option("--set", *sets, "Override, e.g. market.segments=4");
    auto* requests_opt = c->add_option("--requests", *requests, "Shortcut for market.requests");
    auto* seed_opt = c->add_option("--seed", *seed, "Shortcut for market.seed");
    c->callback([=] {
      toml::table root = load_with_overrides(*config, *sets);
      if (requests_opt->count() > 0) {
        if (*requests < 1) throw Error::config("--requests = {} must be >= 1", *requests);
        apply_override(root, fmt::format("market.requests={}", *requests));
      }
      if (seed_opt->count() > 0) {
        if (*seed < 0) throw Error::config("--seed = {} must be >= 0", *seed);
        apply_override(root, fmt::format("market.seed={}", *seed));
      }
      // A whole tuning config (it has a [tuner]) is checked in full, so a typo in any table is an error; a file
      // of market settings only needs its [market]. Only [market] is used.
      MarketOptions m;
      if (root.contains("tuner")) {
        TuneConfig cfg = parse_tune_config(root);
        if (cfg.run.problem != "auction") {
          throw Error::config("tune generate writes auction logs, but run.problem = \"{}\"; give a config with an "
                              "auction problem (or only a [market] table)", cfg.run.problem);
        }
        m = cfg.market;
      } else {
        ConfigTable t(section_table(root, "market"), "market");
        m = MarketOptions::parse(t);
      }
      require_output_file(*out);  // config errors first, then the output, both before generating
      AuctionLog log = generate_market(m);
      save_auction_log(log, *out);
      print({{"out", *out}, {"requests", log.requests()}, {"ads", log.ads()}, {"slots", log.slots()},
             {"bytes", std::filesystem::file_size(*out)}, {"seed", m.seed}});
    });
  }
  {  // simulate
    auto* c = g.add_subcommand("simulate", "Replay a log under θ and print its KPIs as JSON");
    auto logs = std::make_shared<std::string>();
    auto theta = std::make_shared<std::string>();
    auto threads = std::make_shared<int>(2);
    auto model = std::make_shared<std::string>("true");
    c->add_option("--logs", *logs, "Auction log file")->required();
    c->add_option("--theta", *theta, "Parameters, e.g. alpha=0.8,beta=0.5,reserve=0.1,mainline_reserve=0.02,quality_threshold=0.2");
    c->add_option("--threads", *threads, "Replay threads (results do not depend on it)");
    c->add_option("--click-model", *model, "true (true CTR: exact expectation) or predicted (pCTR: the simulator's click model)");
    c->callback([=] {
      if (*threads < 1 || *threads > 256) throw Error::config("--threads = {} must be in [1, 256]", *threads);
      if (*model != "true" && *model != "predicted") throw Error::config("--click-model = '{}' must be 'true' or 'predicted'", *model);
      AuctionParams th = AuctionParams::parse(*theta);
      AuctionLog log = load_auction_log(*logs);
      ReplayOptions r;
      r.threads = *threads;
      r.click_model = *model == "true" ? ClickModel::True : ClickModel::Predicted;
      auto t0 = std::chrono::steady_clock::now();
      Kpis k = replay(log, th, r);
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      nlohmann::ordered_json tj;
      for (int i = 0; i < AuctionParams::kDims; ++i) tj[AuctionParams::names()[i]] = th.get(i);
      print({{"theta", tj}, {"click_model", *model}, {"kpis", k.to_json()}, {"seconds", sec}});
    });
  }
  {  // explore
    auto* c = g.add_subcommand("explore", "Serve randomized traffic θ_i ~ N(θ0, diag sd²) on a log and write the exploration log");
    auto logs = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto theta0 = std::make_shared<std::string>("");
    auto sigma = std::make_shared<std::string>();
    auto requests = std::make_shared<int64_t>(20000);
    auto seed = std::make_shared<int64_t>(1);
    auto expected = std::make_shared<bool>(false);
    auto threads = std::make_shared<int>(2);
    c->add_option("--logs", *logs, "Auction log file")->required();
    c->add_option("--out", *out, "Exploration log to write")->required();
    c->add_option("--theta0", *theta0, "Production θ0 (defaults: alpha=1,beta=0,reserve=0.1,...)");
    c->add_option("--sigma", *sigma, "Randomized dims and their sd, e.g. alpha=0.1,reserve=0.02")->required();
    c->add_option("--requests", *requests, "Exploration requests");
    c->add_option("--seed", *seed, "Traffic seed");
    c->add_flag("--expected-clicks", *expected, "Log expected instead of sampled clicks");
    c->add_option("--threads", *threads, "Threads");
    c->callback([=] {
      require_output_file(*out, {*logs});  // --out over --logs would replace the auction log
      ExploreOptions o{*theta0, *sigma, *requests, *seed, *expected, *threads};
      ExplorationLog e = explore(std::make_shared<AuctionLog>(load_auction_log(*logs)), o);
      save_exploration(e, *out);
      print({{"out", *out}, {"requests", *requests}, {"params", e.params}, {"theta0", e.theta0}, {"sd", e.sd},
             {"bytes", std::filesystem::file_size(*out)}});
    });
  }
  {  // estimate
    auto* c = g.add_subcommand("estimate", "Importance-sampling estimates of a candidate θ from an exploration log");
    auto explore = std::make_shared<std::string>();
    auto theta = std::make_shared<std::string>();
    auto ts = std::make_shared<double>(0.5);
    auto mode = std::make_shared<std::string>("self_normalized");
    auto clip = std::make_shared<double>(0.0);
    auto ci = std::make_shared<std::string>("delta");
    auto boot = std::make_shared<int>(200);
    c->add_option("--explore", *explore, "Exploration log (plexus tune explore)")->required();
    c->add_option("--theta", *theta, "Candidate, e.g. alpha=0.9,reserve=0.12 (unlisted dims = θ0)");
    c->add_option("--target-scale", *ts, "Target kernel N(c, (s·sd)²), s in (0, √2)");
    c->add_option("--mode", *mode, "plain | self_normalized");
    c->add_option("--clip", *clip, "Weight cap (0 = none)");
    c->add_option("--ci", *ci, "delta | bootstrap");
    c->add_option("--bootstrap", *boot, "Bootstrap resamples");
    c->callback([=] { print(estimate(load_exploration(*explore), EstimateOptions{*theta, *ts, *mode, *clip, *ci, *boot})); });
  }
  {  // methods
    auto* c = g.add_subcommand("methods", "List the registered tuners, their bench variants and whether the guard applies (JSON)");
    c->callback([] {
      nlohmann::ordered_json j = nlohmann::ordered_json::array();
      for (const auto& t : tuner_registry()) {
        std::vector<std::string> labels;
        for (const auto& v : t.variants) labels.push_back(v.first);
        j.push_back({{"name", t.name}, {"summary", t.summary}, {"guarded", t.importance_sampling}, {"uses_simulator", t.uses_simulator},
                     {"bench_variants", labels}});
      }
      print(j);
    });
  }
  {  // run
    auto* c = g.add_subcommand("run", "Run a tuner from a TOML config; writes runs/<name>/ (metrics per iteration, summary.json)");
    auto config = std::make_shared<std::string>();
    auto sets = std::make_shared<std::vector<std::string>>();
    auto name = std::make_shared<std::string>();
    c->add_option("--config,-c", *config, "TOML config, e.g. configs/amis_auction.toml")->required();
    c->add_option("--set", *sets, "Override any key, e.g. tuner.method=gis");
    c->add_option("--name", *name, "Run name (overrides run.name)");
    c->callback([=] {
      toml::table root = load_with_overrides(*config, *sets);
      if (!name->empty()) {
        // The literal name, not TOML text (a name may hold quotes).
        auto* run = root["run"].as_table();
        if (!run) root.insert("run", toml::table{}), run = root["run"].as_table();
        run->insert_or_assign("name", *name);
      }
      TuneConfig cfg = parse_tune_config(root);
      print(run_tune(cfg));
    });
  }
  {  // bench
    auto& b = *g.add_subcommand("bench", "Benchmarks printing JSON (see bench/tune_bench.sh)");
    b.require_subcommand(1);
    auto* r = b.add_subcommand("replay", "Replay throughput (auctions/s per core, log bytes/s)");
    auto logs = std::make_shared<std::string>();
    auto requests = std::make_shared<int64_t>(200000);
    auto threads = std::make_shared<std::string>("1,2");
    auto reps = std::make_shared<int>(5);
    r->add_option("--logs", *logs, "Auction log (default: generate one with --requests)");
    r->add_option("--requests", *requests, "Requests of the generated log");
    r->add_option("--threads", *threads, "Comma-separated thread counts");
    r->add_option("--reps", *reps, "Replays per thread count");
    r->callback([=] {
      if (*reps < 1) throw Error::config("--reps must be >= 1");
      std::vector<int> ts;
      for (double v : parse_numbers(*threads, "--threads")) {
        if (v < 1 || v > 256 || v != std::floor(v)) throw Error::config("--threads entry {} must be an integer in [1, 256]", v);
        ts.push_back(static_cast<int>(v));
      }
      AuctionLog log;
      if (logs->empty()) {
        MarketOptions m;
        m.requests = *requests;
        log = generate_market(m);
      } else {
        log = load_auction_log(*logs);
      }
      print(bench_replay(log, ts, *reps));
    });
    auto* cmp = b.add_subcommand("compare", "Every registered tuner's bench variants over seeds on equal replay budgets");
    auto opt = std::make_shared<CompareOptions>();
    auto problems = std::make_shared<std::string>("bumps,rastrigin,auction");
    auto methods = std::make_shared<std::string>();
    auto noise = std::make_shared<std::string>("0,0.5,1,2");
    auto out = std::make_shared<std::string>();
    cmp->add_option("--problems", *problems, "bumps, rastrigin, auction");
    cmp->add_option("--methods", *methods, "Comma-separated bench variants (default: all; `plexus tune methods` lists them)");
    cmp->add_option("--set", opt->overrides, "Override for every run, e.g. guard.enabled=false or amis.init=uniform");
    cmp->add_option("--noise", *noise, "Per-request noise sd levels for the landscapes");
    cmp->add_option("--seeds", opt->seeds, "Seeds per setting");
    cmp->add_option("--threads", opt->threads, "Parallel runs");
    cmp->add_option("--iterations", opt->iterations, "IS iterations");
    cmp->add_option("--traffic", opt->traffic, "Randomized requests per IS iteration (budget = iterations × traffic)");
    cmp->add_option("--evals", opt->evals, "Requests per black-box evaluation (every tuner section with an `evals` key)");
    cmp->add_option("--sim-requests", opt->sim_requests, "Simulator requests per coarse point (every tuner section with `sim_requests`)");
    cmp->add_option("--auction-scale", opt->auction_scale, "Auction: traffic, evals and sim-requests are multiplied by this");
    cmp->add_option("--dim", opt->landscape_dim, "Landscape dimension");
    cmp->add_option("--auction-requests", opt->auction_requests, "Requests of the auction log");
    cmp->add_option("--out", *out, "Also write the JSON here");
    cmp->callback([=] {
      opt->problems = split(*problems);
      opt->methods = split(*methods);
      opt->noise = parse_numbers(*noise, "--noise");
      for (double n : opt->noise) {
        if (n < 0) throw Error::config("--noise entry {} must be >= 0 (a noise standard deviation)", n);
      }
      if (opt->seeds < 1 || opt->threads < 1 || opt->iterations < 1 || opt->traffic < 10 || opt->evals < 1 || opt->landscape_dim < 1)
        throw Error::config("bench compare: seeds, threads, iterations, evals, dim must be >= 1 and traffic >= 10");
      auto j = bench_compare(*opt);
      if (!out->empty()) atomic_write(*out, j.dump(2) + "\n");
      print(j);
    });
  }
}

plexus::app::CommandRegistrar reg("tune", setup);
}  // namespace
