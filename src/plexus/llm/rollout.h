// On-device rollouts for GRPO, evaluation and `plexus llm generate`: R sequences (prompt ids, each possibly
// repeated G times) are continued with the latent KV cache: one eager prefill of the first min-prompt-length
// tokens (TransformerImpl::forward_cached), then static-shape one-token steps (StaticDecoder, kv_cache.h) whose
// position is a device scalar, so on CUDA the whole step — model, sampler, stop masks — is captured once as a
// CUDA graph (core/cuda_graph.h) and replayed per token (RolloutOptions::cuda_graphs). Everything in the decode
// loop stays on the model's device: sampling by inverse CDF from uniforms drawn once per rollout (row r uses
// the stream (seed, purpose, row_keys[r], step), so a row samples the same tokens whatever batch it is in)
// and copied to the device in one transfer, stop detection at `</answer>` or EOS by
// tensor masks, and only one host read every `check_every` tokens (are all rows done?). No per-token copy of
// logits or tokens to the host, no per-sequence .item().
//
// Layout: rows are left-aligned [prompt | completion | pad]; a row still inside its prompt is fed its own
// next prompt token (as generate.cpp does), so prompts of different lengths share one batch.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/llm/model.h"

namespace plexus::llm {

struct RolloutOptions {
  int64_t max_new_tokens = 128;  ///< completion budget per row (TRL max_completion_length)
  double temperature = 1.0;      ///< 0 = greedy
  double top_p = 1.0;            ///< nucleus mass in (0, 1]
  int64_t stop_id = -1;          ///< token that ends a completion (the `</answer>` piece), kept in it
  int64_t eos_id = -1;           ///< EOS also ends a completion (kept, masked like any token)
  int64_t pad_id = 0;            ///< filler after the end
  int64_t check_every = 8;       ///< tokens between host checks for "all rows done"
  uint64_t seed = 0;
  std::string purpose = "grpo.sample";
  uint64_t step = 0;
  std::vector<uint64_t> row_keys;  ///< per-row stream ids; empty = the row index
  /// Capture the decode step as a CUDA graph when the model is on CUDA and this build has CUDA graphs
  /// ("auto"); false = launch every kernel eagerly ("off"). Same tokens (LlmDecodeGpu); on the H200 the graphed
  /// rollout decodes 5.1x the eager one's tokens/s (docs/results.md).
  bool cuda_graphs = true;
  /// With cuda_graphs: fail instead of decoding eagerly (`plexus llm generate --cuda-graphs on`): an Error(Config)
  /// before any work when the model is not on CUDA or this build has no CUDA graphs, an Error(Infeasible) when the
  /// capture fails. A rollout of at most 3 steps after the prefill has nothing to replay and runs eagerly.
  bool require_cuda_graphs = false;
};

struct Rollout {
  torch::Tensor tokens;      ///< [R, S] int64 on the device: prompt, completion, pad
  torch::Tensor prompt_len;  ///< [R] int64 on the device
  torch::Tensor end;         ///< [R] int64: first position after the completion
  torch::Tensor stopped;     ///< [R] bool: ended by stop_id/EOS (false = truncated at the budget)
  int64_t generated = 0;     ///< completion tokens produced in total (Σ end − prompt_len)
};

/// Sample one token per row on the device. `u` are uniforms in [0,1). Shapes: logits [R,V], u [R] → [R] int64.
/// Source: nucleus sampling (Holtzman et al. 2020) by inverse CDF over the kept, sorted probabilities.
torch::Tensor sample_on_device(const torch::Tensor& logits, const torch::Tensor& u, double temperature, double top_p);

/// Continue every prompt. Throws: Error(Config) if a prompt is empty or prompt + max_new_tokens exceeds
/// model.max_seq_len, or temperature/top_p are out of range; with require_cuda_graphs, as that field says.
Rollout rollout(Transformer& model, const std::vector<std::vector<int64_t>>& prompts, const RolloutOptions& o);

/// Completion mask aligned with next-token targets tokens[:,1:]: 1 where target position p lies in
/// [prompt_len, end). Shapes: → [R, S−1] f32.
torch::Tensor completion_mask(const Rollout& r);

/// Host copy of each row's completion ids (one device→host copy of the whole batch).
std::vector<std::vector<int>> completions_on_host(const Rollout& r);

}  // namespace plexus::llm
