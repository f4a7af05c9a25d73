#include "plexus/fl/runner.h"

#include <fmt/ranges.h>  // fmt::join (not in fmt/format.h on fmt >= 11)

#include <filesystem>
#include <optional>

#include "plexus/core/log.h"
#include "plexus/core/progress.h"
#include "plexus/core/run_dir.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/batched_round.h"
#include "plexus/dist/group.h"
#include "plexus/fl/ranked.h"
#include "plexus/fl/run_support.h"
#include "plexus/fl/worker_pool.h"

namespace plexus::fl {

namespace fs = std::filesystem;

FlConfig load_fl_config(const std::string& path, const std::vector<std::string>& overrides) {
  auto root = load_toml(path);
  for (const auto& s : overrides) apply_override(root, s);
  return FlConfig::parse(root);
}

namespace {

// The participants' plans when the round can run on the batched engine (a session with one, a rule with
// plans for every participant), else nullopt.
std::optional<std::vector<std::vector<StepPlan>>> batched_plans(const Session& s, const LocalRule& rule,
                                                                const torch::Tensor& Z, const std::vector<int64_t>& who,
                                                                int64_t round) {
  if (!s.batched) return std::nullopt;
  std::vector<std::vector<StepPlan>> plans;
  for (int64_t c : who) {
    auto p = rule.plans(c, round, Z[c]);
    if (!p) return std::nullopt;
    plans.push_back(std::move(*p));
  }
  return plans;
}

// Local training of the participants `who` on their rows of `Z` (the communicator's models): one batched
// computation when the rule allows it, else client by client on the worker threads. Returns each
// participant's mean training loss, in `who`'s order (RankedRun::mean_loss averages them).
std::vector<double> train_round(Session& s, LocalRule& rule, torch::Tensor Z, const std::vector<int64_t>& who,
                                int64_t round) {
  std::vector<double> losses(who.size());
  if (auto plans = batched_plans(s, rule, Z, who, round)) {
    std::vector<const std::vector<int64_t>*> idx;
    std::vector<Rng> rngs;
    for (int64_t c : who) {
      idx.push_back(&s.data.client_train[c]);
      rngs.emplace_back(s.seed, "batch", static_cast<uint64_t>(c), static_cast<uint64_t>(round));
    }
    losses = train_round_batched(*s.batched, Z, s.fed.M, s.data.train, who, idx, *plans, rngs, s.cfg.train);
  } else {
    parallel_for(static_cast<int64_t>(who.size()), s.workers, [&](int64_t w, int64_t k) {
      losses[k] = rule.train(s.trainers[w], who[k], round, Z[who[k]], s.fed.M[who[k]]);
    });
  }
  return losses;
}

void save(const Session& s, const Parts& parts, RunDir& dir, int64_t round_done) {
  Checkpoint ck;
  s.fed.save_into(ck);
  ck.meta = {{"round", round_done}, {"algorithm", s.cfg.fl.algorithm}};
  for (const Part* p : parts.all()) p->save(ck);
  save_round_checkpoint(dir, ck, round_done, s.cfg.run.keep_checkpoints);
}

// Restore the state after round `start` from `path`; returns `start`. `dir` is null on ranks other than 0
// (they read the checkpoint; rank 0 alone truncates the metrics).
int64_t restore(Session& s, const Parts& parts, RunDir* dir, const fs::path& path) {
  auto ck = load_checkpoint(path);
  s.fed.load_from(ck);
  for (Part* p : parts.all()) p->load(ck, path.string());
  const int64_t start = ck.meta.at("round").get<int64_t>();
  if (dir) dir->metrics().truncate_after("round", start);
  log_info("fl: resuming after round {} from {}", start, path.string());
  return start;
}

Row summary(const Session& s, const Algorithm& algo, const Parts& parts, const Rows& rows) {
  Row sum;
  sum["algorithm"] = algo.title;
  sum["source"] = algo.source;
  sum["clients"] = s.cfg.fl.clients;
  sum["rounds"] = s.cfg.fl.rounds;
  sum["parameters"] = s.layout.size();
  for (const Part* p : parts.all()) p->summary(sum, rows);
  return sum;
}

}  // namespace

RunResult run_fl(const FlConfig& cfg, bool resume, dist::Group* group) {
  const Algorithm& algo = find_algorithm(cfg.fl.algorithm);
  if (group) check_ranked(cfg, group->size());
  if (algo.run) return algo.run(cfg, resume);
  auto t_load = Clock::now();
  Session s = open_session(cfg);
  Parts parts = algo.build(s);
  RankedRun ranks(s, group);  // one process: every method answers as the plain loop
  parts.comm = ranks.wrap(s, std::move(parts.comm), *parts.rule);
  log_info("fl: {} on {} ({} train / {} test), {} clients, model {} with P = {} parameters, device {}, {} "
           "worker(s); loaded in {:.1f}s", algo.title, s.data.train.name, s.data.train.size(), s.data.test.size(),
           cfg.fl.clients, cfg.model.name, s.layout.size(),
           s.device.str(), s.workers, seconds_since(t_load));
  log_info("fl: communication {}", parts.comm->describe());

  // The run directory is opened only now, so a bad dataset, model or topology leaves nothing behind. Rank 0
  // alone opens it; the other ranks resume from the checkpoint rank 0 names.
  fs::path ckpt_path;
  std::optional<RunDir> dir;
  if (ranks.lead()) dir.emplace(open_run(cfg, s.data, resume, ckpt_path));
  ckpt_path = ranks.share("resume_checkpoint", ckpt_path.string());
  const int64_t start = resume ? restore(s, parts, dir ? &*dir : nullptr, ckpt_path) : 0;

  // The run's time before this session (a resume): its summary's `seconds` and `seconds_elapsed` continue it.
  const double before = dir ? elapsed_before(dir->metrics().rows()) : 0.0;
  Progress progress("round", cfg.fl.rounds, start + 1);
  auto t_run = Clock::now();
  for (int64_t t = start; t < cfg.fl.rounds; ++t) {
    const int64_t r = t + 1;  // reported round number
    const bool eval_now = r % cfg.fl.eval_every == 0 || r == cfg.fl.rounds;
    auto t0 = Clock::now();
    double t_eval = 0;
    auto timed_eval = [&](auto&& hook) { auto te = Clock::now(); hook(); t_eval += seconds_since(te); };

    // Every rank evaluates its own clients; rank 0 combines the results (eval_ranks.h).
    timed_eval([&] { parts.eval->before_training(t, eval_now); });
    auto t1 = Clock::now();
    auto who = parts.comm->participants(t);
    parts.comm->before_training(who, t);
    const auto mine = ranks.own(who);
    const auto losses = train_round(s, *parts.rule, parts.comm->models(), mine, t);
    const double train_loss = ranks.mean_loss(who, mine, losses);
    const double t_train = seconds_since(t1);
    ranks.after_training(who, t);  // several ranks: the rule's state and the rows rank 0 checkpoints
    timed_eval([&] { parts.eval->after_training(t, eval_now); });
    auto t2 = Clock::now();
    parts.comm->communicate(who, t);
    const double t_comm = seconds_since(t2);
    timed_eval([&] { parts.eval->after_communication(t, eval_now); });
    const bool save_now = r == cfg.fl.rounds || (cfg.run.checkpoint_every > 0 && r % cfg.run.checkpoint_every == 0);
    if (save_now) ranks.before_checkpoint(s.fed);
    if (!ranks.lead()) continue;  // rank 0 alone writes the metrics and checkpoints

    Row row;
    row["round"] = r;
    row["lr"] = cfg.train.lr_at(t);
    row["train_loss"] = train_loss;
    for (const Part* p : parts.all()) p->columns(row);
    row["seconds_train"] = t_train;
    row["seconds_comm"] = t_comm;
    row["seconds_eval"] = t_eval;
    row["seconds"] = seconds_since(t0);
    row["seconds_elapsed"] = before + seconds_since(t_run);  // the run's wall time so far, over every session
    dir->metrics().append(nan_to_null(row));
    std::string line = fmt::format("loss {:.4f}", train_loss);
    for (const Part* p : parts.all()) line += p->progress(eval_now);
    progress.update(r, line);
    if (save_now) save(s, parts, *dir, r);
  }
  progress.finish();
  if (s.batched) {  // every rank: whether run.cuda_graphs replayed the batched step (bench/fl_ranks_gpu.sh reads it)
    const auto [captured, replayed] = s.batched->graph_counts();
    if (captured + replayed > 0) log_info("fl: batched step: {} CUDA graph(s) captured, {} replays", captured, replayed);
  }

  RunResult result;
  if (!ranks.lead()) {
    log_info("fl: rank {} done", ranks.rank());
    return result;
  }
  result.run_dir = dir->path().string();
  result.rows = dir->metrics().rows();
  result.summary = summary(s, algo, parts, result.rows);
  result.summary["seconds"] = before + seconds_since(t_run);  // the whole run's, resumes included
  result.summary["run_dir"] = result.run_dir;
  dir->write_summary(result.summary);
  const auto& last = result.rows.back();
  // Four decimals as in the progress lines; null (no evaluated round) stays "null". Full precision is in the files.
  auto acc = [](const auto& v) { return v.is_number() ? fmt::format("{:.4f}", v.template get<double>()) : v.dump(); };
  log_info("fl: done: local acc {} (best {} at round {}); results in {}", acc(last["local_acc_mean"]),
           acc(result.summary["best_local_acc_mean"]), result.summary["best_round"].dump(), result.run_dir);
  return result;
}

}  // namespace plexus::fl
