// Pretraining loop, data packing and config parsing. See pretrain.h.
#include "plexus/llm/pretrain.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <optional>

#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/progress.h"
#include "plexus/core/rng.h"
#include "plexus/core/run_dir.h"
#include "plexus/core/run_lifecycle.h"
#include "plexus/dist/grad_buckets.h"
#include "plexus/dist/group.h"
#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/tasks/task_text.h"
#include "plexus/llm/train_step.h"

namespace fs = std::filesystem;

namespace plexus::llm {

std::vector<std::string> document_lines(const std::vector<Document>& docs) {
  std::vector<std::string> lines;
  for (auto& d : docs) {
    size_t start = 0;
    while (start < d.text.size()) {
      auto end = d.text.find('\n', start);
      if (end == std::string::npos) end = d.text.size();
      if (end > start) lines.push_back(d.text.substr(start, end - start));
      start = end + 1;
    }
  }
  return lines;
}

torch::Tensor pack_documents(const std::vector<Document>& docs, const Tokenizer& tok) {
  std::vector<int64_t> ids;
  for (auto& d : docs) {
    for (auto& line : document_lines({d})) {
      auto e = tok.encode(line);
      ids.insert(ids.end(), e.begin(), e.end());
    }
    ids.push_back(tok.eos_id());
  }
  return torch::tensor(ids, torch::kInt64);
}

std::pair<torch::Tensor, torch::Tensor> sample_batch(const torch::Tensor& stream, int64_t B, int64_t T,
                                                     uint64_t seed, int64_t step) {
  const int64_t N = stream.size(0);
  if (N < T + 1)
    throw Error::data("token stream of {} tokens is shorter than train.seq_len + 1 = {} (lower seq_len)", N, T + 1);
  Rng rng(seed, "llm.batch", 0, static_cast<uint64_t>(step));
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) {
    auto off = static_cast<int64_t>(rng.below(static_cast<uint64_t>(N - T)));
    rows.push_back(stream.narrow(0, off, T + 1));
  }
  auto w = torch::stack(rows);  // [B, T+1]
  return {w.narrow(1, 0, T).contiguous(), w.narrow(1, 1, T).contiguous()};
}

void load_corpus(const PretrainConfig& cfg, std::vector<Document>& train, std::vector<Document>& val) {
  std::vector<Document> docs;
  if (cfg.data.source == "brown") {
    docs = load_brown(cfg.data.brown_dir.empty() ? default_brown_dir() : fs::path(cfg.data.brown_dir));
  } else {
    docs = arithmetic_corpus(cfg.data.arithmetic_examples, static_cast<int>(cfg.data.arithmetic_max_digits),
                             static_cast<uint64_t>(cfg.run.seed));
  }
  append_task_documents(docs, cfg.data.tasks, cfg.data.task_examples, cfg.data.task_trace_fraction,
                        static_cast<uint64_t>(cfg.run.seed));
  split_documents(docs, cfg.data.val_fraction, static_cast<uint64_t>(cfg.run.seed), train, val);
}

namespace {

// Mean main-model cross-entropy over fixed, evenly spaced validation windows.
double validation_loss(Transformer& model, const torch::Tensor& val, const TrainOptions& o, torch::Device dev) {
  torch::NoGradGuard ng;
  model->eval();
  const int64_t T = o.seq_len, N = val.size(0);
  const int64_t n_windows = std::min<int64_t>(o.eval_batches * o.batch_size, std::max<int64_t>(1, (N - 1) / T));
  double total = 0;
  int64_t count = 0;
  for (int64_t start = 0; start < n_windows; start += o.batch_size) {
    std::vector<torch::Tensor> rows;
    for (int64_t w = start; w < std::min(n_windows, start + o.batch_size); ++w) {
      int64_t off = n_windows == 1 ? 0 : w * ((N - T - 1) / std::max<int64_t>(1, n_windows - 1));
      rows.push_back(val.narrow(0, off, T + 1));
    }
    auto b = torch::stack(rows).to(dev);
    auto logits = model->forward(b.narrow(1, 0, T));
    auto ce = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                                    b.narrow(1, 1, T).reshape({-1}));
    total += ce.item<double>() * static_cast<double>(rows.size());
    count += static_cast<int64_t>(rows.size());
  }
  model->train();
  return total / static_cast<double>(count);
}

// Checkpoints kept: at least two, so a damaged newest file always has an intact fallback.
constexpr int64_t kKeepCheckpoints = 2;

// summary.json from the metrics history (every row, this process's and any resumed ones), so a resume
// that has nothing left to do rewrites the same summary instead of an empty one.
nlohmann::ordered_json summarize(const std::vector<nlohmann::ordered_json>& rows, PretrainResult& res) {
  const auto& last = rows.back();
  res.last_step = last["step"].get<int64_t>();
  res.train_loss = last["loss_main"].get<double>();
  res.load_max_mean = last["load_max_mean"].get<double>();
  res.val_loss = std::nan("");
  double tok_s_sum = 0;
  int64_t timed = 0;
  for (const auto& r : rows) {
    if (r["val_loss"].is_number()) res.val_loss = r["val_loss"].get<double>();
    if (r["step"].get<int64_t>() > 2) tok_s_sum += r["tokens_per_s"].get<double>(), ++timed;  // skip warm-up steps
  }
  res.tokens_per_s = timed > 0 ? tok_s_sum / static_cast<double>(timed) : 0;
  nlohmann::ordered_json summary;
  summary["last_step"] = res.last_step;
  summary["train_loss"] = res.train_loss;
  summary["val_loss"] = std::isnan(res.val_loss) ? nlohmann::ordered_json() : nlohmann::ordered_json(res.val_loss);
  summary["tokens_per_s"] = res.tokens_per_s;
  summary["load_max_mean"] = res.load_max_mean;
  return summary;
}

}  // namespace

ResumeRules llm_resume_rules() {
  ResumeRules r;
  r.unit = "step";
  // train.stop_at only says where this invocation stops; the schedule follows train.steps, which stays fixed.
  // data.brown_dir may change: the data fingerprint decides whether the corpus is the same (see fl_resume_rules).
  // run.cuda_graphs changes how the step is launched, not what it computes (tests/llm/train_step_test.cpp).
  r.harmless = {"run.threads", "run.tensorboard", "run.out_dir", "run.name", "run.cuda_graphs",
                "train.checkpoint_every", "train.stop_at", "tokenizer.num_threads", "data.brown_dir"};
  return r;
}

DataFingerprint llm_data_fingerprint(const PretrainConfig& cfg, const std::vector<Document>& train,
                                     const std::vector<Document>& val) {
  std::string source = cfg.data.source;
  if (cfg.data.source == "brown") {
    std::error_code ec;
    fs::path dir = cfg.data.brown_dir.empty() ? default_brown_dir() : fs::path(cfg.data.brown_dir);
    source = "brown at " + fs::weakly_canonical(fs::absolute(dir), ec).string();
  }
  FingerprintBuilder b(source);
  for (const auto& d : train) b.add("train_documents", d.text, 1);
  for (const auto& d : val) b.add("val_documents", d.text, 1);
  return b.finish();
}

PretrainResult pretrain(const PretrainConfig& cfg_in, bool resume, dist::Group* group) {
  PretrainConfig cfg = cfg_in;
  const auto& o = cfg.train;
  const auto seed = static_cast<uint64_t>(cfg.run.seed);
  // Data parallel (R > 1): this rank's share of every global batch; rank 0 (the lead) owns the run directory.
  const int64_t R = group ? group->size() : 1, k = group ? group->rank() : 0;
  const bool lead = k == 0;
  if (o.batch_size % R != 0)
    throw Error::config("train.batch_size = {} is not divisible by the {} ranks; use a multiple of {}", o.batch_size,
                        R, R);
  const int64_t B_rank = o.batch_size / R;
  if (cfg.run.threads > 0) torch::set_num_threads(static_cast<int>(cfg.run.threads));
  // An NCCL group runs each rank on its own GPU (cuda:LOCAL_RANK); Gloo ranks on the configured device.
  torch::Device dev =
      group && group->backend() == dist::Backend::Nccl ? group->device() : resolve_device(cfg.run.device);
  // run.cuda_graphs = "on" (as FL's): capture the step or fail; what can be told before the model exists first.
  if (cfg.run.cuda_graphs == "on" && !dev.is_cuda())
    throw Error::config("run.cuda_graphs = \"on\" needs run.device = \"cuda\" (got \"{}\"); use \"auto\" or \"off\"",
                        dev.str());
  if (cfg.run.cuda_graphs == "on" && group)
    throw Error::config("run.cuda_graphs = \"on\" cannot run across ranks: their gradient all-reduces start during "
                        "backward, which a CUDA graph of the step cannot hold (docs/distributed.md); use \"auto\" or "
                        "\"off\"");
  std::optional<RunDir> run_opt;  // locked until this function returns (rank 0 only)
  if (lead) run_opt.emplace(cfg.run.out_dir, cfg.run.name, resume);

  // Data and tokenizer (trained once per run and saved with it).
  std::vector<Document> train_docs, val_docs;
  load_corpus(cfg, train_docs, val_docs);
  const int64_t last = o.stop_at > 0 ? o.stop_at : o.steps;
  fs::path run_path, checkpoint_path;
  std::optional<Tokenizer> tok_opt;
  if (lead) {
    run_path = run_opt->path();
    fs::path tok_path = run_path / "tokenizer.model";
    tok_opt.emplace(fs::exists(tok_path) ? Tokenizer::load(tok_path)
                                         : Tokenizer::train(document_lines(train_docs), run_path / "tokenizer",
                                                            cfg.tokenizer));
    cfg.model.vocab_size = tok_opt->vocab_size();
    (*cfg.resolved["model"].as_table()).insert_or_assign("vocab_size", cfg.model.vocab_size);
    // Every resume check (config, data, checkpoint, history, steps) passes before anything is written.
    RunSpec spec;
    spec.config = &cfg.resolved;
    spec.rules = llm_resume_rules();
    spec.data = llm_data_fingerprint(cfg, train_docs, val_docs);
    spec.target = last;
    spec.target_key = o.stop_at > 0 ? "train.stop_at" : "train.steps";
    checkpoint_path = start_run(*run_opt, spec, resume).checkpoint;
  }
  if (group) {
    // Rank 0 names the run directory (its tokenizer is saved there by now) and the checkpoint to resume from.
    auto shared = group->share_from_rank0("llm.pretrain.run", run_path.string() + "\n" + checkpoint_path.string());
    auto nl = shared.find('\n');
    run_path = shared.substr(0, nl);
    checkpoint_path = shared.substr(nl + 1);
    if (!lead) {
      tok_opt.emplace(Tokenizer::load(run_path / "tokenizer.model"));
      cfg.model.vocab_size = tok_opt->vocab_size();
    }
  }
  const Tokenizer& tok = *tok_opt;
  TokenData data{pack_documents(train_docs, tok), pack_documents(val_docs, tok)};
  log_info("llm: {} train / {} val documents, {} / {} tokens, vocab {}", train_docs.size(), val_docs.size(),
           data.train.size(0), data.val.size(0), cfg.model.vocab_size);

  // Model and optimizer.
  Transformer model(cfg.model);
  model->init_weights(seed);
  model->to(dev);
  const bool bf16 = o.dtype == "bfloat16" || (o.dtype == "auto" && dev.is_cuda());
  model->set_compute_dtype(bf16 ? torch::kBFloat16 : torch::kFloat32);
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  AdamW opt(params, {o.beta1, o.beta2, 1e-8, o.weight_decay});
  ScheduleOptions sched{o.schedule, o.lr, o.min_lr, o.warmup_steps, o.steps, o.decay_start, o.decay_end};
  auto pc = count_params(cfg.model);
  const double flops_per_token = train_flops_per_token(cfg.model, o.seq_len);
  log_info("llm: {:.2f}M parameters ({:.2f}M active per token), {} MoE layers, device {}, {}", pc.total / 1e6,
           pc.active / 1e6, model->moe_layers().size(), dev.str(), bf16 ? "bf16" : "f32");

  std::optional<dist::GradBuckets> buckets;
  if (group) {
    std::vector<torch::Tensor> ps;
    for (auto& [name, p] : params) ps.push_back(p);
    buckets.emplace(std::move(ps));
    buckets->attach(*group);  // each bucket's all-reduce starts during backward, once its gradients are ready
    log_info("llm: data parallel over {} ranks ({}), {} sequences per rank per step, {} gradient buckets of {:.1f} MB",
             R, group->backend() == dist::Backend::Nccl ? "NCCL" : "Gloo", B_rank, buckets->size(),
             static_cast<double>(buckets->bytes_per_step()) / 1e6);
  }

  int64_t start = 0;
  if (resume) {
    const auto& path = checkpoint_path;
    auto ck = load_checkpoint(path);
    std::map<std::string, torch::Tensor> s;
    for (auto& [k, v] : ck.tensors) s[k] = v.to(dev);
    load_module_state(*model, s);
    opt.load_state(s);
    start = ck.meta.at("step").get<int64_t>();
    if (lead) run_opt->metrics().truncate_after("step", start);
    log_info("llm: resumed from {} at step {}", path.string(), start);
  }

  Progress progress("step", o.steps, start + 1);
  model->train();
  PretrainResult res;
  res.run_dir = run_path;
  std::function<void(torch::Tensor&)> sum_loads;  // expert-selection counts of the global batch
  if (group) sum_loads = [&](torch::Tensor& L) { group->allreduce_sum(L, "expert loads"); };
  // One process: the step of llm/train_step.h (on CUDA free of host reads, and graphed with run.cuda_graphs).
  std::optional<TrainStep> one;
  if (!group) {
    const auto compute = bf16 ? torch::kBFloat16 : torch::kFloat32;
    std::string why = TrainStep::graph_blocker(model, dev, compute);
    if (cfg.run.cuda_graphs == "on" && !why.empty())
      throw Error::config("run.cuda_graphs = \"on\": the training step cannot be captured as a CUDA graph ({}); use "
                          "\"auto\" (eager then) or \"off\"", why);
    const bool graphs = cfg.run.cuda_graphs != "off" && dev.is_cuda() && why.empty();
    if (cfg.run.cuda_graphs == "auto" && dev.is_cuda() && !why.empty())
      log_info("llm: training step without CUDA graphs: {}", why);
    one.emplace(model, opt, TrainStepOptions{o.grad_clip, cfg.model.bias_update_speed, graphs}, dev, compute);
    if (graphs) log_info("llm: training step captured once as a CUDA graph and replayed (run.cuda_graphs)");
  }
  double last_val = std::nan("");
  for (int64_t step = start + 1; step <= last; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    double lr = learning_rate(sched, step);
    auto [x, y] = sample_batch(data.train, o.batch_size, o.seq_len, seed, step);
    StepStats st;
    if (one) {
      one->run(x, y, lr);
      st = one->read();  // one device→host copy, after the step
    } else {
      x = x.narrow(0, k * B_rank, B_rank), y = y.narrow(0, k * B_rank, B_rank);  // this rank's rows
      x = x.to(dev), y = y.to(dev);
      opt.zero_grad();
      auto parts = model->loss(x, y);
      buckets->begin_step(parts.total);  // arms the hooks: a bucket's all-reduce starts once its gradients are in
      parts.total.backward();
      // Every loss is a mean over equal shares, so the global batch's is the mean of the ranks' (and its
      // gradient the mean of theirs): average the gradients before clipping, sum the logged losses.
      buckets->finish_step();
      auto l = torch::stack({parts.total.detach(), parts.main.detach(), parts.mtp.detach(), parts.balance.detach()})
                   .to(torch::kCPU, torch::kFloat64)
                   .contiguous();
      group->allreduce_sum(l, "losses");
      l.div_(static_cast<double>(R));
      st.grad_norm = opt.clip_grad_norm(o.grad_clip);
      opt.step(lr);
      st.loads = model->end_step_balance(cfg.model.bias_update_speed, sum_loads);  // after the optimizer step (A6)
      st.total = l[0].item<double>(), st.main = l[1].item<double>(), st.mtp = l[2].item<double>();
      st.balance = l[3].item<double>();
    }
    const auto& loads = st.loads;
    double loss = st.total;
    if (!std::isfinite(loss))
      throw Error::infeasible("training diverged at step {} (loss {}); lower train.lr", step, loss);
    if (dev.is_cuda()) torch::cuda::synchronize();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double tok_s = static_cast<double>(o.batch_size * o.seq_len) / dt;

    nlohmann::ordered_json row;
    row["step"] = step;
    row["lr"] = lr;
    row["loss"] = loss;
    row["loss_main"] = st.main;
    row["loss_mtp"] = st.mtp;
    row["loss_balance"] = st.balance;
    bool eval = step % o.eval_every == 0 || step == o.steps;
    if (eval && lead) last_val = validation_loss(model, data.val, o, dev);
    row["val_loss"] = eval ? nlohmann::ordered_json(last_val) : nlohmann::ordered_json();
    row["grad_norm"] = st.grad_norm;
    row["tokens_per_s"] = tok_s;
    row["mfu"] = dev.is_cuda() ? nlohmann::ordered_json(flops_per_token * tok_s / (o.peak_tflops * 1e12))
                               : nlohmann::ordered_json();
    double worst = 0;
    for (auto& l : loads) worst = std::max(worst, l.max_over_mean);
    row["load_max_mean"] = worst;
    for (size_t i = 0; i < loads.size(); ++i) row[fmt::format("load_max_mean_{}", i)] = loads[i].max_over_mean;
    if (!lead) continue;  // rank 0 alone logs and checkpoints (every rank holds the same weights)
    auto& run = *run_opt;
    run.metrics().append(row);
    progress.update(step, fmt::format("loss {:.3f}{}  lr {:.2e}  load max/mean {:.2f}  {:.0f} tok/s", loss,
                                      eval ? fmt::format("  val {:.3f}", last_val) : std::string(), lr, worst,
                                      tok_s));
    if (step % o.checkpoint_every == 0 || step == last) {
      Checkpoint ck;
      for (auto& [k, v] : module_state(*model)) ck.tensors[k] = v.to(torch::kCPU);
      for (auto& [k, v] : opt.state()) ck.tensors[k] = v.to(torch::kCPU);
      ck.meta = {{"step", step}};
      run.metrics().sync();  // the rows up to `step` reach the disk before their checkpoint
      save_checkpoint_rotating(run.checkpoints(), ck, step, kKeepCheckpoints);
    }
  }
  if (!lead) {
    res.last_step = std::max(start, last);
    return res;
  }
  auto& run = *run_opt;
  progress.finish();
  if (start >= last) log_info("llm: run '{}' is already at step {}; nothing to train", run.path().string(), start);
  nlohmann::ordered_json summary = summarize(run.metrics().rows(), res);
  summary["params_total"] = pc.total;
  summary["params_active"] = pc.active;
  summary["flops_per_token"] = flops_per_token;
  summary["device"] = dev.str();
  summary["dtype"] = bf16 ? "bfloat16" : "float32";
  run.write_summary(summary);
  return res;
}

}  // namespace plexus::llm
