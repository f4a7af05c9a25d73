#include "plexus/tune/tune_runner.h"

#include <chrono>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/progress.h"
#include "plexus/core/run_dir.h"
#include "plexus/tune/log_io.h"

namespace plexus::tune {

TuneRunOptions TuneRunOptions::parse(ConfigTable& t) {
  TuneRunOptions o;
  t.get("name", o.name);
  t.get("root", o.root);
  t.get("seed", o.seed);
  t.get_choice("problem", o.problem, {"auction", "landscape"});
  t.get("logs", o.logs);
  t.get("progress", o.progress);
  bool tensorboard = false;  // read by RunDir::write_config from the resolved config (docs/experiments.md)
  t.get("tensorboard", tensorboard);
  t.require(!o.name.empty() && o.name.find('/') == std::string::npos, "name", "must be a non-empty name without '/'");
  t.require(o.seed >= 0, "seed", "must be >= 0");
  t.finish();
  return o;
}

TuneConfig parse_tune_config(const toml::table& root) {
  static const std::vector<std::string> kSections = {"run", "market", "auction", "landscape", "tuner", "objective"};
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (std::find(kSections.begin(), kSections.end(), key) == kSections.end()) {
      std::string near = nearest_name(key, kSections);
      throw Error::config("unknown config section [{}]{}", key, near.empty() ? " (sections: run, market, auction, landscape, tuner, objective)" : fmt::format(" (did you mean [{}]?)", near));
    }
    if (!v.is_table()) throw Error::config("config key '{}' must be a table [{}]", key, key);
  }
  TuneConfig c;
  auto section = [&](const char* name) { return ConfigTable(root[name].as_table(), name); };
  auto keep = [&](const char* name, ConfigTable& t) { c.resolved.insert_or_assign(name, t.resolved()); };
  {
    auto t = section("run");
    c.run = TuneRunOptions::parse(t);
    keep("run", t);
  }
  {
    auto t = section("tuner");
    c.tuner = TunerOptions::parse(t);
    keep("tuner", t);
  }
  {
    auto t = section("objective");
    c.objective = ObjectiveOptions::parse(t);
    keep("objective", t);
  }
  if (c.run.problem == "auction") {
    auto m = section("market");
    c.market = MarketOptions::parse(m);
    keep("market", m);
    auto a = section("auction");
    c.auction = AuctionProblemOptions::parse(a);
    keep("auction", a);
    if (root.contains("landscape")) throw Error::config("[landscape] is set but run.problem = \"auction\"; remove it or set run.problem = \"landscape\"");
  } else {
    auto l = section("landscape");
    c.landscape = LandscapeOptions::parse(l);
    keep("landscape", l);
    if (root.contains("market") || root.contains("auction"))
      throw Error::config("[market]/[auction] are set but run.problem = \"landscape\"; remove them or set run.problem = \"auction\"");
    if (c.objective.metric != "f") throw Error::config("[objective] metric = '{}' does not apply to a landscape; set objective.metric = \"f\"", c.objective.metric);
  }
  return c;
}

std::unique_ptr<Problem> make_problem(const TuneConfig& cfg) {
  const auto seed = static_cast<uint64_t>(cfg.run.seed);
  if (cfg.run.problem == "landscape") return std::make_unique<LandscapeProblem>(cfg.landscape, seed);
  std::shared_ptr<const AuctionLog> log =
      cfg.run.logs.empty() ? std::make_shared<AuctionLog>(generate_market(cfg.market)) : std::make_shared<AuctionLog>(load_auction_log(cfg.run.logs));
  return std::make_unique<AuctionProblem>(log, cfg.auction, cfg.objective, seed);
}

nlohmann::ordered_json record_json(const IterationRecord& r, const std::vector<std::string>& names) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
  nlohmann::ordered_json j;
  j["iteration"] = r.iteration;
  j["replays"] = r.replays;
  j["estimate"] = num(r.estimate);
  j["estimate_lo"] = num(r.estimate_lo);
  j["estimate_hi"] = num(r.estimate_hi);
  j["ess"] = r.ess;
  j["feasible"] = r.feasible;
  j["true_value"] = r.true_value;
  j["regret"] = r.regret;
  j["found"] = r.found;
  for (std::size_t i = 0; i < names.size() && i < r.best.size(); ++i) j["theta_" + names[i]] = r.best[i];
  return j;
}

nlohmann::ordered_json run_tune(const TuneConfig& cfg, bool resume_dir) {
  auto problem = make_problem(cfg);
  RunDir dir(cfg.run.root, cfg.run.name, resume_dir);
  dir.write_config(cfg.resolved);
  const auto names = problem->names();
  Progress progress("iteration", cfg.tuner.method == "random" || cfg.tuner.method == "grid" || cfg.tuner.method == "cem"
                                     ? cfg.tuner.total_budget() / std::max<int64_t>(1, cfg.tuner.evals * cfg.tuner.population)
                                     : cfg.tuner.iterations);
  auto t0 = std::chrono::steady_clock::now();
  TuneResult res = run_tuner(*problem, cfg.tuner, static_cast<uint64_t>(cfg.run.seed), [&](const IterationRecord& r) {
    dir.metrics().append(record_json(r, names));
    if (cfg.run.progress)
      progress.update(r.iteration, fmt::format("est {:.4g}  true {:.4g}  regret {:.3g}  ess {:.0f}  replays {}", r.estimate, r.true_value, r.regret, r.ess, r.replays));
  });
  if (cfg.run.progress) progress.finish();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const IterationRecord& last = res.history.back();
  nlohmann::ordered_json s;
  s["method"] = cfg.tuner.method;
  s["problem"] = problem->name();
  if (cfg.tuner.method == "amis") s["amis"] = cfg.tuner.variant + "/" + cfg.tuner.update;
  s["objective"] = problem->objective().name;
  s["feasible"] = res.any_feasible;
  nlohmann::ordered_json th, prod, opt;
  const auto x0 = problem->production();
  for (std::size_t i = 0; i < names.size(); ++i) {
    th[names[i]] = res.best[i];
    prod[names[i]] = x0[i];
  }
  s["best_theta"] = th;
  s["production_theta"] = prod;
  s["estimate"] = std::isfinite(res.estimate) ? nlohmann::ordered_json(res.estimate) : nlohmann::ordered_json(nullptr);
  s["true_value"] = last.true_value;
  s["production_value"] = problem->true_value(x0);
  s["optimum_value"] = problem->optimum_value();
  s["regret"] = last.regret;
  s["found_global_mode"] = last.found;
  s["replays"] = res.replays;
  s["iterations"] = static_cast<int64_t>(res.history.size());
  s["stop_reason"] = res.stop_reason;
  if (std::isfinite(res.verify_simulated)) {
    s["verify_simulated"] = res.verify_simulated;
    s["verify_production_simulated"] = res.verify_production;
  }
  if (auto* ap = dynamic_cast<AuctionProblem*>(problem.get())) {
    for (std::size_t i = 0; i < names.size(); ++i) opt[names[i]] = ap->optimum()[i];
    s["optimum_theta"] = opt;
    s["production_kpis"] = ap->production_kpis().to_json();
    s["best_kpis"] = ap->oracle_kpis(res.best).to_json();
  }
  s["wall_seconds"] = wall;
  dir.write_summary(s);
  if (!res.any_feasible)
    throw Error::infeasible("no candidate met the constraints at its confidence bound in {} iterations (see {}/summary.json); "
                            "relax objective.max_click_drop / max_quality_drop, set objective.judge = \"estimate\", or raise tuner.traffic",
                            res.history.size(), dir.path().string());
  return s;
}

}  // namespace plexus::tune
