#include "plexus/fl/runner.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "plexus/core/device.h"
#include "plexus/core/log.h"
#include "plexus/core/progress.h"
#include "plexus/core/rng.h"
#include "plexus/core/run_dir.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/batched_eval.h"
#include "plexus/fl/batched_round.h"
#include "plexus/fl/communicator.h"
#include "plexus/fl/federation.h"
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

// Everything a run needs besides the config: data on the device, one trainer per worker, the state.
struct Session {
  const FlConfig& cfg;
  const AlgorithmSpec& spec;
  torch::Device device;
  data::FederatedData data;
  std::vector<LocalTrainer> trainers;
  Federation fed;
  Communicator comm;
  int64_t workers = 1;
  DpAggregator dp;  // DP algorithms only
  std::unique_ptr<BatchedTrainer> batched;  // run.client_batching = "auto" with a batchable model
};

// Summary statistics of the per-client accuracies of one evaluation.
struct Evaluation {
  double local_mean = NAN, local_std = NAN, global_acc = NAN, global_loss = NAN;
};

Evaluation evaluate(Session& s) {
  Evaluation e;
  std::vector<EvalStats> local;
  EvalStats global;
  if (s.spec.communication == Communication::Server) {
    // Server FL: aggregation wrote the global model x into every row, so x̄ = x: one pass of x over the test
    // set, then each client's local statistics by index (fl/batched_eval.h). (x itself is used rather than
    // the float mean of N identical rows, which can differ from x in the last bit.)
    auto per = evaluate_per_example(s.fed.X[0], s.data.test, s.trainers, s.workers);
    for (const auto& idx : s.data.client_test) local.push_back(per.of(idx));
    global = per.all();
  } else {
    local = evaluate_rows(s.fed.X, s.data.test, s.data.client_test, s.trainers, s.workers, s.batched.get());
    global = evaluate_model(s.fed.mean(), s.data.test, s.trainers, s.workers);
  }
  std::vector<double> acc;
  for (const auto& st : local) acc.push_back(st.accuracy());
  auto ms = mean_std(acc);
  e.local_mean = ms.mean, e.local_std = ms.std;
  e.global_acc = global.accuracy();
  e.global_loss = global.loss();
  return e;
}

std::vector<int64_t> participants(const Session& s, int64_t round) {
  const int64_t n = s.fed.clients();
  std::vector<int64_t> all;
  if (s.spec.communication != Communication::Server) {
    for (int64_t i = 0; i < n; ++i) all.push_back(i);
    return all;
  }
  if (s.spec.dp && s.dp.sampling() == privacy::Sampling::Poisson) {
    // Poisson sampling: each client joins independently with probability q (the accountant's model).
    Rng rng(s.cfg.run.seed, "client_sampling", 0, round);
    for (int64_t i = 0; i < n; ++i) {
      if (rng.uniform() < s.cfg.fl.client_fraction) all.push_back(i);
    }
    return all;
  }
  return sample_clients(s.cfg, round);
}

// Local training of the participants; returns their mean training loss.
double train_round(Session& s, const std::vector<int64_t>& who, int64_t round) {
  const auto& o = s.cfg.train;
  std::vector<double> losses(who.size());
  s.fed.M.zero_();
  if (s.batched) {
    // All participants as one batched computation, the same plans and batch streams as below.
    std::vector<const std::vector<int64_t>*> idx;
    std::vector<std::vector<StepPlan>> plans;
    std::vector<Rng> rngs;
    for (int64_t i : who) {
      idx.push_back(&s.data.client_train[i]);
      StepPlan plan;
      plan.sam = s.spec.sam;
      plan.steps = s.spec.single_step ? 1 : local_step_count(o, static_cast<int64_t>(idx.back()->size()));
      plan.lr = o.lr_at(round);
      plans.push_back({plan});
      rngs.emplace_back(s.cfg.run.seed, "batch", i, round);
    }
    losses = train_round_batched(*s.batched, s.fed.X, s.fed.M, s.data.train, who, idx, plans, rngs, o);
  } else parallel_for(static_cast<int64_t>(who.size()), s.workers, [&](int64_t w, int64_t k) {
    int64_t i = who[k];
    const auto& idx = s.data.client_train[i];
    StepPlan plan;
    plan.sam = s.spec.sam;
    plan.steps = s.spec.single_step ? 1 : local_step_count(o, static_cast<int64_t>(idx.size()));
    plan.lr = o.lr_at(round);
    Rng rng(s.cfg.run.seed, "batch", i, round);
    losses[k] = s.trainers[w].train(s.fed.X[i], s.fed.M[i], s.data.train, idx, o, plan, rng);
  });
  double sum = 0;
  for (double l : losses) sum += l;
  return who.empty() ? 0.0 : sum / who.size();
}

void save(Session& s, RunDir& dir, int64_t round_done) {
  Checkpoint ck;
  s.fed.save_into(ck);
  ck.meta = {{"round", round_done}, {"algorithm", s.cfg.fl.algorithm}};
  if (s.spec.dp) ck.meta["privacy_ledger"] = s.dp.accountant().to_json();
  save_round_checkpoint(dir, ck, round_done, s.cfg.run.keep_checkpoints);
}

}  // namespace

RunResult run_fl(const FlConfig& cfg, bool resume) {
  const auto& spec = find_algorithm(cfg.fl.algorithm);
  torch::Device device = resolve_device(cfg.run.device);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);

  // Parallelism comes from training clients concurrently (see setup_workers).
  const int64_t workers = setup_workers(cfg.run, device, batching_enabled(cfg.run.client_batching, cfg.model, device));

  auto t_load = Clock::now();
  Session s{cfg, spec, device, load_data_on(cfg, device), {}, {}, {}, workers};
  // x^0: one initialization shared by every client.
  auto model0 = initial_model(cfg, s.data);
  auto layout = nn::ParamLayout::of(*model0);
  s.fed = Federation::replicate(layout, layout.flatten(*model0), cfg.fl.clients, device);
  s.trainers = make_trainers(cfg, s.data, model0, layout, workers, device);
  if (batching_enabled(cfg.run.client_batching, cfg.model, device)) {
    s.batched = std::make_unique<BatchedTrainer>(cfg.model, layout, device);
  }
  s.comm = Communicator(spec.communication, cfg.topology, cfg.fl.clients, seed, cfg.fl.gossip_steps);
  if (spec.dp) s.dp = DpAggregator(cfg.privacy, spec.sparsifier, layout, cfg.fl.clients, cfg.fl.client_fraction, seed);
  log_info("fl: {} on {} ({} train / {} test), {} clients, model {} with P = {} parameters, device {}, {} "
           "worker(s); loaded in {:.1f}s",
           spec.title, s.data.train.name, s.data.train.size(), s.data.test.size(), cfg.fl.clients, cfg.model.name,
           layout.size(), device.str(), workers, seconds_since(t_load));
  if (spec.communication != Communication::Server) log_info("fl: topology {}", s.comm.describe());

  // The run directory is opened only now, so a bad dataset, model or topology leaves nothing behind.
  fs::path ckpt_path;
  RunDir dir = open_run(cfg, resume, ckpt_path);
  int64_t start = 0;
  if (resume) {
    auto ck = load_checkpoint(ckpt_path);
    s.fed.load_from(ck);
    start = ck.meta.at("round").get<int64_t>();
    if (spec.dp) {
      if (!ck.meta.contains("privacy_ledger")) throw Error::data("checkpoint '{}' lacks the privacy ledger", ckpt_path.string());
      s.dp.accountant() = privacy::Accountant::from_json(ck.meta.at("privacy_ledger"));
    }
    dir.metrics().truncate_after("round", start);
    log_info("fl: resuming after round {} from {}", start, ckpt_path.string());
  }

  Progress progress("round", cfg.fl.rounds, start + 1);
  RunResult result;
  result.run_dir = dir.path().string();
  double best_local = -1;
  int64_t best_round = 0;
  auto t_run = Clock::now();
  for (int64_t t = start; t < cfg.fl.rounds; ++t) {
    auto t0 = Clock::now();
    auto who = participants(s, t);
    torch::Tensor x_old;
    if (spec.communication == Communication::GossipCombineFirst) x_old = s.fed.X.clone();
    if (spec.dp) x_old = s.fed.X[0].clone();  // server FL: every row holds the global model before training
    double train_loss = train_round(s, who, t);
    double t_train = seconds_since(t0);
    auto t1 = Clock::now();
    DpRoundStats dp_stats;
    if (spec.dp) dp_stats = s.dp.aggregate(s.fed, x_old, who, t);
    else s.comm.communicate(s.fed, who, s.data.client_train, t, x_old);
    double t_comm = seconds_since(t1);
    const int64_t r = t + 1;  // reported round number
    bool eval_now = r % cfg.fl.eval_every == 0 || r == cfg.fl.rounds;
    auto t2 = Clock::now();
    Evaluation ev = eval_now ? evaluate(s) : Evaluation{};
    double t_eval = seconds_since(t2);
    nlohmann::ordered_json row;
    row["round"] = r;
    row["lr"] = cfg.train.lr_at(t);
    row["train_loss"] = train_loss;
    row["local_acc_mean"] = ev.local_mean;
    row["local_acc_std"] = ev.local_std;
    row["global_acc"] = ev.global_acc;
    row["global_loss"] = ev.global_loss;
    row["consensus_distance"] = s.fed.consensus_distance();
    row["participants"] = static_cast<int64_t>(who.size());
    if (spec.dp) {
      auto eps = s.dp.epsilon();
      row["epsilon"] = eps.epsilon;
      row["delta"] = cfg.privacy.delta;
      row["rdp_order"] = eps.best_order;
      row["update_norm"] = dp_stats.mean_update_norm;
      row["clipped_fraction"] = dp_stats.clipped_fraction;
    }
    row["seconds_train"] = t_train;
    row["seconds_comm"] = t_comm;
    row["seconds_eval"] = t_eval;
    row["seconds"] = seconds_since(t0);
    row = nan_to_null(row);
    dir.metrics().append(row);
    if (eval_now && ev.local_mean > best_local) best_local = ev.local_mean, best_round = r;
    std::string line = eval_now ? fmt::format("loss {:.4f}  acc {:.4f} ± {:.4f}  global {:.4f}  cons {:.3g}",
                                              train_loss, ev.local_mean, ev.local_std, ev.global_acc,
                                              row["consensus_distance"].get<double>())
                                : fmt::format("loss {:.4f}", train_loss);
    if (spec.dp) line += fmt::format("  eps {:.3f}", row["epsilon"].get<double>());
    progress.update(r, line);
    if (r == cfg.fl.rounds || (cfg.run.checkpoint_every > 0 && r % cfg.run.checkpoint_every == 0)) save(s, dir, r);
  }
  progress.finish();

  result.rows = dir.metrics().rows();
  const auto& last = result.rows.back();
  nlohmann::ordered_json sum;
  sum["algorithm"] = spec.title;
  sum["source"] = spec.source;
  sum["clients"] = cfg.fl.clients;
  sum["rounds"] = cfg.fl.rounds;
  sum["parameters"] = layout.size();
  sum["final_local_acc_mean"] = last["local_acc_mean"];
  sum["final_local_acc_std"] = last["local_acc_std"];
  sum["final_global_acc"] = last["global_acc"];
  sum["final_consensus_distance"] = last["consensus_distance"];
  if (spec.dp) {
    auto eps = s.dp.epsilon();
    sum["epsilon"] = eps.epsilon;
    sum["delta"] = cfg.privacy.delta;
    sum["rdp_order"] = eps.best_order;
    sum["sampling"] = cfg.privacy.sampling;
    if (eps.at_edge) log_warn("privacy: the best RDP order {} lies on the edge of the order set", eps.best_order);
  }
  // Best round over this process's evaluations and any earlier (resumed) rows.
  for (const auto& row : result.rows) {
    if (row["local_acc_mean"].is_number() && row["local_acc_mean"].get<double>() > best_local) {
      best_local = row["local_acc_mean"].get<double>(), best_round = row["round"].get<int64_t>();
    }
  }
  sum["best_local_acc_mean"] = best_local;
  sum["best_round"] = best_round;
  sum["seconds"] = seconds_since(t_run);
  sum["run_dir"] = result.run_dir;
  dir.write_summary(sum);
  result.summary = sum;
  log_info("fl: done: local acc {:.4f} ± {:.4f}, global acc {:.4f} (best local {:.4f} at round {}); results in {}",
           last["local_acc_mean"].get<double>(), last["local_acc_std"].get<double>(), last["global_acc"].get<double>(),
           best_local, best_round, result.run_dir);
  return result;
}

}  // namespace plexus::fl
