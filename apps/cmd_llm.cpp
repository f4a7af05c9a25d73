// `plexus llm …`: DeepSeek-V3 language models.
//   plexus llm tokenizer --config configs/dsv3_small.toml --out runs/brown_bpe   train + report a BPE tokenizer
//   plexus llm pretrain  --config configs/dsv3_small.toml [--set train.steps=100] [--resume] [--ranks R]
//                        (data parallel over R local ranks, or one rank of torchrun/mpirun/srun;
//                         docs/distributed.md "LLM data parallel")
//   plexus llm generate  --run runs/dsv3-small --prompt "The jury said" [--prompt ...] [--temperature 0.8]
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "command_registry.h"
#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/dist/group.h"
#include "plexus/dist/launch.h"
#include "plexus/dist/rank_env.h"
#include "plexus/dist/rank_failure.h"
#include "plexus/dist/stderr_prefix.h"
#include "plexus/llm/generate.h"
#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/pretrain.h"

namespace fs = std::filesystem;
using namespace plexus;
using namespace plexus::llm;
namespace dist = plexus::dist;

namespace {

struct ConfigArgs {
  std::string config;
  std::vector<std::string> sets;
};

void add_config_args(CLI::App* c, ConfigArgs& a) {
  c->add_option("--config,-c", a.config, "TOML experiment config (e.g. configs/dsv3_small.toml to pretrain, configs/r1_zero_addition.toml for GRPO)")
      ->required();
  c->add_option("--set", a.sets, "override a key, e.g. --set train.steps=100 (pretrain) or --set grpo.max_steps=100 (repeatable)");
}

PretrainConfig read_config(const ConfigArgs& a) {
  auto root = load_toml(a.config);
  for (auto& s : a.sets) apply_override(root, s);
  return PretrainConfig::parse(root);
}

void cmd_tokenizer(const ConfigArgs& a, const std::string& out) {
  auto cfg = read_config(a);
  std::vector<Document> train, val;
  load_corpus(cfg, train, val);
  auto tok = Tokenizer::train(document_lines(train), out, cfg.tokenizer);
  int64_t words = 0, chars = 0, tokens = 0;
  for (auto& line : document_lines(val)) {
    tokens += static_cast<int64_t>(tok.encode(line).size());
    chars += static_cast<int64_t>(line.size());
    bool in_word = false;
    for (char ch : line) {
      bool w = !std::isspace(static_cast<unsigned char>(ch));
      if (w && !in_word) ++words;
      in_word = w;
    }
  }
  fmt::print("tokenizer: {}.model  vocab {}  train docs {}  val docs {}\n", out, tok.vocab_size(), train.size(),
             val.size());
  fmt::print("validation: {} tokens, {:.3f} tokens/word, {:.2f} chars/token\n", tokens,
             static_cast<double>(tokens) / std::max<int64_t>(words, 1),
             static_cast<double>(chars) / std::max<int64_t>(tokens, 1));
  auto sample = document_lines(val).front();
  auto ids = tok.encode(sample);
  fmt::print("example: \"{}\"\n  → {} tokens, round trip {}\n", sample.substr(0, 120), ids.size(),
             tok.decode(ids) == sample ? "exact" : "differs");
}

void cmd_generate(const std::string& run_dir, const std::vector<std::string>& prompts, GenerateOptions o,
                  const std::string& device) {
  fs::path dir(run_dir);
  if (!fs::exists(dir / "config.toml"))
    throw Error::io("'{}' is not a run directory (no config.toml); pass --run runs/<name>", run_dir);
  auto root = load_toml(dir / "config.toml");
  for (const char* other : {"fl", "tuner", "market"})  // another family's run: say so, not "unknown table"
    if (root.contains(other))
      throw Error::config("'{}' is not an LLM run (its config has [{}]); pass a run of `plexus llm pretrain`", run_dir, other);
  auto cfg = PretrainConfig::parse(root);
  auto tok = Tokenizer::load(dir / "tokenizer.model");
  auto ck_path = newest_intact_checkpoint(dir / "checkpoints");  // a damaged newest file is skipped, with a warning
  if (ck_path.empty()) throw Error::io("run '{}' has no checkpoint; train it with `plexus llm pretrain`", run_dir);
  auto dev = resolve_device(device, "--device");
  Transformer model(cfg.model);
  load_module_state(*model, load_checkpoint(ck_path).tensors);
  model->to(dev);
  if (dev.is_cuda()) model->set_compute_dtype(torch::kBFloat16);
  std::vector<std::vector<int64_t>> ids;
  for (auto& p : prompts) {
    auto e = tok.encode(p);
    ids.emplace_back(e.begin(), e.end());
  }
  o.eos_id = tok.eos_id();
  auto outs = generate(model, ids, o);
  for (size_t i = 0; i < outs.size(); ++i) {
    std::vector<int> all(ids[i].begin(), ids[i].end());
    all.insert(all.end(), outs[i].begin(), outs[i].end());
    fmt::print("[{}] {}\n", i, tok.decode(all));
  }
}

}  // namespace

static plexus::app::CommandRegistrar reg("llm", [](CLI::App& app) {
  auto& g = plexus::app::subcommand_group(app, "llm", "DeepSeek-V3 language models: tokenizer, pretraining, generation");

  auto* tk = g.add_subcommand("tokenizer", "train a SentencePiece BPE tokenizer on the configured corpus");
  auto tk_args = std::make_shared<ConfigArgs>();
  auto tk_out = std::make_shared<std::string>("runs/tokenizer/bpe");
  add_config_args(tk, *tk_args);
  tk->add_option("--out", *tk_out, "output prefix (writes <out>.model and <out>.vocab)");
  tk->callback([tk_args, tk_out] { cmd_tokenizer(*tk_args, *tk_out); });

  auto* pt = g.add_subcommand("pretrain", "pretrain a DeepSeek-V3 model (MLA, DeepSeekMoE, MTP)");
  auto pt_args = std::make_shared<ConfigArgs>();
  auto resume = std::make_shared<bool>(false);
  add_config_args(pt, *pt_args);
  pt->add_flag("--resume", *resume, "continue <run.out_dir>/<run.name> from its latest checkpoint");
  auto ranks = std::make_shared<int>(0);  // 0: no local launch
  pt->add_option("--ranks", *ranks,
                 "data parallel over R local processes (c10d/Gloo, like torchrun --nproc-per-node R; "
                 "docs/distributed.md)")
      ->check(CLI::Range(1, 1024));
  pt->callback([pt_args, resume, ranks] {
    const auto env = dist::rank_env();  // a half-set rank environment is an error here, before anything runs
    if (env.distributed()) dist::prefix_stderr(fmt::format("[rank {}] ", env.rank));
    auto check_batch = [](const auto& cfg, int64_t R) {
      if (cfg.train.batch_size % R != 0)
        throw Error::config("train.batch_size = {} is not divisible by the {} ranks; use a multiple of {}",
                            cfg.train.batch_size, R, R);
    };
    if (*ranks > 0) {
      check_batch(read_config(*pt_args), *ranks);  // once here, before any rank starts
      const int code = dist::launch_local(*ranks, dist::without_option(dist::own_command_line(), "--ranks"));
      if (code != 0) std::exit(code);  // the failed rank printed its error
      return;
    }
    // Under a launcher even one rank goes through a process group (as DDP does; `--ranks 1` is how one NCCL
    // rank is compared with one process, docs/distributed.md). A rank's failure prints one `error:` line for the
    // whole run (dist/rank_failure.h).
    const bool grouped = env.distributed() || !env.launcher.empty();
    std::unique_ptr<dist::Group> group;
    dist::run_as_rank(grouped, env.rank, group, [&] {
      auto cfg = read_config(*pt_args);
      if (grouped) {
        check_batch(cfg, env.world);
        // NCCL between GPUs (one per rank, cuda:LOCAL_RANK), Gloo between CPUs.
        const bool cuda = resolve_device(cfg.run.device).is_cuda();
        group = dist::Group::connect(env, dist::dist_timeout_seconds(),
                                     cuda ? dist::Backend::Nccl : dist::Backend::Gloo);
      }
      auto r = pretrain(cfg, *resume, group.get());
      if (group && group->rank() != 0) return;  // rank 0 prints the run's result
      fmt::print("pretrain: step {}  train loss {:.4f}  val loss {:.4f}  {:.0f} tok/s  load max/mean {:.2f}  → {}\n",
                 r.last_step, r.train_loss, r.val_loss, r.tokens_per_s, r.load_max_mean, r.run_dir.string());
    });
  });

  auto* ge = g.add_subcommand("generate", "sample continuations from a trained run (latent KV cache)");
  auto run_dir = std::make_shared<std::string>();
  auto prompts = std::make_shared<std::vector<std::string>>();
  auto opts = std::make_shared<GenerateOptions>();
  auto device = std::make_shared<std::string>("cpu");
  auto seed = std::make_shared<int64_t>(0);
  ge->add_option("--run", *run_dir, "run directory, e.g. runs/dsv3-small")->required();
  ge->add_option("--prompt", *prompts, "prompt text (repeat for a batch)")->required();
  ge->add_option("--max-new-tokens", opts->max_new_tokens, "tokens to generate per prompt (default 64)");
  ge->add_option("--temperature", opts->temperature, "sampling temperature, 0 = greedy (default 0.8)");
  ge->add_option("--top-p", opts->top_p, "nucleus mass (default 0.95)");
  ge->add_option("--seed", *seed, "sampling seed (default 0)");
  ge->add_option("--device", *device, "cpu or cuda (default cpu)");
  ge->add_option("--cuda-graphs", opts->cuda_graphs,
                 "auto, on or off (as FL's run.cuda_graphs): replay the decode step from a CUDA graph on CUDA; auto "
                 "decodes eagerly where it cannot, on fails instead (default auto; same tokens either way)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  ge->callback([=] {
    if (*seed < 0) throw Error::config("plexus llm generate: --seed = {}: must be >= 0", *seed);
    opts->seed = static_cast<uint64_t>(*seed);
    auto flags = ConfigTable::flags("plexus llm generate");
    GenerateOptions::schema().check(*opts, flags);
    cmd_generate(*run_dir, *prompts, *opts, *device);
  });
});

// ---- DeepSeek-R1 pipeline: grpo, sft, distill, sample, eval (docs/grpo.md) ----
#include "plexus/core/run_dir.h"
#include "plexus/llm/grpo.h"
#include "plexus/llm/rl_common.h"
#include "plexus/llm/sft.h"

namespace {

toml::table read_toml(const ConfigArgs& a) {
  auto root = load_toml(a.config);
  for (auto& s : a.sets) apply_override(root, s);
  return root;
}

// Task options for `sample` / `eval`: the run's own [task] table (grpo/sft runs have one), then --task, then
// --set task.key=value overrides.
TaskOptions task_for_run(const fs::path& run, const std::string& name, const std::vector<std::string>& sets) {
  toml::table root;
  if (fs::exists(run / "config.toml")) {
    auto cfg = load_toml(run / "config.toml");
    if (auto* t = cfg["task"].as_table()) root.insert("task", *t);
  }
  if (!name.empty()) apply_override(root, "task.name=\"" + name + "\"");
  for (auto& s : sets) {
    if (s.rfind("task.", 0) != 0) throw Error::config("--set {}: only task.* keys can be set here", s);
    apply_override(root, s);
  }
  if (!root.contains("task"))
    throw Error::config("run '{}' has no [task]; pass --task countdown|addition|multiplication|sorting", run.string());
  ConfigTable t(root["task"].as_table(), "task");
  auto o = TaskOptions::parse(t);
  t.finish();
  return o;
}

struct SampleArgs {
  std::string run, task, out, filter = "verified", split = "train", device = "cpu";
  std::vector<std::string> sets;
  int64_t num_prompts = 64, seed = 0;
  EvalOptions eo;
};

// The run's own files, which --out must never overwrite.
std::vector<fs::path> run_files(const fs::path& run) {
  std::vector<fs::path> v;
  for (const char* f : {"config.toml", "summary.json", "metrics.jsonl", "metrics.csv", "data.json", "tokenizer.model",
                        "teacher_samples.jsonl", "run.lock"})
    v.push_back(run / f);
  std::error_code ec;
  if (fs::is_directory(run / "checkpoints", ec))
    for (const auto& e : fs::directory_iterator(run / "checkpoints", ec)) v.push_back(e.path());
  return v;
}

void cmd_sample(const SampleArgs& a, bool eval_mode) {
  // The same ranges as eval.temperature / eval.top_p in a config (EvalSchedule::parse).
  if (!(std::isfinite(a.eo.temperature) && a.eo.temperature >= 0))
    throw Error::config("--temperature = {} must be finite and >= 0 (0 = greedy)", a.eo.temperature);
  if (!(a.eo.top_p > 0 && a.eo.top_p <= 1)) throw Error::config("--top-p = {} must be in (0, 1]", a.eo.top_p);
  if (!a.out.empty()) {
    std::error_code ec;
    for (const auto& f : run_files(a.run))
      if (fs::exists(a.out, ec) && fs::exists(f, ec) && fs::equivalent(a.out, f, ec))
        throw Error::io("--out '{}' is the run's own {}; writing it would destroy the run (give another --out)", a.out,
                        f.filename().string());
    require_output_file(a.out);
  }
  auto topt = task_for_run(a.run, a.task, a.sets);
  auto task = make_task(topt);
  auto dev = resolve_device(a.device, "--device");
  Policy p = load_policy(a.run, dev, "--run");
  std::vector<Problem> probs;
  if (eval_mode || a.split == "test") {
    probs = task->test_set();
    if (a.num_prompts > 0 && static_cast<int64_t>(probs.size()) > a.num_prompts) probs.resize(static_cast<size_t>(a.num_prompts));
  } else {
    for (int64_t i = 0; i < a.num_prompts; ++i) probs.push_back(task->problem(0, static_cast<uint64_t>(i)));
  }
  check_policy_for_task(p, *task, probs, a.eo.max_new_tokens, "--max-new-tokens");
  auto eo = a.eo;
  eo.seed = static_cast<uint64_t>(a.seed);
  auto samples = sample_problems(p, *task, probs, eo, eval_mode ? "llm.eval" : "llm.rs");
  auto r = score_samples(samples, static_cast<int64_t>(probs.size()), eo.k);
  if (eval_mode) {
    nlohmann::ordered_json j;
    j["run"] = a.run, j["task"] = topt.name, j["problems"] = r.problems, j["k"] = r.k;
    j["temperature"] = eo.temperature, j["top_p"] = eo.top_p;
    j["pass1"] = r.pass1, j["cons"] = r.cons, j["format_rate"] = r.format_rate, j["answer_rate"] = r.answer_rate;
    j["mean_length"] = r.mean_length;
    if (!a.out.empty()) atomic_write(a.out, j.dump(2) + "\n");
    fmt::print("{}\n", j.dump());
    return;
  }
  if (a.out.empty()) throw Error::config("sample: give --out <file.jsonl>");
  auto n = write_samples(a.out, samples, a.filter == "verified");
  fmt::print("sample: {} of {} completions written to {} (pass@1 {:.3f}, format {:.3f})\n", n, samples.size(), a.out,
             r.pass1, r.format_rate);
}

void add_sample_args(CLI::App* c, SampleArgs& a, bool eval_mode) {
  c->add_option("--run", a.run, "policy run directory (pretrain, sft, grpo or distill)")->required();
  c->add_option("--task", a.task, "task name (default: the run's [task])");
  c->add_option("--set", a.sets, "override a task key, e.g. --set task.digits=2");
  c->add_option("--k", a.eo.k, "samples per problem (>= 1)")->check(CLI::Range(1, 1000000));
  c->add_option("--temperature", a.eo.temperature, "sampling temperature (default 0.6, as R1 evaluates)");
  c->add_option("--top-p", a.eo.top_p, "nucleus mass (default 0.95)");
  c->add_option("--max-new-tokens", a.eo.max_new_tokens, "completion budget (default 128)");
  c->add_option("--num-prompts", a.num_prompts, eval_mode ? "at most this many test problems (0 = all)"
                                                           : "training problems to sample (default 64)")
      ->check(CLI::Range(0, 1000000000));
  c->add_option("--device", a.device, "cpu or cuda");
  c->add_option("--seed", a.seed, "sampling seed");
  c->add_option("--out", a.out, eval_mode ? "also write the JSON result here" : "JSONL output file");
  if (!eval_mode) {
    c->add_option("--filter", a.filter, "verified (keep correct completions) or all")
        ->check(CLI::IsMember({"verified", "all"}));
    c->add_option("--split", a.split, "train or test")->check(CLI::IsMember({"train", "test"}));
  }
}

}  // namespace

static plexus::app::CommandRegistrar reg_r1("llm", [](CLI::App& app) {
  auto& g = plexus::app::subcommand_group(app, "llm", "DeepSeek-V3 language models: tokenizer, pretraining, generation");

  auto* gr = g.add_subcommand("grpo", "GRPO with rule-verified rewards (R1-Zero from a base run)");
  auto gr_args = std::make_shared<ConfigArgs>();
  auto gr_resume = std::make_shared<bool>(false);
  add_config_args(gr, *gr_args);
  gr->add_flag("--resume", *gr_resume, "continue <run.out_dir>/<run.name> from its latest checkpoint");
  gr->callback([gr_args, gr_resume] {
    auto r = grpo_train(GrpoConfig::parse(read_toml(*gr_args)), *gr_resume);
    fmt::print("grpo: step {}  held-out pass@1 {:.3f} → {:.3f}  cons {:.3f}  reward {:.3f}  generation {:.0f}% of "
               "step time  {:.0f} rollout tok/s  → {}\n",
               r.last_step, r.pass1_start, r.pass1_end, r.cons_end, r.reward_last, 100 * r.gen_fraction,
               r.rollout_tokens_per_s, r.run_dir.string());
  });

  for (bool distill : {false, true}) {
    auto* c = g.add_subcommand(distill ? "distill" : "sft",
                               distill ? "distil a teacher run's verified samples into a student base run (SFT)"
                                       : "supervised fine-tuning on task traces or verified samples (cold start)");
    auto args = std::make_shared<ConfigArgs>();
    auto resume = std::make_shared<bool>(false);
    add_config_args(c, *args);
    c->add_flag("--resume", *resume, "continue from the latest checkpoint");
    c->callback([args, resume, distill] {
      auto r = sft_train(SftConfig::parse(read_toml(*args), distill), *resume);
      fmt::print("{}: step {}  loss {:.4f}  {} examples  held-out pass@1 {:.3f} → {:.3f}  cons {:.3f}  → {}\n",
                 distill ? "distill" : "sft", r.last_step, r.loss, r.examples, r.pass1_start, r.pass1_end, r.cons_end,
                 r.run_dir.string());
    });
  }

  for (bool eval_mode : {false, true}) {
    auto* c = g.add_subcommand(eval_mode ? "eval" : "sample",
                               eval_mode ? "held-out pass@1 (mean over k samples) and cons@k of a policy run"
                                         : "sample completions of training (or test) problems; --filter verified keeps "
                                           "the correct ones (rejection sampling)");
    auto a = std::make_shared<SampleArgs>();
    if (!eval_mode) a->eo.temperature = 1.0, a->eo.top_p = 1.0;
    a->num_prompts = eval_mode ? 0 : 64;
    add_sample_args(c, *a, eval_mode);
    c->callback([a, eval_mode] { cmd_sample(*a, eval_mode); });
  }
});
