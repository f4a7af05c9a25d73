// The GRPO loop, its config, checkpoints and resume. See grpo.h; formulas in grpo_loss.h.
#include "plexus/llm/grpo.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "plexus/core/checkpoint.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/progress.h"
#include "plexus/core/rng.h"
#include "plexus/core/run_dir.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/rl_common.h"
#include "plexus/llm/rollout.h"

namespace fs = std::filesystem;

namespace plexus::llm {

const toml::table* config_section(const toml::table& root, const char* name) {
  auto* n = root.get(name);
  if (n && !n->is_table()) throw Error::config("[{}] must be a table", name);
  return n ? n->as_table() : nullptr;
}

void check_sections(const toml::table& root, const std::vector<std::string>& known) {
  for (auto& [k, v] : root) {
    std::string key(k.str());
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    auto near = nearest_name(key, known);
    throw Error::config("unknown section [{}]{}", key, near.empty() ? "" : fmt::format(" (did you mean [{}]?)", near));
  }
}

EvalSchedule EvalSchedule::parse(ConfigTable& t) {
  EvalSchedule e;
  t.get("every", e.every);
  t.get("k", e.k);
  t.get("temperature", e.temperature);
  t.get("top_p", e.top_p);
  t.get("max_problems", e.max_problems);
  t.require(e.every >= 0, "every", "must be >= 0 (0 = first and last step only)");
  t.require(e.k >= 1, "k", "must be >= 1");
  t.require(std::isfinite(e.temperature) && e.temperature >= 0, "temperature", "must be finite and >= 0 (0 = greedy)");
  t.require(e.top_p > 0 && e.top_p <= 1, "top_p", "must be in (0, 1]");
  t.require(e.max_problems >= 0, "max_problems", "must be >= 0 (0 = whole test split)");
  return e;
}

GrpoConfig GrpoConfig::parse(const toml::table& root) {
  GrpoConfig c;
  check_sections(root, {"run", "base", "task", "reward", "grpo", "eval"});
  c.run.name = "r1-zero";
  parse_run_section(root, c.run, c.resolved);
  {
    ConfigTable t(config_section(root, "base"), "base");
    t.get("run", c.base);
    t.require(!c.base.empty(), "run", "must name the base policy's run directory (e.g. runs/r1-base)");
    t.finish();
    c.resolved.insert("base", t.resolved());
  }
  {
    ConfigTable t(config_section(root, "task"), "task");
    c.task = TaskOptions::parse(t);
    t.finish();
    c.resolved.insert("task", t.resolved());
  }
  {
    ConfigTable t(config_section(root, "reward"), "reward");
    c.reward = RewardOptions::parse(t);
    t.finish();
    c.resolved.insert("reward", t.resolved());
  }
  {
    auto& o = c.grpo;
    ConfigTable t(config_section(root, "grpo"), "grpo");
    t.get("max_steps", o.max_steps);
    t.get("stop_at", o.stop_at);
    t.get("learning_rate", o.learning_rate);
    t.get_choice("lr_scheduler_type", o.lr_scheduler_type, {"constant", "cosine"});
    t.get("warmup_steps", o.warmup_steps);
    t.get("weight_decay", o.weight_decay);
    t.get("adam_beta1", o.adam_beta1);
    t.get("adam_beta2", o.adam_beta2);
    t.get("max_grad_norm", o.max_grad_norm);
    t.get("prompts_per_step", o.prompts_per_step);
    t.get("num_generations", o.num_generations);
    t.get("steps_per_generation", o.steps_per_generation);
    t.get("num_iterations", o.num_iterations);
    t.get("max_completion_length", o.max_completion_length);
    t.get("temperature", o.temperature);
    t.get("top_p", o.top_p);
    t.get("beta", o.beta);
    t.get("epsilon", o.epsilon);
    if (auto* g = config_section(root, "grpo"); !(g && g->contains("epsilon_high"))) o.epsilon_high = o.epsilon;
    t.get("epsilon_high", o.epsilon_high);
    t.get_choice("loss_type", o.loss_type, loss_types());
    t.get_choice("scale_rewards", o.scale_rewards, {"group", "batch", "none"});
    t.get_choice("std_convention", o.std_convention, {"sample", "population"});
    t.get("advantage_epsilon", o.advantage_epsilon);
    t.get("ref_model_sync_steps", o.ref_model_sync_steps);
    t.get("dynamic_sampling", o.dynamic_sampling);
    t.get("save_steps", o.save_steps);
    t.get("check_every", o.check_every);
    t.get_choice("dtype", o.dtype, {"auto", "float32", "bfloat16"});
    t.require(o.max_steps >= 1, "max_steps", "must be >= 1");
    t.require(o.stop_at >= 0 && o.stop_at <= o.max_steps, "stop_at", "must be in [0, max_steps]");
    t.require(o.learning_rate > 0, "learning_rate", "must be > 0");
    t.require(o.warmup_steps >= 0, "warmup_steps", "must be >= 0");
    t.require(o.max_grad_norm >= 0, "max_grad_norm", "must be >= 0 (0 = no clipping)");
    t.require(o.prompts_per_step >= 1, "prompts_per_step", "must be >= 1");
    t.require(o.num_generations >= 1, "num_generations", "must be >= 1 (G completions per prompt; GRPO needs G >= 2 "
              "for a non-zero advantage)");
    t.require(o.steps_per_generation >= 1 && o.steps_per_generation <= o.prompts_per_step * o.num_generations,
              "steps_per_generation", "must be in [1, prompts_per_step * num_generations]");
    t.require(o.num_iterations >= 1, "num_iterations", "must be >= 1");
    t.require(o.max_completion_length >= 1, "max_completion_length", "must be >= 1");
    t.require(std::isfinite(o.temperature) && o.temperature > 0, "temperature", "must be finite and > 0 for GRPO sampling");
    t.require(o.top_p > 0 && o.top_p <= 1, "top_p", "must be in (0, 1]");
    t.require(o.beta >= 0, "beta", "must be >= 0");
    t.require(o.epsilon >= 0 && o.epsilon < 1, "epsilon", "must be in [0, 1)");
    t.require(o.epsilon_high >= 0, "epsilon_high", "must be >= 0");
    t.require(o.advantage_epsilon >= 0, "advantage_epsilon", "must be >= 0");
    t.require(o.ref_model_sync_steps >= 0, "ref_model_sync_steps", "must be >= 0 (0 = never)");
    t.require(o.save_steps >= 1, "save_steps", "must be >= 1");
    t.require(o.check_every >= 1, "check_every", "must be >= 1");
    t.finish();
    c.resolved.insert("grpo", t.resolved());
  }
  if (c.reward.overlong_buffer > c.grpo.max_completion_length)
    throw Error::config("reward.overlong_buffer = {} exceeds grpo.max_completion_length = {} (the buffer is the tail "
                        "of the completion budget; lower reward.overlong_buffer or raise grpo.max_completion_length)",
                        c.reward.overlong_buffer, c.grpo.max_completion_length);
  {
    ConfigTable t(config_section(root, "eval"), "eval");
    c.eval = EvalSchedule::parse(t);
    t.finish();
    c.resolved.insert("eval", t.resolved());
  }
  return c;
}

EvalResult evaluate_policy(Policy& p, const Task& task, const EvalSchedule& sched, int64_t max_new_tokens,
                           uint64_t seed) {
  auto problems = task.test_set();
  if (sched.max_problems > 0 && static_cast<int64_t>(problems.size()) > sched.max_problems)
    problems.resize(static_cast<size_t>(sched.max_problems));
  EvalOptions o;
  o.k = sched.k, o.temperature = sched.temperature, o.top_p = sched.top_p, o.max_new_tokens = max_new_tokens;
  o.seed = seed;
  auto samples = sample_problems(p, task, problems, o, "llm.eval");
  return score_samples(samples, static_cast<int64_t>(problems.size()), o.k);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GrpoResult grpo_train(const GrpoConfig& cfg_in, bool resume) {
  GrpoConfig cfg = cfg_in;
  const auto& o = cfg.grpo;
  const auto seed = static_cast<uint64_t>(cfg.run.seed);
  if (cfg.run.threads > 0) torch::set_num_threads(static_cast<int>(cfg.run.threads));
  torch::Device dev = resolve_device(cfg.run.device);

  // Everything that can be wrong is checked before the run directory is touched.
  auto task = make_task(cfg.task);
  auto test = task->test_set();
  bool bf16 = false;
  Policy policy = load_tuning_policy(cfg.base, *task, test, dev, o.max_completion_length, "grpo.max_completion_length",
                                     o.dtype, bf16);
  Transformer ref{nullptr};
  if (o.beta > 0) {  // β = 0 loads no reference model (TRL)
    ref = Transformer(policy.args);
    clone_weights(policy.model, ref);
    ref->to(dev);
    ref->set_compute_dtype(bf16 ? torch::kBFloat16 : torch::kFloat32);
    ref->eval();
  }

  RunDir run(cfg.run.out_dir, cfg.run.name, resume);
  cfg.resolved.insert_or_assign("model", policy.model_table);
  if (resume)  // before config.toml is rewritten
    check_tuning_resume(run, cfg.resolved, "grpo", o.stop_at > 0 ? o.stop_at : o.max_steps,
                        o.stop_at > 0 ? "grpo.stop_at" : "grpo.max_steps");
  run.write_config(cfg.resolved);
  copy_tokenizer(policy, run.path());

  AdamW opt(named_parameters_of(policy.model), {o.adam_beta1, o.adam_beta2, 1e-8, o.weight_decay});
  const ScheduleOptions sched = tuning_schedule(o.lr_scheduler_type, o.learning_rate, o.warmup_steps, o.max_steps);

  int64_t start = 0;
  if (resume) {
    std::map<std::string, torch::Tensor> s;
    start = resume_policy(run, policy.model, opt, dev, s);
    if (ref) load_module_state(*ref, prefixed(s, "ref.", "model."));
    run.metrics().truncate_after("step", start, /*first=*/0);  // row 0: the base model
  }

  const int64_t G = o.num_generations, B = o.prompts_per_step, R = B * G;
  PolicyLossOptions lo{o.epsilon, o.epsilon_high, o.beta, o.loss_type, o.max_completion_length};
  AdvantageOptions ao{o.scale_rewards, o.std_convention, o.advantage_epsilon};
  GrpoResult res;
  res.run_dir = run.path();
  auto eval_row = [&](int64_t step, nlohmann::ordered_json& row) {
    auto e = evaluate_policy(policy, *task, cfg.eval, o.max_completion_length, seed);
    row["test_pass1"] = e.pass1;
    row["test_cons"] = e.cons;
    row["test_format_rate"] = e.format_rate;
    row["test_length"] = e.mean_length;
    log_info("grpo: step {} held-out pass@1 {:.3f} cons@{} {:.3f} format {:.3f} ({} problems)", step, e.pass1,
             cfg.eval.k, e.cons, e.format_rate, e.problems);
    return e;
  };
  const std::vector<std::string> keys = {
      "step", "lr", "reward", "reward_std", "accuracy", "format_rate", "answer_rate", "completion_length",
      "completion_length_max", "truncated_rate", "groups_kept", "loss", "kl", "clip_ratio_low", "clip_ratio_high",
      "entropy", "grad_norm", "rollout_tokens_per_s", "train_tokens_per_s", "gen_seconds", "update_seconds",
      "gen_fraction", "test_pass1", "test_cons", "test_format_rate", "test_length"};
  auto empty_row = [&] {
    nlohmann::ordered_json row;
    for (auto& k : keys) row[k] = nullptr;
    return row;
  };
  const int64_t last = o.stop_at > 0 ? o.stop_at : o.max_steps;
  if (resume && start == last) {  // finished: keep summary.json and the metrics as they are
    auto s = finished_summary(run, start, "grpo.max_steps");
    auto num = [&](const char* k) { return s.contains(k) && s[k].is_number() ? s[k].get<double>() : 0.0; };
    res.last_step = start, res.pass1_start = num("test_pass1_start"), res.pass1_end = num("test_pass1_end");
    res.cons_end = num("test_cons_end"), res.reward_last = num("reward_last"), res.gen_fraction = num("gen_fraction");
    res.rollout_tokens_per_s = num("rollout_tokens_per_s");
    return res;
  }
  if (start == 0) {
    auto row = empty_row();
    row["step"] = 0;
    res.pass1_start = eval_row(0, row).pass1;
    run.metrics().append(row);
  } else {
    for (auto& r : run.metrics().rows())
      if (r["step"] == 0 && r["test_pass1"].is_number()) res.pass1_start = r["test_pass1"].get<double>();
  }

  Progress progress("step", o.max_steps, start + 1);
  double gen_sum = 0, all_sum = 0, tok_sum = 0;
  for (int64_t step = start + 1; step <= last; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    const double lr = learning_rate(sched, step);
    // 1. Rollouts from π_old: rows b·G .. b·G+G−1 belong to prompt id (step−1)·B + b.
    std::vector<Problem> problems;
    std::vector<std::vector<int64_t>> prompts;
    std::vector<int64_t> group_ids;
    for (int64_t b = 0; b < B; ++b) {
      auto id = static_cast<uint64_t>((step - 1) * B + b);
      problems.push_back(task->problem(0, id));
      auto ids = encode64(*policy.tok, task->prompt(problems.back()));
      for (int64_t g = 0; g < G; ++g) prompts.push_back(ids), group_ids.push_back(static_cast<int64_t>(id));
    }
    RolloutOptions ro;
    ro.max_new_tokens = o.max_completion_length, ro.temperature = o.temperature, ro.top_p = o.top_p;
    ro.stop_id = policy.stop_id, ro.eos_id = policy.tok->eos_id(), ro.check_every = o.check_every;
    ro.seed = seed, ro.purpose = "grpo.sample", ro.step = static_cast<uint64_t>(step);
    auto roll = rollout(policy.model, prompts, ro);
    if (dev.is_cuda()) torch::cuda::synchronize();
    const double gen_s = seconds_since(t0);

    // 2. Rewards and advantages (host; one copy of the finished batch).
    auto comps = completions_on_host(roll);
    std::vector<double> rewards(static_cast<size_t>(R));
    double acc = 0, fmt_ok = 0, has = 0, len_sum = 0, len_max = 0;
    for (int64_t r = 0; r < R; ++r) {
      auto& c = comps[static_cast<size_t>(r)];
      auto v = task->verify(problems[static_cast<size_t>(r / G)], policy.tok->decode(c));
      auto L = static_cast<int64_t>(c.size());
      rewards[static_cast<size_t>(r)] = reward_value(cfg.reward, v, L, o.max_completion_length);
      acc += v.correct, fmt_ok += v.well_formed, has += v.has_answer, len_sum += static_cast<double>(L);
      len_max = std::max(len_max, static_cast<double>(L));
    }
    auto adv = group_advantages(rewards, group_ids, ao);
    std::vector<int64_t> keep;
    int64_t groups_kept = 0;
    for (int64_t b = 0; b < B; ++b) {
      bool varied = false;
      for (int64_t g = 1; g < G; ++g) varied = varied || rewards[static_cast<size_t>(b * G + g)] != rewards[static_cast<size_t>(b * G)];
      if (o.dynamic_sampling && !varied) continue;  // DAPO dynamic sampling: no signal in this group
      ++groups_kept;
      for (int64_t g = 0; g < G; ++g) keep.push_back(b * G + g);
    }

    // 3. Update: μ passes over steps_per_generation minibatches.
    auto t1 = std::chrono::steady_clock::now();
    UpdateStats us;
    if (!keep.empty()) {
      auto idx = torch::tensor(keep, torch::kInt64).to(dev);
      UpdateBatch ub;
      ub.inputs = roll.tokens.index_select(0, idx).narrow(1, 0, roll.tokens.size(1) - 1);
      ub.targets = roll.tokens.index_select(0, idx).narrow(1, 1, roll.tokens.size(1) - 1);
      ub.mask = completion_mask(roll).index_select(0, idx);
      std::vector<double> a_keep;
      for (auto k : keep) a_keep.push_back(adv[static_cast<size_t>(k)]);
      ub.advantages = torch::tensor(a_keep, torch::kFloat32).to(dev);
      us = grpo_update(policy.model, ref, opt, ub, lo, o, lr, seed, step);
    }
    if (dev.is_cuda()) torch::cuda::synchronize();
    const double upd_s = seconds_since(t1), all_s = seconds_since(t0);
    if (!std::isfinite(us.loss))
      throw Error::infeasible("GRPO diverged at step {} (loss {}); lower grpo.learning_rate", step, us.loss);

    // 4. Reference reset (iterative GRPO, DeepSeekMath §4.1.4).
    if (ref && o.ref_model_sync_steps > 0 && step % o.ref_model_sync_steps == 0) clone_weights(policy.model, ref);

    double mean_r = 0, var_r = 0;
    for (double r : rewards) mean_r += r / static_cast<double>(R);
    for (double r : rewards) var_r += (r - mean_r) * (r - mean_r) / static_cast<double>(R);
    auto row = empty_row();
    row["step"] = step;
    row["lr"] = lr;
    row["reward"] = mean_r;
    row["reward_std"] = std::sqrt(var_r);
    row["accuracy"] = acc / static_cast<double>(R);
    row["format_rate"] = fmt_ok / static_cast<double>(R);
    row["answer_rate"] = has / static_cast<double>(R);
    row["completion_length"] = len_sum / static_cast<double>(R);
    row["completion_length_max"] = len_max;
    row["truncated_rate"] = 1.0 - roll.stopped.to(torch::kFloat32).mean().item<double>();
    row["groups_kept"] = groups_kept;
    row["loss"] = us.loss;
    row["kl"] = us.kl;
    row["clip_ratio_low"] = us.clip_low;
    row["clip_ratio_high"] = us.clip_high;
    row["entropy"] = us.entropy;
    row["grad_norm"] = us.grad_norm;
    row["rollout_tokens_per_s"] = static_cast<double>(roll.generated) / gen_s;
    row["train_tokens_per_s"] = upd_s > 0 ? us.tokens / upd_s : 0.0;
    row["gen_seconds"] = gen_s;
    row["update_seconds"] = upd_s;
    row["gen_fraction"] = gen_s / all_s;
    bool eval = step == last || (cfg.eval.every > 0 && step % cfg.eval.every == 0);
    if (eval) {
      auto e = eval_row(step, row);
      res.pass1_end = e.pass1, res.cons_end = e.cons;
    }
    run.metrics().append(row);
    // Averages skip the first step of a run (warm-up) unless it is the only one.
    if (step > start + 1 || last == start + 1) gen_sum += gen_s, all_sum += all_s, tok_sum += static_cast<double>(roll.generated);
    progress.update(step, fmt::format("reward {:.3f}  acc {:.3f}  format {:.2f}  len {:.1f}  kl {:.4f}  gen {:.0f}%  "
                                      "{:.0f} tok/s",
                                      mean_r, acc / static_cast<double>(R), fmt_ok / static_cast<double>(R),
                                      len_sum / static_cast<double>(R), us.kl, 100 * gen_s / all_s,
                                      static_cast<double>(roll.generated) / gen_s));
    res.last_step = step;
    res.reward_last = mean_r;
    if (step % o.save_steps == 0 || step == last) {
      Checkpoint ck;
      for (auto& [k, v] : module_state(*policy.model)) ck.tensors[k] = v.to(torch::kCPU);
      for (auto& [k, v] : opt.state()) ck.tensors[k] = v.to(torch::kCPU);
      if (ref)
        for (auto& [k, v] : prefixed(module_state(*ref), "model.", "ref.")) ck.tensors[k] = v.to(torch::kCPU);
      ck.meta = {{"step", step}};
      auto prev = latest_checkpoint(run.checkpoints());
      auto path = run.checkpoints() / fmt::format("round_{}.pt", step);
      save_checkpoint(path, ck);
      if (!prev.empty() && prev != path) fs::remove(prev);
    }
  }
  progress.finish();
  res.gen_fraction = all_sum > 0 ? gen_sum / all_sum : 0;
  res.rollout_tokens_per_s = gen_sum > 0 ? tok_sum / gen_sum : 0;
  nlohmann::ordered_json summary;
  summary["last_step"] = res.last_step;
  summary["test_pass1_start"] = res.pass1_start;
  summary["test_pass1_end"] = res.pass1_end;
  summary["test_cons_end"] = res.cons_end;
  summary["reward_last"] = res.reward_last;
  summary["gen_fraction"] = res.gen_fraction;
  summary["rollout_tokens_per_s"] = res.rollout_tokens_per_s;
  summary["device"] = dev.str();
  summary["dtype"] = bf16 ? "bfloat16" : "float32";
  run.write_summary(summary);
  return res;
}

}  // namespace plexus::llm
