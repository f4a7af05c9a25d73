// Loading policies from run directories. See policy.h.
#include "plexus/llm/policy.h"

#include "plexus/core/checkpoint.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/llm/optim.h"

namespace fs = std::filesystem;

namespace plexus::llm {

int64_t single_token_id(const Tokenizer& tok, const std::string& piece) {
  auto ids = tok.encode("x" + piece);
  if (ids.empty()) return -1;
  int last = ids.back();
  return tok.decode({last}) == piece ? last : -1;
}

int64_t first_word_token(const Tokenizer& tok, const std::string& word) {
  for (int t : tok.encode(" " + word))
    if (tok.decode({t}).find_first_not_of(" \t\n") != std::string::npos) return t;
  return -1;
}

std::vector<int64_t> encode64(const Tokenizer& tok, const std::string& text) {
  auto e = tok.encode(text);
  return {e.begin(), e.end()};
}

void copy_tokenizer(const Policy& p, const fs::path& dir) {
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.model", "tokenizer.vocab"})
    if (fs::exists(p.run / f) && !fs::exists(dir / f)) fs::copy_file(p.run / f, dir / f);
}

Policy load_policy(const fs::path& run_dir, torch::Device dev, const std::string& what) {
  if (!fs::exists(run_dir / "config.toml"))
    throw Error::io("{} = '{}' is not a run directory (no config.toml); train it first (plexus llm pretrain/sft/grpo)",
                    what, run_dir.string());
  auto root = load_toml(run_dir / "config.toml");
  if (root.contains("fl")) {  // its [model] is a classifier's: say so instead of failing on its keys
    throw Error::config("{} = '{}' is an FL run (plexus fl run), not a language model: give an LLM run (plexus llm "
                        "pretrain/sft/grpo)", what, run_dir.string());
  }
  auto* m = root["model"].as_table();
  if (!m) throw Error::data("{} = '{}': config.toml has no [model] table", what, run_dir.string());
  Policy p;
  p.run = run_dir;
  {
    ConfigTable t(m, "model");
    p.args = ModelArgs::parse(t);
    p.model_table = t.resolved();
  }
  if (!fs::exists(run_dir / "tokenizer.model"))
    throw Error::io("{} = '{}' has no tokenizer.model", what, run_dir.string());
  p.tok = std::make_shared<Tokenizer>(Tokenizer::load(run_dir / "tokenizer.model"));
  if (p.tok->vocab_size() != p.args.vocab_size)
    throw Error::data("{} = '{}': tokenizer has {} pieces but model.vocab_size = {} (another architecture?)", what,
                      run_dir.string(), p.tok->vocab_size(), p.args.vocab_size);
  auto ck = latest_checkpoint(run_dir / "checkpoints");
  if (ck.empty()) throw Error::io("{} = '{}' has no checkpoint; train it first", what, run_dir.string());
  p.model = Transformer(p.args);
  try {
    load_module_state(*p.model, load_checkpoint(ck).tensors);
  } catch (const Error& e) {
    throw Error::data("{} = '{}': {}", what, run_dir.string(), e.what());
  }
  p.model->to(dev);
  if (dev.is_cuda()) p.model->set_compute_dtype(torch::kBFloat16);
  p.stop_id = single_token_id(*p.tok, "</answer>");
  return p;
}

}  // namespace plexus::llm
