#include "plexus/tune/tune_runner.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <thread>

#include "plexus/core/error.h"
#include "plexus/core/progress.h"
#include "plexus/core/run_dir.h"
#include "plexus/tune/log_io.h"

namespace plexus::tune {

const OptionSchema<TuneRunOptions>& TuneRunOptions::schema() {
  using R = TuneRunOptions;
  static const auto s =
      OptionSchema<R>("run")
          .include_base(plexus::RunOptions::schema())
          .key("problem", &R::problem, "what is tuned: the GSP `auction` or a synthetic `landscape`",
               one_of({"auction", "landscape"}))
          .key("logs", &R::logs, "auction log file (`plexus tune generate`); empty = generate one from [market]")
          .key("progress", &R::progress, "print a progress line per iteration");
  return s;
}

TuneRunOptions TuneRunOptions::parse(ConfigTable& t) {
  TuneRunOptions o = schema().parse(t);
  plexus::RunOptions::check_name(t, o.name);
  t.require(o.device == "cpu", "device", "tuning replays auctions on the CPU; set run.device = \"cpu\"");
  return o;
}

std::vector<SectionDoc> config_docs() {
  return {section_doc("tune", TuneRunOptions::schema()), section_doc("tune", MarketOptions::schema()),
          section_doc("tune", AuctionProblemOptions::schema()), section_doc("tune", LandscapeOptions::schema()),
          section_doc("tune", ObjectiveOptions::schema())};
}

TuneConfig parse_tune_config(const toml::table& root) {
  check_sections(root, {"run", "market", "auction", "landscape", "tuner", "objective"});
  TuneConfig c;
  auto section = [&](const char* name) { return ConfigTable(section_table(root, name), name); };
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
  // Every table is parsed (so a typo anywhere is reported as such); the resolved config keeps the ones the
  // problem uses.
  auto m = section("market");
  c.market = MarketOptions::parse(m);
  auto a = section("auction");
  c.auction = AuctionProblemOptions::parse(a);
  auto l = section("landscape");
  c.landscape = LandscapeOptions::parse(l);
  if (c.run.problem == "auction") {
    keep("market", m);
    keep("auction", a);
    // Replay threads: results do not depend on them (tests/tune/replay_test.cpp).
    c.auction.threads = static_cast<int>(
        c.run.threads > 0 ? c.run.threads : std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 256));
    if (root.contains("landscape")) throw Error::config("[landscape] is set but run.problem = \"auction\"; remove it or set run.problem = \"landscape\"");
  } else {
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
  const auto run_path = std::filesystem::path(cfg.run.out_dir) / cfg.run.name;
  if (!resume_dir && std::filesystem::exists(run_path / "metrics.jsonl")) {
    // `plexus tune run` has no --resume (a tuning run is cheap to repeat): the fix is another name.
    throw Error::config("run directory '{}' already holds results; choose another name (--name NAME or --set "
                        "run.name=NAME) or remove the directory", clip_text(run_path.string()));
  }
  auto problem = make_problem(cfg);
  RunDir dir(cfg.run.out_dir, cfg.run.name, resume_dir);
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
