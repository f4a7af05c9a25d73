// `plexus llm …`: DeepSeek-V3 language models.
//   plexus llm tokenizer --config configs/dsv3_small.toml --out runs/brown_bpe   train + report a BPE tokenizer
//   plexus llm pretrain  --config configs/dsv3_small.toml [--set train.steps=100] [--resume]
//   plexus llm generate  --run runs/dsv3-small --prompt "The jury said" [--prompt ...] [--temperature 0.8]
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "command_registry.h"
#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/llm/generate.h"
#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/pretrain.h"

namespace fs = std::filesystem;
using namespace plexus;
using namespace plexus::llm;

namespace {

struct ConfigArgs {
  std::string config;
  std::vector<std::string> sets;
};

void add_config_args(CLI::App* c, ConfigArgs& a) {
  c->add_option("--config", a.config, "TOML experiment config (e.g. configs/dsv3_small.toml)")->required();
  c->add_option("--set", a.sets, "override a key, e.g. --set train.steps=100 (repeatable)");
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
  auto cfg = PretrainConfig::parse(load_toml(dir / "config.toml"));
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
  pt->add_flag("--resume", *resume, "continue runs/<run.name> from its latest checkpoint");
  pt->callback([pt_args, resume] {
    auto r = pretrain(read_config(*pt_args), *resume);
    fmt::print("pretrain: step {}  train loss {:.4f}  val loss {:.4f}  {:.0f} tok/s  load max/mean {:.2f}  → {}\n",
               r.last_step, r.train_loss, r.val_loss, r.tokens_per_s, r.load_max_mean, r.run_dir.string());
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
  ge->callback([=] {
    opts->seed = static_cast<uint64_t>(*seed);
    cmd_generate(*run_dir, *prompts, *opts, *device);
  });
});
