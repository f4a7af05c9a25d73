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

void ModelArgs::validate(const std::string& sec) const {
  auto fail = [&](const char* key, const std::string& what) {
    throw Error::config("[{}] {}: {}", sec, key, what);
  };
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) fail(key, fmt::format("= {} must be > 0", v));
  };
  positive("max_seq_len", max_seq_len);
  positive("vocab_size", vocab_size);
  positive("dim", dim);
  positive("inter_dim", inter_dim);
  positive("moe_inter_dim", moe_inter_dim);
  positive("n_layers", n_layers);
  positive("n_heads", n_heads);
  positive("n_routed_experts", n_routed_experts);
  positive("n_activated_experts", n_activated_experts);
  positive("n_expert_groups", n_expert_groups);
  positive("n_limited_groups", n_limited_groups);
  positive("kv_lora_rank", kv_lora_rank);
  positive("qk_nope_head_dim", qk_nope_head_dim);
  positive("qk_rope_head_dim", qk_rope_head_dim);
  positive("v_head_dim", v_head_dim);
  positive("original_seq_len", original_seq_len);
  if (n_dense_layers < 0 || n_dense_layers > n_layers)
    fail("n_dense_layers", fmt::format("= {} must be in [0, n_layers = {}]", n_dense_layers, n_layers));
  if (n_shared_experts < 0) fail("n_shared_experts", fmt::format("= {} must be >= 0", n_shared_experts));
  if (q_lora_rank < 0) fail("q_lora_rank", fmt::format("= {} must be >= 0 (0 = no query compression)", q_lora_rank));
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
  if (score_func != "sigmoid" && score_func != "softmax")
    fail("score_func", fmt::format("= \"{}\" must be \"sigmoid\" or \"softmax\"", score_func));
  if (!(route_scale > 0)) fail("route_scale", fmt::format("= {} must be > 0", route_scale));
  if (!(rope_theta > 1)) fail("rope_theta", fmt::format("= {} must be > 1", rope_theta));
  if (!(rope_factor >= 1)) fail("rope_factor", fmt::format("= {} must be >= 1", rope_factor));
  if (bias_update_speed < 0) fail("bias_update_speed", fmt::format("= {} must be >= 0", bias_update_speed));
  if (aux_loss_alpha < 0) fail("aux_loss_alpha", fmt::format("= {} must be >= 0", aux_loss_alpha));
  if (n_mtp_modules < 0) fail("n_mtp_modules", fmt::format("= {} must be >= 0", n_mtp_modules));
  if (mtp_loss_weight < 0) fail("mtp_loss_weight", fmt::format("= {} must be >= 0", mtp_loss_weight));
  if (!(init_std > 0)) fail("init_std", fmt::format("= {} must be > 0", init_std));
  if (!(norm_eps > 0)) fail("norm_eps", fmt::format("= {} must be > 0", norm_eps));
}

std::vector<std::string> model_preset_names() { return {"tiny", "small", "gpu100m"}; }

ModelArgs model_preset(const std::string& name) {
  ModelArgs a;
  if (name == "tiny") {
    // Unit tests: every feature on (q compression, groups, MTP) at a size that runs in milliseconds.
    a.max_seq_len = 64; a.vocab_size = 64; a.dim = 32; a.inter_dim = 64; a.moe_inter_dim = 16;
    a.n_layers = 2; a.n_dense_layers = 1; a.n_heads = 2;
    a.n_routed_experts = 8; a.n_shared_experts = 1; a.n_activated_experts = 2;
    a.n_expert_groups = 4; a.n_limited_groups = 2; a.route_scale = 1.0;
    a.q_lora_rank = 24; a.kv_lora_rank = 16; a.qk_nope_head_dim = 8; a.qk_rope_head_dim = 4;
    a.v_head_dim = 8; a.init_std = 0.02;
  } else if (name == "small") {
    // CPU demo on the Brown corpus: the spec's scaled-down recipe (rope = nope/2, v = nope, d_c = 4·d_r·..).
    a.max_seq_len = 256; a.vocab_size = 4096; a.dim = 192; a.inter_dim = 512; a.moe_inter_dim = 96;
    a.n_layers = 4; a.n_dense_layers = 1; a.n_heads = 4;
    a.n_routed_experts = 8; a.n_shared_experts = 1; a.n_activated_experts = 2;
    a.n_expert_groups = 2; a.n_limited_groups = 1; a.route_scale = 1.0;
    a.q_lora_rank = 0; a.kv_lora_rank = 64; a.qk_nope_head_dim = 32; a.qk_rope_head_dim = 16;
    a.v_head_dim = 32; a.init_std = 0.02;
  } else if (name == "gpu100m") {
    // ~100M total parameters (~30M active): the H200 benchmark configuration.
    a.max_seq_len = 1024; a.vocab_size = 8192; a.dim = 768; a.inter_dim = 2048; a.moe_inter_dim = 256;
    a.n_layers = 8; a.n_dense_layers = 1; a.n_heads = 8;
    a.n_routed_experts = 16; a.n_shared_experts = 1; a.n_activated_experts = 2;
    a.n_expert_groups = 4; a.n_limited_groups = 2; a.route_scale = 1.0;
    a.q_lora_rank = 384; a.kv_lora_rank = 256; a.qk_nope_head_dim = 64; a.qk_rope_head_dim = 32;
    a.v_head_dim = 64; a.init_std = 0.02;
  } else {
    throw Error::config("[model] preset = \"{}\" is unknown (choose tiny, small or gpu100m)", name);
  }
  return a;
}

ModelArgs ModelArgs::parse(ConfigTable& t) {
  std::string preset = "small";
  t.get_choice("preset", preset, model_preset_names());
  ModelArgs a = model_preset(preset);
  t.get("max_seq_len", a.max_seq_len);
  t.get("vocab_size", a.vocab_size);
  t.get("dim", a.dim);
  t.get("inter_dim", a.inter_dim);
  t.get("moe_inter_dim", a.moe_inter_dim);
  t.get("n_layers", a.n_layers);
  t.get("n_dense_layers", a.n_dense_layers);
  t.get("n_heads", a.n_heads);
  t.get("n_routed_experts", a.n_routed_experts);
  t.get("n_shared_experts", a.n_shared_experts);
  t.get("n_activated_experts", a.n_activated_experts);
  t.get("n_expert_groups", a.n_expert_groups);
  t.get("n_limited_groups", a.n_limited_groups);
  t.get_choice("score_func", a.score_func, {"sigmoid", "softmax"});
  t.get("route_scale", a.route_scale);
  t.get("q_lora_rank", a.q_lora_rank);
  t.get("kv_lora_rank", a.kv_lora_rank);
  t.get("qk_nope_head_dim", a.qk_nope_head_dim);
  t.get("qk_rope_head_dim", a.qk_rope_head_dim);
  t.get("v_head_dim", a.v_head_dim);
  t.get("original_seq_len", a.original_seq_len);
  t.get("rope_theta", a.rope_theta);
  t.get("rope_factor", a.rope_factor);
  t.get("beta_fast", a.beta_fast);
  t.get("beta_slow", a.beta_slow);
  t.get("mscale", a.mscale);
  t.get("bias_update_speed", a.bias_update_speed);
  t.get("aux_loss_alpha", a.aux_loss_alpha);
  t.get("n_mtp_modules", a.n_mtp_modules);
  t.get("mtp_loss_weight", a.mtp_loss_weight);
  t.get("init_std", a.init_std);
  t.get("norm_eps", a.norm_eps);
  t.finish();
  a.validate(t.section());
  return a;
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
