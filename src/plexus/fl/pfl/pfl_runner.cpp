#include "plexus/fl/pfl/pfl_runner.h"

#include <fmt/ranges.h>  // fmt::join (not in fmt/format.h on fmt >= 11)

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "plexus/core/checkpoint.h"
#include "plexus/core/device.h"
#include "plexus/core/log.h"
#include "plexus/core/progress.h"
#include "plexus/core/rng.h"
#include "plexus/core/run_dir.h"
#include "plexus/fl/batched_eval.h"
#include "plexus/fl/batched_round.h"
#include "plexus/fl/federation.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/pfl/alternating_trainer.h"
#include "plexus/fl/pfl/pfl_comm.h"
#include "plexus/fl/run_support.h"
#include "plexus/fl/worker_pool.h"

namespace plexus::fl {

namespace fs = std::filesystem;

namespace {


struct PflSession {
  const FlConfig& cfg;
  const PflSpec& spec;
  torch::Device device;
  data::FederatedData data;
  std::vector<LocalTrainer> trainers;
  Federation fed;       // X: models (push-sum: numerators U), M: momentum rows
  torch::Tensor mu;     // [N] float64 push-sum weights (ones unless push-sum)
  torch::Tensor V;      // [N,P] Ditto's personal models (undefined otherwise)
  PflColumns cols;
  PflCommunicator comm;
  std::vector<double> scale;  // per-client step multipliers s_i
  std::vector<int64_t> sizes;
  int64_t workers = 1;
  std::unique_ptr<BatchedTrainer> batched;  // run.client_batching = "auto" with a batchable model
};

// The de-biased models Z = U/μ on the communicated columns (X itself without push-sum weights).
torch::Tensor models(const PflSession& s) {
  if (s.spec.ditto) return s.V;
  return s.comm.uses_weights() ? push_sum_debias(s.fed.X, s.mu, s.cols.communicated) : s.fed.X;
}

// Personalized accuracy of every client's row of Z on its own test set.
std::vector<double> evaluate_all(PflSession& s, const torch::Tensor& Z, int64_t round, bool finetune) {
  const int64_t n = s.fed.clients();
  std::vector<double> acc(n);
  if (s.batched && (!finetune || s.spec.finetune == PflFinetune::None)) {
    // No fine-tuning: every client's row on its local test set in one batched pass (fl/batched_eval.h).
    auto st = evaluate_rows(Z, s.data.test, s.data.client_test, s.trainers, s.workers, s.batched.get());
    for (int64_t i = 0; i < n; ++i) acc[i] = st[i].accuracy();
    return acc;
  }
  parallel_for(n, s.workers, [&](int64_t w, int64_t i) {
    ClientRound cr{i, round, static_cast<uint64_t>(s.cfg.run.seed), s.scale[i]};
    acc[i] = personalized_eval(s.trainers[w], s.spec, s.cfg.personalization, s.cfg.train, s.cols, Z[i],
                               s.data.train, s.data.client_train[i], s.data.test, s.data.client_test[i], cr, finetune)
                 .accuracy();
  });
  return acc;
}

std::vector<int64_t> participants(const PflSession& s, int64_t round) {
  const int64_t n = s.fed.clients();
  if (s.spec.comm != PflComm::Server) {
    std::vector<int64_t> all(n);
    for (int64_t i = 0; i < n; ++i) all[i] = i;
    return all;
  }
  return sample_clients(s.cfg, round);
}

// Local training of `who` on Z (a copy for push-sum, X itself otherwise); returns the mean training loss.
double train_round(PflSession& s, torch::Tensor& Z, const std::vector<int64_t>& who, int64_t round) {
  std::vector<double> losses(who.size());
  const bool debiased = s.comm.uses_weights();
  if (s.batched && !s.spec.ditto) {
    // All clients' plans as batched computations (fl/batched_round.h): the same plans and batch streams.
    std::vector<const std::vector<int64_t>*> idx;
    std::vector<std::vector<StepPlan>> plans;
    std::vector<Rng> rngs;
    for (int64_t i : who) {
      ClientRound cr{i, round, static_cast<uint64_t>(s.cfg.run.seed), s.scale[i]};
      idx.push_back(&s.data.client_train[i]);
      plans.push_back(client_plans(s.spec, s.cfg.personalization, s.cfg.train, s.cols, s.sizes[i], cr));
      rngs.emplace_back(cr.seed, "batch", static_cast<uint64_t>(i), static_cast<uint64_t>(round));
    }
    torch::NoGradGuard no_grad;
    auto rows = torch::tensor(who, torch::kInt64).to(Z.device());
    torch::Tensor z0 = debiased ? Z.index_select(0, rows) : torch::Tensor();
    losses = train_round_batched(*s.batched, Z, s.fed.M, s.data.train, who, idx, plans, rngs, s.cfg.train);
    // SGP: the local change goes to the numerator, u_i ← u_i + (z_i' − z_i) (as below).
    if (debiased) s.fed.X.index_add_(0, rows, Z.index_select(0, rows) - z0);
  } else parallel_for(static_cast<int64_t>(who.size()), s.workers, [&](int64_t w, int64_t k) {
    const int64_t i = who[k];
    ClientRound cr{i, round, static_cast<uint64_t>(s.cfg.run.seed), s.scale[i]};
    if (s.spec.ditto) {
      // Personal v_i first, with the proximal anchor w^t = the global model the client holds now.
      train_ditto_personal(s.trainers[w], s.cfg.personalization, s.cfg.train, s.V[i], s.fed.X[i].clone(),
                           s.data.train, s.data.client_train[i],
                           scaled_steps(local_step_count(s.cfg.train, s.sizes[i]), s.scale[i]), cr);
      losses[k] = train_client(s.trainers[w], s.spec, s.cfg.personalization, s.cfg.train, s.cols, s.fed.X[i],
                               s.fed.M[i], s.data.train, s.data.client_train[i], cr);
      return;
    }
    auto z = Z[i];
    torch::Tensor z0 = debiased ? z.clone() : torch::Tensor();
    losses[k] = train_client(s.trainers[w], s.spec, s.cfg.personalization, s.cfg.train, s.cols, z, s.fed.M[i],
                             s.data.train, s.data.client_train[i], cr);
    if (debiased) {
      // SGP: the local change goes to the numerator, u_i ← u_i + (z_i' − z_i); on the personal columns
      // u_i = z_i, so this also stores the trained head.
      torch::NoGradGuard no_grad;
      s.fed.X[i].add_(z - z0);
    }
  });
  double sum = 0;
  for (double l : losses) sum += l;
  return who.empty() ? 0.0 : sum / static_cast<double>(who.size());
}

void save(PflSession& s, RunDir& dir, int64_t round_done) {
  Checkpoint ck;
  s.fed.save_into(ck);
  ck.tensors["mu"] = s.mu;
  if (s.spec.ditto) ck.tensors["V"] = s.V;
  ck.meta = {{"round", round_done}, {"algorithm", s.cfg.fl.algorithm}};
  save_round_checkpoint(dir, ck, round_done, s.cfg.run.keep_checkpoints);
}

}  // namespace

RunResult run_pfl(const FlConfig& cfg, bool resume) {
  const auto& spec = find_pfl_algorithm(cfg.fl.algorithm);
  const auto& pers = cfg.personalization;
  torch::Device device = resolve_device(cfg.run.device);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);

  const int64_t workers = setup_workers(cfg.run, device, batching_enabled(cfg.run.client_batching, cfg.model, device));

  auto t_load = Clock::now();
  PflSession s{cfg, spec, device, load_data_on(cfg, device)};
  s.workers = workers;
  auto model0 = initial_model(cfg, s.data);
  auto head = pers.head.empty() ? std::vector<std::string>{model0->head_prefix()} : pers.head;
  auto layout = nn::ParamLayout::of(*model0, head);
  s.cols = pfl_columns(spec, layout);
  s.fed = Federation::replicate(layout, layout.flatten(*model0), cfg.fl.clients, device);
  s.mu = torch::ones({cfg.fl.clients}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  if (spec.ditto) s.V = s.fed.X.clone();
  s.trainers = make_trainers(cfg, s.data, model0, layout, workers, device);
  if (batching_enabled(cfg.run.client_batching, cfg.model, device)) {
    s.batched = std::make_unique<BatchedTrainer>(cfg.model, layout, device);
  }
  s.comm = PflCommunicator(spec, pers, cfg.topology, cfg.fl.clients, seed);
  for (int64_t i = 0; i < cfg.fl.clients; ++i) {
    s.scale.push_back(step_scale(pers, seed, i));
    s.sizes.push_back(static_cast<int64_t>(s.data.client_train[i].size()));
  }
  log_info("pfl: {} on {} ({} train / {} test), {} clients, model {} with P = {} ({} personal: {}), device {}, "
           "{} worker(s); loaded in {:.1f}s",
           spec.title, s.data.train.name, s.data.train.size(), s.data.test.size(), cfg.fl.clients, cfg.model.name,
           layout.size(), layout.size() - layout.shared_size(), fmt::join(head, ","), device.str(), workers,
           seconds_since(t_load));
  log_info("pfl: communication {}", s.comm.describe());

  // The run directory is opened only now, so a bad dataset, model or topology leaves nothing behind.
  fs::path ckpt_path;
  RunDir dir = open_run(cfg, resume, ckpt_path);
  int64_t start = 0;
  if (resume) {
    auto ck = load_checkpoint(ckpt_path);
    s.fed.load_from(ck);
    auto it = ck.tensors.find("mu");
    if (it == ck.tensors.end() || it->second.sizes() != s.mu.sizes()) {
      throw Error::data("checkpoint '{}' lacks the push-sum weights mu [{}]", ckpt_path.string(), cfg.fl.clients);
    }
    s.mu.copy_(it->second);
    if (s.spec.ditto) {
      auto v = ck.tensors.find("V");
      if (v == ck.tensors.end() || v->second.sizes() != s.V.sizes()) {
        throw Error::data("checkpoint '{}' lacks Ditto's personal models V", ckpt_path.string());
      }
      s.V.copy_(v->second);
    }
    start = ck.meta.at("round").get<int64_t>();
    dir.metrics().truncate_after("round", start);
    log_info("pfl: resuming after round {} from {}", start, ckpt_path.string());
  }

  Progress progress("round", cfg.fl.rounds, start + 1);
  RunResult result;
  result.run_dir = dir.path().string();
  auto t_run = Clock::now();
  for (int64_t t = start; t < cfg.fl.rounds; ++t) {
    auto t0 = Clock::now();
    const int64_t r = t + 1;
    const bool eval_now = r % cfg.fl.eval_every == 0 || r == cfg.fl.rounds;
    torch::Tensor Z = models(s);
    MeanStd before = eval_now ? mean_std(evaluate_all(s, Z, t, false)) : MeanStd{};
    auto who = participants(s, t);
    auto t1 = Clock::now();
    double train_loss = train_round(s, Z, who, t);
    double t_train = seconds_since(t1);
    MeanStd after = eval_now ? mean_std(evaluate_all(s, Z, t, true)) : MeanStd{};
    auto t2 = Clock::now();
    PflCommStats cs = s.comm.communicate(s.fed.X, s.mu, s.cols.communicated, who, s.sizes, t);
    double t_comm = seconds_since(t2);

    nlohmann::ordered_json row;
    row["round"] = r;
    row["lr"] = cfg.train.lr_at(t);
    row["lr_head"] = pers.lr_head * std::pow(cfg.train.lr_decay, static_cast<double>(t));
    row["lr_body"] = pers.lr_body * std::pow(cfg.train.lr_decay, static_cast<double>(t));
    row["train_loss"] = train_loss;
    row["local_acc_mean"] = after.mean;  // personalized accuracy after local training
    row["local_acc_std"] = after.std;
    row["before_acc_mean"] = before.mean;  // after aggregation, before local training (reference code's number)
    row["before_acc_std"] = before.std;
    row["consensus_distance"] = consensus_distance(models(s), s.cols.communicated);
    row["mu_min"] = s.mu.min().item<double>();
    row["mu_max"] = s.mu.max().item<double>();
    row["strongly_connected"] = cs.strongly_connected;
    row["participants"] = static_cast<int64_t>(who.size());
    row["seconds_train"] = t_train;
    row["seconds_comm"] = t_comm;
    row["seconds"] = seconds_since(t0);
    dir.metrics().append(nan_to_null(row));
    progress.update(r, eval_now ? fmt::format("loss {:.4f}  acc {:.4f} ± {:.4f}  before {:.4f}  cons {:.3g}",
                                              train_loss, after.mean, after.std, before.mean,
                                              row["consensus_distance"].get<double>())
                                : fmt::format("loss {:.4f}", train_loss));
    if (r == cfg.fl.rounds || (cfg.run.checkpoint_every > 0 && r % cfg.run.checkpoint_every == 0)) save(s, dir, r);
  }
  progress.finish();

  result.rows = dir.metrics().rows();
  const auto& last = result.rows.back();
  auto best_of = [&](const char* key, double& best, int64_t& round) {
    best = -1, round = 0;
    for (const auto& row : result.rows) {
      if (row[key].is_number() && row[key].get<double>() > best) best = row[key].get<double>(), round = row["round"].get<int64_t>();
    }
  };
  double best_after, best_before;
  int64_t best_after_round, best_before_round;
  best_of("local_acc_mean", best_after, best_after_round);
  best_of("before_acc_mean", best_before, best_before_round);
  nlohmann::ordered_json sum;
  sum["algorithm"] = spec.title;
  sum["source"] = spec.source;
  sum["clients"] = cfg.fl.clients;
  sum["rounds"] = cfg.fl.rounds;
  sum["parameters"] = layout.size();
  sum["personal_parameters"] = layout.size() - layout.shared_size();
  sum["communication"] = s.comm.describe();
  sum["final_local_acc_mean"] = last["local_acc_mean"];
  sum["final_local_acc_std"] = last["local_acc_std"];
  sum["final_before_acc_mean"] = last["before_acc_mean"];
  sum["final_before_acc_std"] = last["before_acc_std"];
  sum["best_local_acc_mean"] = best_after;
  sum["best_round"] = best_after_round;
  sum["best_before_acc_mean"] = best_before;
  sum["best_before_round"] = best_before_round;
  sum["final_consensus_distance"] = last["consensus_distance"];
  sum["seconds"] = seconds_since(t_run);
  sum["run_dir"] = result.run_dir;
  dir.write_summary(sum);
  result.summary = sum;
  log_info("pfl: done: personalized acc {:.4f} ± {:.4f} (before training {:.4f}); best {:.4f} at round {}; "
           "results in {}",
           last["local_acc_mean"].get<double>(), last["local_acc_std"].get<double>(),
           last["before_acc_mean"].get<double>(), best_after, best_after_round, result.run_dir);
  return result;
}

}  // namespace plexus::fl
