// ModelArgs parsing, validation, presets and parameter/FLOP counting. See config.h.
#include "plexus/llm/config.h"

#include <cmath>

#include "plexus/core/error.h"

namespace plexus::llm {

double ModelArgs::softmax_scale() const {
  double s = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  if (max_seq_len > original_seq_len) {
    // YaRN: attention temperature √t = 0.1·mscale·ln(s) + 1 enters the scale squared (model.py MLA).
    double m = 0.1 * mscale * std::log(rope_factor) + 1.0;
    s *= m * m;
  }
  return s;
}

const OptionSchema<ModelArgs>& ModelArgs::schema() {
  using A = ModelArgs;
  static const auto s =
      OptionSchema<A>("model")
          .key("max_seq_len", &A::max_seq_len, "longest context (RoPE tables, KV cache), tokens", "[1, 1048576]")
          .key("vocab_size", &A::vocab_size, "V (pretraining overwrites it with the tokenizer's size)", "[1, 1048576]")
          .key("dim", &A::dim, "C, model width", "[1, 65536]")
          .key("inter_dim", &A::inter_dim, "hidden width of the dense SwiGLU FFN", "[1, 262144]")
          .key("moe_inter_dim", &A::moe_inter_dim, "hidden width of each routed/shared expert", "[1, 262144]")
          .key("n_layers", &A::n_layers, "main-model blocks", "[1, 1024]")
          .key("n_dense_layers", &A::n_dense_layers, "leading blocks with a dense FFN (≤ n_layers)", "[0, 1024]")
          .key("n_heads", &A::n_heads, "H attention heads", "[1, 1024]")
          .key("n_routed_experts", &A::n_routed_experts, "E routed experts", "[1, 4096]")
          .key("n_shared_experts", &A::n_shared_experts, "shared SwiGLU width = n_shared_experts · moe_inter_dim",
               "[0, 64]")
          .key("n_activated_experts", &A::n_activated_experts, "K experts per token (top-k; ≤ E)", "[1, 4096]")
          .key("n_expert_groups", &A::n_expert_groups, "groups of group-limited routing (divides E; V3: 8)",
               "[1, 4096]")
          .key("n_limited_groups", &A::n_limited_groups, "groups a token may use (V3: 4)", "[1, 4096]")
          .key("score_func", &A::score_func, "gate scores: `sigmoid` (V3) or `softmax` (V2)",
               one_of({"sigmoid", "softmax"}))
          .key("route_scale", &A::route_scale, "multiplies the gate weights (V3: 2.5)", "(0, 1000]")
          .key("q_lora_rank", &A::q_lora_rank, "d_c' query compression rank (0 = none)", "[0, 65536]")
          .key("kv_lora_rank", &A::kv_lora_rank, "d_c, the latent KV rank", "[1, 65536]")
          .key("qk_nope_head_dim", &A::qk_nope_head_dim, "d_n", "[1, 4096]")
          .key("qk_rope_head_dim", &A::qk_rope_head_dim, "d_r (even: RoPE rotates pairs)", "[1, 4096]")
          .key("v_head_dim", &A::v_head_dim, "d_v", "[1, 4096]")
          .key("original_seq_len", &A::original_seq_len, "YaRN applies only when max_seq_len exceeds this",
               "[1, 1048576]")
          .key("rope_theta", &A::rope_theta, "RoPE base θ", "(1, 1e9]")
          .key("rope_factor", &A::rope_factor, "YaRN scale s", "[1, 1e6]")
          .key("beta_fast", &A::beta_fast, "YaRN β_fast", "[0, 1024]")
          .key("beta_slow", &A::beta_slow, "YaRN β_slow", "[0, 1024]")
          .key("mscale", &A::mscale, "YaRN attention scale coefficient (√t = 0.1·mscale·ln s + 1)", "[0, 100]")
          .key("bias_update_speed", &A::bias_update_speed, "γ of aux-loss-free balancing (0 = off)", "[0, 10]")
          .key("aux_loss_alpha", &A::aux_loss_alpha, "α of the sequence-wise balance loss (0 = off)", "[0, 10]")
          .key("n_mtp_modules", &A::n_mtp_modules, "D, multi-token-prediction depth (0 = off)", "[0, 16]")
          .key("mtp_loss_weight", &A::mtp_loss_weight, "λ, weight of the MTP loss", "[0, 100]")
          .key("init_std", &A::init_std, "std of every weight's normal init (V3: 0.006)", "(0, 10]")
          .key("norm_eps", &A::norm_eps, "RMSNorm ε", "(0, 1]")
          .key("attn_implementation", &A::attn_implementation,
               "training attention kernel: `sdpa` (fused scaled-dot-product attention where LibTorch ≥ 2.1 has "
               "it, else eager), `sdpa_padded` (v zero-padded to the q/k head dim so flash kernels qualify), "
               "`eager` (matmul + mask + softmax)",
               one_of({"sdpa", "sdpa_padded", "eager"}));
  return s;
}

void ModelArgs::validate(const std::string& sec) const {
  ConfigTable t(nullptr, sec);
  schema().check(*this, t);  // every key's declared range
  auto fail = [&](const char* key, const std::string& what) {
    throw Error::config("[{}] {}: {}", sec, key, what);
  };
  if (n_dense_layers > n_layers)
    fail("n_dense_layers", fmt::format("= {} must be in [0, n_layers = {}]", n_dense_layers, n_layers));
  if (n_activated_experts > n_routed_experts)
    fail("n_activated_experts", fmt::format("= {} exceeds n_routed_experts = {} (a token cannot use more "
                                            "experts than exist)", n_activated_experts, n_routed_experts));
  if (n_routed_experts % n_expert_groups != 0)
    fail("n_expert_groups", fmt::format("= {} must divide n_routed_experts = {}", n_expert_groups,
                                        n_routed_experts));
  if (n_limited_groups > n_expert_groups)
    fail("n_limited_groups", fmt::format("= {} exceeds n_expert_groups = {}", n_limited_groups, n_expert_groups));
  int64_t per_group = n_routed_experts / n_expert_groups;
  if (n_limited_groups * per_group < n_activated_experts)
    fail("n_limited_groups", fmt::format("= {} groups of {} experts hold fewer than n_activated_experts = {}; "
                                         "raise n_limited_groups", n_limited_groups, per_group,
                                         n_activated_experts));
  if (qk_rope_head_dim % 2 != 0)
    fail("qk_rope_head_dim", fmt::format("= {} must be even (RoPE rotates adjacent pairs)", qk_rope_head_dim));
}

ModelArgs ModelArgs::parse(ConfigTable& t) {
  ModelArgs a = schema().parse(t);
  a.validate(t.section());
  return a;
}

ModelArgs load_model_args(const std::filesystem::path& config) {
  auto root = load_toml(config);
  ConfigTable t(section_table(root, "model"), "model");
  return ModelArgs::parse(t);  // other tables of the file are the run's business
}

namespace {
// Matmul parameters of one block's attention (MLA) and of its FFN (dense or MoE: total and per-token).
struct BlockCount {
  int64_t attn = 0, ffn_total = 0, ffn_active = 0, norms = 0;
};
BlockCount block_count(const ModelArgs& a, bool moe) {
  BlockCount b;
  int64_t H = a.n_heads;
  if (a.q_lora_rank == 0) {
    b.attn += a.dim * H * a.qk_head_dim();
  } else {
    b.attn += a.dim * a.q_lora_rank + a.q_lora_rank * H * a.qk_head_dim();
    b.norms += a.q_lora_rank;
  }
  b.attn += a.dim * (a.kv_lora_rank + a.qk_rope_head_dim);
  b.attn += a.kv_lora_rank * H * (a.qk_nope_head_dim + a.v_head_dim);
  b.attn += H * a.v_head_dim * a.dim;
  b.norms += a.kv_lora_rank + 2 * a.dim;
  if (!moe) {
    b.ffn_total = b.ffn_active = 3 * a.dim * a.inter_dim;
  } else {
    int64_t expert = 3 * a.dim * a.moe_inter_dim;
    int64_t shared = 3 * a.dim * a.n_shared_experts * a.moe_inter_dim;
    int64_t gate = a.n_routed_experts * a.dim;
    b.ffn_total = a.n_routed_experts * expert + shared + gate;
    b.ffn_active = a.n_activated_experts * expert + shared + gate;
  }
  return b;
}
}  // namespace

ParamCount count_params(const ModelArgs& a) {
  ParamCount c;
  c.total = 2 * a.vocab_size * a.dim + a.dim;  // embedding, head, final norm
  c.active = a.vocab_size * a.dim;             // the head (the embedding is a lookup)
  for (int64_t l = 0; l < a.n_layers; ++l) {
    auto b = block_count(a, l >= a.n_dense_layers);
    c.total += b.attn + b.ffn_total + b.norms;
    c.active += b.attn + b.ffn_active;
  }
  for (int64_t k = 0; k < a.n_mtp_modules; ++k) {
    auto b = block_count(a, true);
    c.total += b.attn + b.ffn_total + b.norms + 2 * a.dim * a.dim + 3 * a.dim;
  }
  return c;
}

double train_flops_per_token(const ModelArgs& a, int64_t T) {
  double n = static_cast<double>(count_params(a).active);
  // Each MTP module runs one more MoE block, its eh_proj and the shared head on (almost) every token.
  auto b = block_count(a, true);
  n += static_cast<double>(a.n_mtp_modules) *
       static_cast<double>(b.attn + b.ffn_active + 2 * a.dim * a.dim + a.vocab_size * a.dim);
  double layers = static_cast<double>(a.n_layers + a.n_mtp_modules);
  double attn = 6.0 * layers * static_cast<double>(a.n_heads) * static_cast<double>(T) *
                static_cast<double>(a.qk_head_dim() + a.v_head_dim);
  return 6.0 * n + attn;
}

}  // namespace plexus::llm
