#include "plexus/tune/tune_runner.h"

#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "plexus/core/error.h"
#include "plexus/core/progress.h"
#include "plexus/core/run_dir.h"
#include "plexus/core/run_lifecycle.h"
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
  std::vector<SectionDoc> out = {section_doc("tune", TuneRunOptions::schema()), section_doc("tune", MarketOptions::schema()),
          section_doc("tune", AuctionProblemOptions::schema()), section_doc("tune", LandscapeOptions::schema()),
          section_doc("tune", ObjectiveOptions::schema())};
  out.push_back(section_doc("tune", TunerOptions::schema()));
  out.push_back(section_doc("tune", GuardOptions::schema()));
  for (const auto& info : tuner_registry()) out.push_back(info.doc());
  return out;
}

TuneConfig parse_tune_config(const toml::table& root) {
  std::vector<std::string> sections = {"run", "market", "auction", "landscape", "tuner", "guard", "objective"};
  for (const auto& n : tuner_names()) sections.push_back(n);  // one section per registered tuner
  check_sections(root, sections);
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
    if (!root["tuner"]["method"]) throw Error::config("[tuner] method is required (one of: {})", fmt::join(tuner_names(), ", "));
    c.tuner = TunerOptions::parse(t);
    keep("tuner", t);
  }
  c.info = &find_tuner(c.tuner.method);
  for (const auto& info : tuner_registry()) {
    if (info.name != c.tuner.method && !root.contains(info.name)) continue;
    auto t = section(info.name.c_str());
    auto built = info.make(t);  // checks every tuner section present, not only the method's
    if (info.name == c.tuner.method) {
      c.method = built;
      keep(info.name.c_str(), t);
    }
  }
  {
    auto t = section("guard");
    c.guard = GuardOptions::parse(t);
    keep("guard", t);
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
  j["stage"] = r.stage;
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

nlohmann::ordered_json guard_json(const Problem& p, const GuardReport& g) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
  const auto names = p.names();
  auto theta = [&](const std::vector<double>& x) {
    nlohmann::ordered_json t;
    for (std::size_t i = 0; i < names.size() && i < x.size(); ++i) t[names[i]] = x[i];
    return t;
  };
  nlohmann::ordered_json j;
  j["shipped"] = g.shipped;
  j["held_back"] = !g.shipped;
  j["reason"] = g.shipped ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(g.reason);
  j["data"] = g.data;
  j["confidence"] = g.confidence;
  j["finalists"] = g.finalists;
  j["best_finalist"] = g.candidate.empty() ? nlohmann::ordered_json(nullptr) : theta(g.candidate);
  j["selection_requests"] = g.selection_requests;
  j["confirmation_requests"] = g.confirmation_requests;
  j["confirmation_ess"] = g.confirmation_ess;
  j["replays"] = g.replays;
  // Per KPI: the best finalist vs production on the confirmation traffic, gain and ratio with their CIs
  // (two-sided at the guard's one-sided level, so `gain_lo` is the bound the guard judged).
  nlohmann::ordered_json kpis = nlohmann::ordered_json::object();
  const ObjectiveSpec& spec = p.objective();
  for (std::size_t k = 0; k < g.kpis.size(); ++k) {
    const KpiComparison& c = g.kpis[k];
    nlohmann::ordered_json e;
    e["finalist"] = num(c.candidate);
    e["production"] = num(c.production);
    e["gain"] = num(c.gain);
    e["gain_ci"] = {num(c.gain_lo), num(c.gain_hi)};
    e["ratio"] = num(c.ratio);
    e["ratio_ci"] = {num(c.ratio_lo), num(c.ratio_hi)};
    if (k >= 1 && k - 1 < g.margins.size()) {
      const Constraint& con = spec.constraints[k - 1];
      e["floor_ratio"] = con.reference > 0 ? con.floor / con.reference : con.floor;
      e["margin"] = num(g.margins[k - 1]);
    }
    kpis[c.name] = e;
  }
  j["kpis"] = kpis;
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
  RunDir dir(cfg.run.out_dir, cfg.run.name, resume_dir);  // locked while the tuner runs
  RunSpec spec;  // tuning has no checkpoints: a fresh start that records the config and the auction log used
  spec.config = &cfg.resolved;
  if (!cfg.run.logs.empty()) {
    std::error_code ec;
    FingerprintBuilder fp("auction log at " + std::filesystem::weakly_canonical(std::filesystem::absolute(cfg.run.logs), ec).string());
    fp.add("logs", read_file(cfg.run.logs), 1);
    spec.data = fp.finish();
  }
  start_run(dir, spec, false);
  const auto names = problem->names();
  Progress progress("iteration", cfg.method->planned_iterations(cfg.tuner) + (cfg.info->importance_sampling && cfg.guard.enabled ? 1 : 0));
  auto t0 = std::chrono::steady_clock::now();
  TuneResult res = run_tuner(*problem, *cfg.info, *cfg.method, cfg.tuner, cfg.guard, static_cast<uint64_t>(cfg.run.seed), [&](const IterationRecord& r) {
    dir.metrics().append(record_json(r, names));
    if (cfg.run.progress)
      progress.update(r.iteration, fmt::format("{}est {}  true {:.4g}  regret {:.3g}  ess {:.0f}  replays {}", r.stage == "final" ? "final  " : "",
                                               // no feasible pick yet: say so (metrics.csv leaves it empty)
                                               std::isfinite(r.estimate) ? fmt::format("{:.4g}", r.estimate) : std::string("none"),
                                               r.true_value, r.regret, r.ess, r.replays));
  });
  if (cfg.run.progress) progress.finish();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const IterationRecord& last = res.history.back();
  auto theta = [&](const std::vector<double>& x) {
    nlohmann::ordered_json t;
    for (std::size_t i = 0; i < names.size() && i < x.size(); ++i) t[names[i]] = x[i];
    return t;
  };
  const auto x0 = problem->production();
  const double production_value = problem->true_value(x0);
  nlohmann::ordered_json s;
  s["method"] = cfg.tuner.method;
  s["problem"] = problem->name();
  s["objective"] = problem->objective().name;
  s["recommendation"] = theta(res.best);
  s["production_theta"] = theta(x0);
  s["recommends_production"] = res.best == x0;
  if (res.guard.ran) s["guard"] = guard_json(*problem, res.guard);
  s["feasible"] = res.any_feasible;
  s["estimate"] = std::isfinite(res.estimate) ? nlohmann::ordered_json(res.estimate) : nlohmann::ordered_json(nullptr);
  s["replays"] = res.replays;
  s["iterations"] = static_cast<int64_t>(std::count_if(res.history.begin(), res.history.end(), [](const auto& r) { return r.stage == "iterate"; }));
  s["stop_reason"] = res.stop_reason;
  // Known only because this is a simulated marketplace (metrics, not inputs of the tuner):
  s["true_value"] = last.true_value;
  s["production_value"] = production_value;
  s["true_gain"] = last.true_value - production_value;
  s["optimum_value"] = problem->optimum_value();
  s["regret"] = last.regret;
  s["found_global_mode"] = last.found;
  if (std::isfinite(res.verify_simulated)) {
    s["verify_simulated"] = res.verify_simulated;
    s["verify_production_simulated"] = res.verify_production;
  }
  if (auto* ap = dynamic_cast<AuctionProblem*>(problem.get())) {
    s["optimum_theta"] = theta(ap->optimum());
    s["production_kpis"] = ap->production_kpis().to_json();
    s["recommendation_kpis"] = ap->oracle_kpis(res.best).to_json();
  }
  if (cfg.info->uses_simulator) {
    // The simulator's own optimum next to the true one: how far its click model's bias moves it.
    auto xs = problem->simulator_optimum();
    if (!xs.empty()) {
      s["simulator_optimum_theta"] = theta(xs);
      s["simulator_optimum_true_value"] = problem->true_value(xs);
    }
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
