// ModelArgs: the DeepSeek-V3 architecture hyperparameters, spelled exactly as DeepSeek's
// inference/configs/*.json (and `ModelArgs` in inference/model.py), plus the three training-only knobs of the
// V3 report: the bias update speed γ (§2.1.2), the sequence-wise balance weight α (eq.17-20) and the MTP
// depth D and weight λ (§2.2).
//
// Letters used across src/plexus/llm: B batch, T sequence length, C = dim, V vocab, H heads, E routed experts,
// K activated experts per token, d_c = kv_lora_rank, d_r = qk_rope_head_dim, d_n = qk_nope_head_dim,
// d_v = v_head_dim.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plexus/core/options.h"

namespace plexus::llm {

/// The model's hyperparameters. The in-class defaults are the CPU demo model of configs/dsv3_small.toml
/// (~4.4M parameters); configs/dsv3_tiny.toml (tests) and configs/dsv3_100m.toml (GPU) set every key.
struct ModelArgs {
  int64_t max_seq_len = 256;        ///< longest context the RoPE tables and KV cache cover (tokens)
  int64_t vocab_size = 4096;        ///< V; overwritten by the tokenizer's size in pretraining
  int64_t dim = 192;                ///< C, model width
  int64_t inter_dim = 512;          ///< hidden width of the dense SwiGLU FFN (first n_dense_layers)
  int64_t moe_inter_dim = 96;       ///< hidden width of each routed/shared expert
  int64_t n_layers = 4;             ///< main-model blocks
  int64_t n_dense_layers = 1;       ///< leading blocks with a dense FFN instead of MoE
  int64_t n_heads = 4;              ///< H
  // moe
  int64_t n_routed_experts = 8;     ///< E
  int64_t n_shared_experts = 1;     ///< shared SwiGLU width = n_shared_experts * moe_inter_dim
  int64_t n_activated_experts = 2;  ///< K (top-k)
  int64_t n_expert_groups = 2;      ///< groups for group-limited routing (V3: 8)
  int64_t n_limited_groups = 1;     ///< groups a token may use (V3: 4)
  std::string score_func = "sigmoid";  ///< "sigmoid" (V3) or "softmax" (V2)
  double route_scale = 1.0;         ///< multiplies the gate weights (V3: 2.5)
  // mla
  int64_t q_lora_rank = 0;          ///< d_c'; 0 = no query compression
  int64_t kv_lora_rank = 64;        ///< d_c
  int64_t qk_nope_head_dim = 32;    ///< d_n
  int64_t qk_rope_head_dim = 16;    ///< d_r (even)
  int64_t v_head_dim = 32;          ///< d_v
  // yarn
  int64_t original_seq_len = 4096;  ///< YaRN applies only when max_seq_len exceeds this
  double rope_theta = 10000.0;      ///< θ
  double rope_factor = 40.0;        ///< s
  int64_t beta_fast = 32;
  int64_t beta_slow = 1;
  double mscale = 1.0;              ///< YaRN attention scale coefficient (√t = 0.1·mscale·ln s + 1)
  // training-only (V3 report)
  double bias_update_speed = 0.001;  ///< γ of aux-loss-free balancing; 0 turns the bias update off
  double aux_loss_alpha = 1e-4;     ///< α of the complementary sequence-wise balance loss; 0 = off
  int64_t n_mtp_modules = 1;        ///< D, multi-token-prediction depth; 0 = off
  double mtp_loss_weight = 0.3;     ///< λ
  double init_std = 0.02;           ///< std of every weight's normal init (V3 §4.2 uses 0.006)
  double norm_eps = 1e-6;           ///< RMSNorm ε
  // kernels (not architecture): HF transformers' name for the attention implementation
  std::string attn_implementation = "sdpa";  ///< "sdpa" | "sdpa_padded" | "eager" (mla.h, MlaImpl::attend)

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }

  /// Softmax scale of MLA: (d_n+d_r)^-1/2, times mscale² when YaRN is active.
  /// Source: model.py MLA.__init__; V2 report §2.1.3 (√t = 0.0707 ln s + 1).
  double softmax_scale() const;

  /// Throws: Error(Config) naming the offending key for any out-of-range or inconsistent setting (e.g. experts
  /// not divisible by groups, more activated than routed experts, odd rope dim).
  void validate(const std::string& section = "model") const;

  /// Parse a [model] table (every key spelled as DeepSeek's config.json; absent keys keep the defaults above).
  /// Throws: Error(Config) on unknown keys, wrong types or invalid values.
  static ModelArgs parse(ConfigTable& t);
  /// The declared keys of [model] (core/options.h).
  static const OptionSchema<ModelArgs>& schema();
};

/// The [model] table of a config file, e.g. configs/dsv3_tiny.toml (the model the tests use).
/// Throws: Error(Io/Config) as load_toml and ModelArgs::parse.
ModelArgs load_model_args(const std::filesystem::path& config);

/// Parameter counts. `active` counts what one token touches (K routed + shared experts, the head; not the
/// embedding lookup), the N in the 6·N FLOPs-per-token rule.
struct ParamCount {
  int64_t total = 0;
  int64_t active = 0;
};
ParamCount count_params(const ModelArgs& a);

/// Training FLOPs per token (forward + backward) for sequence length T: 6·N_active plus the attention
/// products 6·L·H·T·(d_qk + d_v) (nanoGPT's 12·L·H·Q·T rule with MLA's unequal q/k and v head dims, causal
/// work counted in full as the kernels compute it). Units: FLOP per token.
double train_flops_per_token(const ModelArgs& a, int64_t T);

}  // namespace plexus::llm
