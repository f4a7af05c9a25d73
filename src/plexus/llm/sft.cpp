// SFT and distillation loops. See sft.h.
#include "plexus/llm/sft.h"

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
#include "plexus/llm/tasks/task_text.h"

namespace fs = std::filesystem;

namespace plexus::llm {

SftConfig SftConfig::parse(const toml::table& root, bool distill) {
  SftConfig c;
  c.distill = distill;
  std::vector<std::string> known = {"run", "base", "task", "sft", "eval"};
  if (distill) known.push_back("teacher");
  check_sections(root, known);
  c.run.name = distill ? "r1-distill" : "r1-sft";
  parse_run_section(root, c.run, c.resolved);
  {
    ConfigTable t(config_section(root, "base"), "base");
    t.get("run", c.base);
    t.require(!c.base.empty(), "run", distill ? "must name the student's base run directory" : "must name the base run directory");
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
    auto& o = c.sft;
    if (distill) o.data = "samples";
    ConfigTable t(config_section(root, "sft"), "sft");
    t.get("max_steps", o.max_steps);
    t.get("stop_at", o.stop_at);
    t.get("batch_size", o.batch_size);
    t.get("learning_rate", o.learning_rate);
    t.get_choice("lr_scheduler_type", o.lr_scheduler_type, {"constant", "cosine"});
    t.get("warmup_steps", o.warmup_steps);
    t.get("weight_decay", o.weight_decay);
    t.get("max_grad_norm", o.max_grad_norm);
    if (!distill) t.get_choice("data", o.data, {"traces", "samples"});
    t.get("samples", o.samples);
    t.get("trace_examples", o.trace_examples);
    t.get("save_steps", o.save_steps);
    t.get("max_completion_length", o.max_completion_length);
    t.get_choice("dtype", o.dtype, {"auto", "float32", "bfloat16"});
    t.require(o.max_steps >= 1, "max_steps", "must be >= 1");
    t.require(o.stop_at >= 0 && o.stop_at <= o.max_steps, "stop_at", "must be in [0, max_steps]");
    t.require(o.batch_size >= 1, "batch_size", "must be >= 1");
    t.require(o.learning_rate > 0, "learning_rate", "must be > 0");
    t.require(o.warmup_steps >= 0, "warmup_steps", "must be >= 0");
    t.require(o.max_grad_norm >= 0, "max_grad_norm", "must be >= 0");
    t.require(o.trace_examples >= 1, "trace_examples", "must be >= 1");
    t.require(o.save_steps >= 1, "save_steps", "must be >= 1");
    t.require(o.max_completion_length >= 1, "max_completion_length", "must be >= 1");
    t.require(distill || o.data != "samples" || !o.samples.empty(), "samples",
              "must name a JSONL file from `plexus llm sample --filter verified` when data = \"samples\"");
    t.finish();
    c.resolved.insert("sft", t.resolved());
  }
  if (distill) {
    auto& o = c.teacher;
    ConfigTable t(config_section(root, "teacher"), "teacher");
    t.get("run", o.run);
    t.get("num_prompts", o.num_prompts);
    t.get("k", o.k);
    t.get("temperature", o.temperature);
    t.get("top_p", o.top_p);
    t.require(!o.run.empty(), "run", "must name the teacher's run directory");
    t.require(o.num_prompts >= 1, "num_prompts", "must be >= 1");
    t.require(o.k >= 1, "k", "must be >= 1");
    t.require(std::isfinite(o.temperature) && o.temperature >= 0, "temperature", "must be finite and >= 0");
    t.require(o.top_p > 0 && o.top_p <= 1, "top_p", "must be in (0, 1]");
    t.finish();
    c.resolved.insert("teacher", t.resolved());
  }
  {
    ConfigTable t(config_section(root, "eval"), "eval");
    c.eval = EvalSchedule::parse(t);
    t.finish();
    c.resolved.insert("eval", t.resolved());
  }
  return c;
}

namespace {

struct Example {
  std::vector<int64_t> prompt, completion;
};

// Pad a batch: inputs/targets [n, S−1] and the completion mask over targets.
UpdateBatch make_batch(const std::vector<const Example*>& ex, torch::Device dev) {
  int64_t S = 0;
  for (auto* e : ex) S = std::max<int64_t>(S, static_cast<int64_t>(e->prompt.size() + e->completion.size()));
  const auto n = static_cast<int64_t>(ex.size());
  auto tok = torch::zeros({n, S}, torch::kInt64);
  auto mask = torch::zeros({n, S - 1}, torch::kFloat32);
  for (int64_t i = 0; i < n; ++i) {
    auto* e = ex[static_cast<size_t>(i)];
    std::vector<int64_t> all = e->prompt;
    all.insert(all.end(), e->completion.begin(), e->completion.end());
    tok[i].narrow(0, 0, static_cast<int64_t>(all.size())).copy_(torch::tensor(all, torch::kInt64));
    const auto P = static_cast<int64_t>(e->prompt.size()), L = static_cast<int64_t>(all.size());
    mask[i].narrow(0, P - 1, L - P).fill_(1.0f);  // target positions P..L−1
  }
  UpdateBatch b;
  b.inputs = tok.narrow(1, 0, S - 1).to(dev);
  b.targets = tok.narrow(1, 1, S - 1).to(dev);
  b.mask = mask.to(dev);
  return b;
}

}  // namespace

SftResult sft_train(const SftConfig& cfg_in, bool resume) {
  SftConfig cfg = cfg_in;
  const auto& o = cfg.sft;
  const auto seed = static_cast<uint64_t>(cfg.run.seed);
  if (cfg.run.threads > 0) torch::set_num_threads(static_cast<int>(cfg.run.threads));
  torch::Device dev = resolve_device(cfg.run.device);
  auto task = make_task(cfg.task);
  auto test = task->test_set();
  bool bf16 = false;
  Policy policy = load_tuning_policy(cfg.base, *task, test, dev, o.max_completion_length, "sft.max_completion_length",
                                     o.dtype, bf16);

  // Training pairs (prompt text, completion text).
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<Sample> teacher_samples;
  if (cfg.distill) {
    fs::path cached = fs::path(cfg.run.out_dir) / cfg.run.name / "teacher_samples.jsonl";
    if (resume && fs::exists(cached)) {
      pairs = read_samples(cached);
    } else {
      Policy teacher = load_policy(cfg.teacher.run, dev, "teacher.run");
      check_policy_for_task(teacher, *task, test, o.max_completion_length, "sft.max_completion_length");
      std::vector<Problem> probs;
      for (int64_t i = 0; i < cfg.teacher.num_prompts; ++i) probs.push_back(task->problem(0, static_cast<uint64_t>(i)));
      EvalOptions eo;
      eo.k = cfg.teacher.k, eo.temperature = cfg.teacher.temperature, eo.top_p = cfg.teacher.top_p;
      eo.max_new_tokens = o.max_completion_length, eo.seed = seed;
      teacher_samples = sample_problems(teacher, *task, probs, eo, "llm.distill");
      for (auto& s : teacher_samples)
        if (s.verdict.correct) pairs.emplace_back(s.prompt, s.completion);
      log_info("distill: {} of {} teacher samples verified", pairs.size(), teacher_samples.size());
      if (pairs.empty())
        throw Error::data("distill: none of the teacher's {} samples is correct; train the teacher longer or raise "
                          "teacher.num_prompts / teacher.k", teacher_samples.size());
    }
  } else if (o.data == "samples") {
    pairs = read_samples(o.samples);
  } else {
    pairs = trace_examples(*task, 0, o.trace_examples);
  }
  std::vector<Example> data;
  for (auto& [p, c] : pairs) {
    Example e{encode64(*policy.tok, p), encode64(*policy.tok, c)};
    if (e.completion.empty() || e.prompt.empty()) continue;
    if (static_cast<int64_t>(e.completion.size()) > o.max_completion_length)
      e.completion.resize(static_cast<size_t>(o.max_completion_length));
    if (static_cast<int64_t>(e.prompt.size() + e.completion.size()) > policy.args.max_seq_len) continue;
    data.push_back(std::move(e));
  }
  if (data.empty()) throw Error::data("sft: no usable training example (all empty or longer than max_seq_len)");

  RunDir run(cfg.run.out_dir, cfg.run.name, resume);
  cfg.resolved.insert_or_assign("model", policy.model_table);
  if (resume)  // before config.toml is rewritten
    check_tuning_resume(run, cfg.resolved, "sft", o.stop_at > 0 ? o.stop_at : o.max_steps,
                        o.stop_at > 0 ? "sft.stop_at" : "sft.max_steps");
  run.write_config(cfg.resolved);
  copy_tokenizer(policy, run.path());
  if (!teacher_samples.empty()) write_samples(run.path() / "teacher_samples.jsonl", teacher_samples, true);

  AdamW opt(named_parameters_of(policy.model), {0.9, 0.95, 1e-8, o.weight_decay});
  const ScheduleOptions sched = tuning_schedule(o.lr_scheduler_type, o.learning_rate, o.warmup_steps, o.max_steps);
  int64_t start = 0;
  if (resume) {
    std::map<std::string, torch::Tensor> s;
    start = resume_policy(run, policy.model, opt, dev, s);
    run.metrics().truncate_after("step", start, /*first=*/0);  // row 0: the base model's evaluation
  }
  SftResult res;
  res.run_dir = run.path();
  res.examples = static_cast<int64_t>(data.size());
  log_info("sft: {} examples, base {}", data.size(), cfg.base);
  auto row_of = [](int64_t step) {
    nlohmann::ordered_json row;
    row["step"] = step;
    for (auto* k : {"lr", "loss", "grad_norm", "tokens_per_s", "test_pass1", "test_cons", "test_format_rate",
                    "test_length"})
      row[k] = nullptr;
    return row;
  };
  auto evaluate = [&](nlohmann::ordered_json& row) {
    auto e = evaluate_policy(policy, *task, cfg.eval, o.max_completion_length, seed);
    row["test_pass1"] = e.pass1, row["test_cons"] = e.cons, row["test_format_rate"] = e.format_rate;
    row["test_length"] = e.mean_length;
    log_info("sft: held-out pass@1 {:.3f} cons@{} {:.3f} format {:.3f}", e.pass1, cfg.eval.k, e.cons, e.format_rate);
    return e;
  };
  const int64_t last = o.stop_at > 0 ? o.stop_at : o.max_steps;
  if (resume && start == last) {  // finished: keep summary.json and the metrics as they are
    auto s = finished_summary(run, start, "sft.max_steps");
    auto num = [&](const char* k) { return s.contains(k) && s[k].is_number() ? s[k].get<double>() : 0.0; };
    res.last_step = start, res.loss = num("loss"), res.pass1_start = num("test_pass1_start");
    res.pass1_end = num("test_pass1_end"), res.cons_end = num("test_cons_end");
    return res;
  }
  if (start == 0) {
    auto row = row_of(0);
    res.pass1_start = evaluate(row).pass1;
    run.metrics().append(row);
  } else {
    for (auto& r : run.metrics().rows())
      if (r["step"] == 0 && r["test_pass1"].is_number()) res.pass1_start = r["test_pass1"].get<double>();
  }
  Progress progress("step", o.max_steps, start + 1);
  for (int64_t step = start + 1; step <= last; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    const double lr = learning_rate(sched, step);
    Rng rng(seed, "sft.batch", 0, static_cast<uint64_t>(step));
    std::vector<const Example*> ex;
    for (int64_t i = 0; i < o.batch_size; ++i) ex.push_back(&data[rng.below(data.size())]);
    auto b = make_batch(ex, dev);
    policy.model->eval();
    auto logits = policy.model->forward(b.inputs);
    auto ce = -token_logprobs(logits, b.targets);
    auto loss = (ce * b.mask).sum() / b.mask.sum().clamp_min(1.0);
    opt.zero_grad();
    loss.backward();
    double gn = opt.clip_grad_norm(o.max_grad_norm);
    opt.step(lr);
    double l = loss.item<double>();
    if (!std::isfinite(l)) throw Error::infeasible("sft diverged at step {} (loss {}); lower sft.learning_rate", step, l);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto row = row_of(step);
    row["lr"] = lr, row["loss"] = l, row["grad_norm"] = gn;
    row["tokens_per_s"] = b.mask.sum().item<double>() / dt;
    if (step == last || (cfg.eval.every > 0 && step % cfg.eval.every == 0)) {
      auto e = evaluate(row);
      res.pass1_end = e.pass1, res.cons_end = e.cons;
    }
    run.metrics().append(row);
    progress.update(step, fmt::format("loss {:.4f}  lr {:.2e}", l, lr));
    res.last_step = step, res.loss = l;
    if (step % o.save_steps == 0 || step == last) {
      Checkpoint ck;
      for (auto& [k, v] : module_state(*policy.model)) ck.tensors[k] = v.to(torch::kCPU);
      for (auto& [k, v] : opt.state()) ck.tensors[k] = v.to(torch::kCPU);
      ck.meta = {{"step", step}};
      auto prev = latest_checkpoint(run.checkpoints());
      auto path = run.checkpoints() / fmt::format("round_{}.pt", step);
      save_checkpoint(path, ck);
      if (!prev.empty() && prev != path) fs::remove(prev);
    }
  }
  progress.finish();
  nlohmann::ordered_json summary;
  summary["last_step"] = res.last_step;
  summary["loss"] = res.loss;
  summary["examples"] = res.examples;
  summary["test_pass1_start"] = res.pass1_start;
  summary["test_pass1_end"] = res.pass1_end;
  summary["test_cons_end"] = res.cons_end;
  summary["device"] = dev.str();
  run.write_summary(summary);
  return res;
}

}  // namespace plexus::llm
