// Autoregressive sampling with the latent KV cache (absorbed MLA), for batches of prompts of different
// lengths: the batch is prefilled up to the shortest prompt, then each step feeds one token per sequence; a
// sequence still inside its prompt is fed its next prompt token instead of the sample (as DeepSeek's
// generate.py does), so every sequence sees exactly its own prompt. Sampling: temperature, then nucleus
// (top-p, Holtzman et al. 2020); temperature 0 is greedy. generate() runs on the rollout engine (rollout.h):
// a static preallocated cache, one-token steps at a device position, sampling on the device by inverse CDF,
// the EOS check on the host once every 8 tokens, and on CUDA the step captured once as a CUDA graph.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/core/options.h"
#include "plexus/llm/model.h"

namespace plexus::llm {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0.8;  ///< 0 = greedy (argmax)
  double top_p = 0.95;       ///< nucleus mass in (0, 1]
  uint64_t seed = 0;         ///< sampling stream (seed, "llm.sample", 0, position)
  int eos_id = -1;           ///< stop a sequence when it samples this id (-1: never)
  /// "auto": on CUDA, capture the decode step once as a CUDA graph and replay it per token (eager elsewhere, or
  /// after a failed capture); "on": the same, but an error instead of eager decoding (not on CUDA, a build
  /// without CUDA graphs, a failed capture: RolloutOptions::require_cuda_graphs); "off": eager launches
  /// (`--cuda-graphs`, as FL's run.cuda_graphs; same tokens either way: tests/llm/decode_test.cpp, LlmDecodeGpu).
  std::string cuda_graphs = "auto";
  /// The declared options of `plexus llm generate` (flags; core/options.h; defined in llm_options.cpp).
  static const OptionSchema<GenerateOptions>& schema();
};

/// softmax(logits / T) over the last dim, computed as softmax((logits − row max) / max(T, 1e-30)) so that a tiny
/// temperature gives the one-hot argmax instead of inf/inf = NaN (the float32 divisor would round to 0 below
/// 1e-30, where the result is already one-hot). logits [..., V] float32 → probabilities [..., V]. T > 0.
torch::Tensor tempered_softmax(const torch::Tensor& logits, double temperature);

/// Sample from next-token logits on the host with a generator (multinomial; generate() itself samples on the
/// device, rollout.h sample_on_device). Shapes: logits [B,V] f32 → [B] int64 (CPU).
/// Throws: Error(Config) if temperature < 0 or top_p ∉ (0,1].
torch::Tensor sample_next(const torch::Tensor& logits, double temperature, double top_p, at::Generator& gen);

/// Continue each prompt; returns only the new tokens (up to max_new_tokens each, ending before EOS if sampled).
/// Greedy output is token-identical to forward_cached decoding one position at a time (tests/llm/decode_test.cpp).
/// Throws: Error(Config) if a prompt is empty or prompt + max_new_tokens exceeds model.max_seq_len.
std::vector<std::vector<int64_t>> generate(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& o);

}  // namespace plexus::llm
