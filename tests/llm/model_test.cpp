// DeepSeek-V3 model tests: config validation, RoPE closed forms, causality, naive vs absorbed MLA, cached
// decoding, MTP shifts, gate routing and aux-loss-free balancing, the sequence-wise loss, overfitting, and
// state round-trips. Every expected value is computed independently of the code under test.
#include <gtest/gtest.h>

#include <cmath>

#include "plexus/core/checkpoint.h"
#include "plexus/core/config.h"
#include "tiny_model.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/config.h"
#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"

using namespace plexus;
using namespace plexus::llm;

namespace {

ModelArgs tiny() { return plexus::test::tiny_model(); }

torch::Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  return torch::randint(V, {B, T}, torch_generator(stream_key(seed, "test.tokens")), torch::kInt64);
}

// Expect a Config error whose message names `key`.
template <class F> void expect_config_error(F f, const std::string& key) {
  try {
    f();
    FAIL() << "expected a config error naming " << key;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(LlmConfig, RejectsInconsistentSettings) {
  auto a = tiny();
  a.n_routed_experts = 6;  // 4 groups do not divide 6
  expect_config_error([&] { a.validate(); }, "n_expert_groups");
  a = tiny();
  a.n_activated_experts = 9;  // more than the 8 routed experts
  expect_config_error([&] { a.validate(); }, "n_activated_experts");
  a = tiny();
  a.qk_rope_head_dim = 5;
  expect_config_error([&] { a.validate(); }, "qk_rope_head_dim");
  a = tiny();
  a.n_limited_groups = 1;  // one group of 2 experts cannot hold top-2 ... it can; use top-3
  a.n_activated_experts = 3;
  expect_config_error([&] { a.validate(); }, "n_limited_groups");
  a = tiny();
  a.n_dense_layers = 3;
  expect_config_error([&] { a.validate(); }, "n_dense_layers");
}

TEST(LlmConfig, ParseRejectsUnknownKeyAndKeepsDefaults) {
  auto root = parse_toml("[model]\nkv_lora_rnk = 3\n");
  ConfigTable t(root["model"].as_table(), "model");
  expect_config_error([&] { ModelArgs::parse(t); }, "kv_lora_rnk");
  auto root2 = parse_toml("[model]\ndim = 48\n");
  ConfigTable t2(root2["model"].as_table(), "model");
  auto a = ModelArgs::parse(t2);
  EXPECT_EQ(a.dim, 48);
  EXPECT_EQ(a.n_routed_experts, 8);  // the in-class default (the small model)
  // The old C++ preset is gone: a preset key is an unknown key.
  auto root3 = parse_toml("[model]\npreset = \"tiny\"\n");
  ConfigTable t3(root3["model"].as_table(), "model");
  expect_config_error([&] { ModelArgs::parse(t3); }, "preset");
}

// configs/dsv3_small.toml spells out the model the removed C++ "small" preset built (with the config's own
// bias_update_speed = 0.01): every value below is the preset's, copied from the code before the change.
TEST(LlmConfig, SmallConfigFileIsTheFormerSmallPreset) {
  auto a = load_model_args(std::string(PLEXUS_SOURCE_DIR) + "/configs/dsv3_small.toml");
  EXPECT_EQ(a.max_seq_len, 256); EXPECT_EQ(a.vocab_size, 4096); EXPECT_EQ(a.dim, 192); EXPECT_EQ(a.inter_dim, 512);
  EXPECT_EQ(a.moe_inter_dim, 96); EXPECT_EQ(a.n_layers, 4); EXPECT_EQ(a.n_dense_layers, 1); EXPECT_EQ(a.n_heads, 4);
  EXPECT_EQ(a.n_routed_experts, 8); EXPECT_EQ(a.n_shared_experts, 1); EXPECT_EQ(a.n_activated_experts, 2);
  EXPECT_EQ(a.n_expert_groups, 2); EXPECT_EQ(a.n_limited_groups, 1); EXPECT_EQ(a.route_scale, 1.0);
  EXPECT_EQ(a.q_lora_rank, 0); EXPECT_EQ(a.kv_lora_rank, 64); EXPECT_EQ(a.qk_nope_head_dim, 32);
  EXPECT_EQ(a.qk_rope_head_dim, 16); EXPECT_EQ(a.v_head_dim, 32); EXPECT_EQ(a.init_std, 0.02);
  EXPECT_EQ(a.bias_update_speed, 0.01); EXPECT_EQ(a.aux_loss_alpha, 1e-4); EXPECT_EQ(a.n_mtp_modules, 1);
  EXPECT_EQ(a.mtp_loss_weight, 0.3); EXPECT_EQ(a.score_func, "sigmoid"); EXPECT_EQ(a.norm_eps, 1e-6);
  EXPECT_EQ(a.original_seq_len, 4096); EXPECT_EQ(a.rope_theta, 10000.0); EXPECT_EQ(a.rope_factor, 40.0);
  EXPECT_EQ(count_params(a).total, 4407232);  // docs/results.md: "4.41M parameters" for the small model
  auto g = load_model_args(std::string(PLEXUS_SOURCE_DIR) + "/configs/dsv3_100m.toml");
  EXPECT_EQ(g.dim, 768); EXPECT_EQ(g.n_layers, 8); EXPECT_EQ(g.q_lora_rank, 384); EXPECT_EQ(g.kv_lora_rank, 256);
  EXPECT_EQ(g.n_routed_experts, 16); EXPECT_EQ(g.n_expert_groups, 4); EXPECT_EQ(g.n_limited_groups, 2);
  auto b = load_model_args(std::string(PLEXUS_SOURCE_DIR) + "/configs/dsv3_1b.toml");  // issue 19's ~1B preset
  EXPECT_EQ(b.dim, 1024); EXPECT_EQ(b.n_layers, 16); EXPECT_EQ(b.n_routed_experts, 32);
  EXPECT_EQ(b.n_activated_experts, 4); EXPECT_EQ(b.moe_inter_dim, 512);
  // Routed experts alone: 15 MoE layers × 32 experts × 3·1024·512 = 754,974,720 of the ~0.9B.
  EXPECT_GT(count_params(b).total, 754974720); EXPECT_LT(count_params(b).total, 1100000000);
  EXPECT_EQ(b.attn_implementation, "sdpa");
}

TEST(LlmConfig, AttnImplementationIsOneOfTheKernels) {
  for (const char* v : {"sdpa", "sdpa_padded", "eager"}) {
    auto t = parse_toml(fmt::format("[model]\nattn_implementation = \"{}\"\n", v));
    ConfigTable c(t["model"].as_table(), "model");
    EXPECT_EQ(ModelArgs::parse(c).attn_implementation, v);
  }
  auto t = parse_toml("[model]\nattn_implementation = \"flash\"\n");
  ConfigTable c(t["model"].as_table(), "model");
  expect_config_error([&] { ModelArgs::parse(c); }, "attn_implementation");
}

TEST(LlmConfig, SoftmaxScaleUsesYarnMscaleOnlyWhenExtended) {
  auto a = tiny();
  EXPECT_DOUBLE_EQ(a.softmax_scale(), 1.0 / std::sqrt(12.0));  // d_n + d_r = 8 + 4
  a.max_seq_len = 8192;
  a.original_seq_len = 4096;
  a.rope_factor = 40;
  a.mscale = 1.0;
  double m = 0.1 * std::log(40.0) + 1.0;  // V3: mscale² ≈ 1.874 (spec A3)
  EXPECT_NEAR(m * m, 1.874, 1e-3);
  EXPECT_DOUBLE_EQ(a.softmax_scale(), m * m / std::sqrt(12.0));
}

TEST(LlmRope, RotatesAdjacentPairsByPositionTimesFrequency) {
  auto a = tiny();  // d_r = 4: f = [1, θ^-1/2] = [1, 0.01]
  auto tab = precompute_rope(a);
  auto x = torch::tensor({1.f, 0.f, 0.f, 1.f}).view({1, 1, 1, 4}).expand({1, 3, 1, 4}).contiguous();
  auto y = apply_rope(x, tab.cos.narrow(0, 0, 3), tab.sin.narrow(0, 0, 3));
  for (int p = 0; p < 3; ++p) {
    // pair 0: (1,0) → (cos p, sin p); pair 1: (0,1) → (-sin 0.01p, cos 0.01p)
    EXPECT_NEAR(y[0][p][0][0].item<float>(), std::cos(p * 1.0), 1e-6);
    EXPECT_NEAR(y[0][p][0][1].item<float>(), std::sin(p * 1.0), 1e-6);
    EXPECT_NEAR(y[0][p][0][2].item<float>(), -std::sin(p * 0.01), 1e-6);
    EXPECT_NEAR(y[0][p][0][3].item<float>(), std::cos(p * 0.01), 1e-6);
  }
}

TEST(LlmRope, YarnRampMatchesSpecForV3Dims) {
  ModelArgs a;  // d_r = 64, θ = 1e4, s = 40: low = 10, high = 23 (spec A4, derived)
  a.qk_rope_head_dim = 64;
  a.max_seq_len = 8192;
  auto f = rope_frequencies(a);
  for (int i : {0, 5, 10}) EXPECT_NEAR(f[i].item<double>(), std::pow(1e4, -2.0 * i / 64), 1e-12);
  for (int i : {23, 28, 31}) EXPECT_NEAR(f[i].item<double>(), std::pow(1e4, -2.0 * i / 64) / 40, 1e-12);
  double r = (16.0 - 10.0) / 13.0, f16 = std::pow(1e4, -32.0 / 64);
  EXPECT_NEAR(f[16].item<double>(), f16 * (1 - r) + f16 / 40 * r, 1e-12);
}

TEST(LlmModel, ChangingAFutureTokenLeavesEarlierLogitsUnchanged) {
  torch::manual_seed(0);
  Transformer m(tiny());
  m->init_weights(1);
  m->eval();
  auto t = random_tokens(2, 12, 64, 2);
  auto t2 = t.clone();
  t2.index_put_({torch::indexing::Slice(), 8}, (t.index({torch::indexing::Slice(), 8}) + 1) % 64);
  auto a = m->forward(t), b = m->forward(t2);
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 8), b.narrow(1, 0, 8), 0, 1e-6));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 8, 4), b.narrow(1, 8, 4), 0, 1e-6));  // the change is visible
}

TEST(LlmMla, AbsorbedEqualsNaive) {
  auto a = tiny();
  Transformer m(a);
  m->init_weights(3);
  auto mla = m->layers[0]->as<Block>()->attn;
  auto x = torch::randn({2, 10, a.dim}, torch_generator(stream_key(3, "test.x")));
  auto tab = precompute_rope(a);
  auto cos = tab.cos.narrow(0, 0, 10), sin = tab.sin.narrow(0, 0, 10);
  torch::NoGradGuard ng;
  auto naive = mla->forward(x, cos, sin);
  auto cache = MlaCache::allocate(a, 2, 16, torch::kCPU, torch::kFloat32);
  auto absorbed = mla->forward_absorbed(x, 0, cos, sin, cache);
  // Same function, different association order of f32 products: agree to ~1e-6 relative.
  EXPECT_TRUE(torch::allclose(naive, absorbed, 1e-4, 1e-6)) << (naive - absorbed).abs().max().item<float>();
  EXPECT_EQ(cache.kv.size(2) + cache.pe.size(2), a.kv_lora_rank + a.qk_rope_head_dim);
}

TEST(LlmModel, CachedIncrementalDecodingEqualsFullForward) {
  Transformer m(tiny());
  m->init_weights(4);
  m->eval();
  torch::NoGradGuard ng;
  auto t = random_tokens(2, 11, 64, 5);
  auto full = m->forward(t);
  auto caches = m->make_caches(2, 16);
  std::vector<torch::Tensor> parts{m->forward_cached(t.narrow(1, 0, 4), 0, caches)};  // prefill 4
  for (int64_t p = 4; p < 11; ++p) parts.push_back(m->forward_cached(t.narrow(1, p, 1), p, caches));
  auto inc = torch::cat(parts, 1);
  EXPECT_TRUE(torch::allclose(full, inc, 1e-4, 1e-5)) << (full - inc).abs().max().item<float>();
}

TEST(LlmMtp, TargetsAreShiftedByDepth) {
  auto inputs = torch::arange(10, torch::kInt64).view({1, 10});  // t_0..t_9
  auto targets = inputs + 1;                                       // t_1..t_10
  for (int64_t k = 1; k <= 3; ++k) {
    auto [in_k, tgt_k] = mtp_slices(inputs, targets, k);
    ASSERT_EQ(in_k.size(1), 10 - k);
    for (int64_t i = 0; i < 10 - k; ++i) {
      EXPECT_EQ(in_k[0][i].item<int64_t>(), i + k);       // Emb(t_{i+k}) at position i
      EXPECT_EQ(tgt_k[0][i].item<int64_t>(), i + k + 1);  // predicts t_{i+k+1}
    }
  }
}

TEST(LlmMtp, LossIsLambdaOverDTimesCrossEntropyOverT) {
  auto a = tiny();
  a.n_mtp_modules = 2;
  a.mtp_loss_weight = 0.3;
  Transformer m(a);
  m->init_weights(6);
  m->eval();
  torch::NoGradGuard ng;
  auto t = random_tokens(2, 9, 64, 7);
  auto in = t.narrow(1, 0, 8), tgt = t.narrow(1, 1, 8);
  auto parts = m->loss(in, tgt);
  // Recompute by hand from the modules.
  auto h = m->hidden(in);
  auto tab = precompute_rope(a);
  double sum = 0;
  for (int64_t k = 1; k <= 2; ++k) {
    auto mk = m->mtp[k - 1]->as<Mtp>();
    int64_t Tk = 8 - k;
    auto emb = torch::embedding(m->embed, t.narrow(1, k, Tk));  // t_{i+k}
    h = mk->forward(h.narrow(1, 0, Tk), emb, tab.cos.narrow(0, 0, Tk), tab.sin.narrow(0, 0, Tk));
    auto logp = torch::log_softmax(torch::matmul(mk->norm(h), m->head.t()), -1);
    auto tk = t.narrow(1, k + 1, Tk);  // t_{i+k+1}
    sum += -logp.gather(-1, tk.unsqueeze(-1)).sum().item<double>() / (2.0 * 8.0);
  }
  EXPECT_NEAR(parts.mtp.item<double>(), 0.3 / 2 * sum, 1e-5);
}

TEST(LlmGate, GroupLimitedTopKWithNormalisedUnbiasedWeights) {
  auto a = tiny();  // 8 experts, 4 groups of 2, keep 2 groups, top-2, sigmoid
  a.route_scale = 2.5;
  Gate g(a);
  torch::NoGradGuard ng;
  // x = e_0 (dim 32); weight column 0 sets the logits directly.
  g->weight.zero_();
  std::vector<float> logit = {3.0f, -3.0f, 1.0f, 1.0f, 2.5f, -5.0f, 0.0f, 0.0f};
  for (int e = 0; e < 8; ++e) g->weight[e][0] = logit[e];
  g->bias[7] = 10.0f;  // bias alone pushes expert 7 (and group 3) into the selection
  auto x = torch::zeros({1, a.dim});
  x[0][0] = 1;
  auto r = g->forward(x);
  // Biased: [σ3, σ-3, σ1, σ1, σ2.5, σ-5, σ0, σ0+10]; group sums of top-2: g0 .998, g1 1.46, g2 .93, g3 10.5
  // → keep groups 3 and 1 → candidates {6,7,2,3}; top-2 = {7, 2 or 3}.
  auto idx = r.indices[0];
  EXPECT_EQ(idx[0].item<int64_t>(), 7);
  int64_t second = idx[1].item<int64_t>();
  EXPECT_TRUE(second == 2 || second == 3);
  auto sig = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  double s7 = sig(0.0), s2 = sig(1.0);  // unbiased affinities
  EXPECT_NEAR(r.weights[0][0].item<double>(), 2.5 * s7 / (s7 + s2), 1e-6);
  EXPECT_NEAR(r.weights[0][1].item<double>(), 2.5 * s2 / (s7 + s2), 1e-6);
}

// Issue 12 #9: router logits below about −104 underflow every selected sigmoid affinity to 0 in f32; the
// normalisation must give weights 0 (the token then gets only the shared expert), not 0/0 = NaN.
TEST(LlmGate, UnderflowedSigmoidAffinitiesGiveZeroWeightsNotNaN) {
  auto a = tiny();
  Gate g(a);
  torch::NoGradGuard ng;
  g->weight.zero_();
  for (int e = 0; e < 8; ++e) g->weight[e][0] = -200.0f;
  auto x = torch::zeros({1, a.dim});
  x[0][0] = 1;
  auto r = g->forward(x);
  EXPECT_TRUE(torch::equal(r.weights, torch::zeros_like(r.weights))) << r.weights;
  EXPECT_EQ(r.scores.max().item<float>(), 0.0f);  // the premise: every affinity underflowed
  auto loss = sequence_balance_loss(r.scores.unsqueeze(0), r.indices.unsqueeze(0), 8, 1e-4);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
}

TEST(LlmBalance, TrainingStepBalanceReducesImbalanceAndNeverTouchesGateWeights) {
  // The path pretraining takes: a training-mode forward records each MoE layer's expert load, then
  // Transformer::end_step_balance(γ) moves every layer's bias by γ·sign(mean(load) − load) (V3 §2.1.2).
  // Start from a bias that routes most tokens to expert 0 and let the balancing undo it.
  const double gamma = 0.01;
  Transformer m(tiny());
  m->train();
  torch::NoGradGuard ng;
  auto layers = m->moe_layers();
  ASSERT_FALSE(layers.empty());
  for (auto& l : layers) l->gate->bias[0].fill_(1.0);
  std::vector<torch::Tensor> w0;
  for (auto& l : layers) w0.push_back(l->gate->weight.clone());
  auto tokens = random_tokens(4, 16, tiny().vocab_size, 9);

  auto worst = [](const std::vector<LoadStats>& st) {
    double w = 0;
    for (const auto& s : st) w = std::max(w, s.max_over_mean);
    return w;
  };
  // One step by hand: every bias entry moves by exactly −γ, 0 or +γ, and expert 0 (overloaded) by −γ.
  auto b0 = layers[0]->gate->bias.clone();
  m->forward(tokens);
  double before = worst(m->end_step_balance(gamma));
  auto db = (layers[0]->gate->bias - b0).to(torch::kFloat64);
  EXPECT_NEAR(db[0].item<double>(), -gamma, 1e-6);  // f32 bias: 1e-6 covers the rounding of 1 − 0.01
  for (int64_t e = 0; e < db.size(0); ++e) {
    double d = std::abs(db[e].item<double>());
    EXPECT_TRUE(d < 1e-7 || std::abs(d - gamma) < 1e-6) << "expert " << e << " moved by " << d;
  }
  EXPECT_GT(before, 2.0);
  double after = before;
  for (int s = 0; s < 300; ++s) {
    m->forward(tokens);
    after = worst(m->end_step_balance(gamma));
  }
  // Constant-γ sign updates reach a small oscillation around balance, not exact balance.
  EXPECT_LT(after, 0.6 * before);
  for (size_t i = 0; i < layers.size(); ++i) EXPECT_TRUE(torch::equal(layers[i]->gate->weight, w0[i]));  // centroids untouched
}

TEST(LlmBalance, SequenceWiseLossHandCase) {
  // B=1, T=2, E=2, K=1. s' = [[.5,.5],[.8,.2]] → P = [.65,.35]; both tokens pick expert 0 → f = [2, 0].
  auto s = torch::tensor({1.0f, 1.0f, 0.8f, 0.2f}).view({1, 2, 2});
  auto idx = torch::zeros({1, 2, 1}, torch::kInt64);
  EXPECT_NEAR(sequence_balance_loss(s, idx, 2, 1e-4).item<double>(), 1e-4 * 2 * 0.65, 1e-10);
}

TEST(LlmMoe, BatchedDispatchEqualsPerTokenSum) {
  auto a = tiny();
  Moe moe(a);
  auto gen = torch_generator(stream_key(9, "test.moe"));
  torch::NoGradGuard ng;
  for (auto& p : moe->parameters()) p.normal_(0, 0.2, gen);
  auto x = torch::randn({2, 5, a.dim}, gen);
  auto y = moe->forward(x).view({10, a.dim});
  auto flat = x.view({10, a.dim});
  auto r = moe->gate->forward(flat);
  for (int64_t n = 0; n < 10; ++n) {
    auto ref = moe->shared->forward(flat[n]);
    for (int64_t k = 0; k < 2; ++k)
      ref = ref + r.weights[n][k] * moe->experts[r.indices[n][k].item<int64_t>()]->as<Expert>()->forward(flat[n]);
    EXPECT_TRUE(torch::allclose(y[n], ref, 1e-5, 1e-6));
  }
}

TEST(LlmModel, TinyModelOverfitsOneBatch) {
  auto a = tiny();
  a.n_mtp_modules = 0;
  Transformer m(a);
  m->init_weights(10);
  m->train();
  std::vector<std::pair<std::string, torch::Tensor>> ps;
  for (auto& p : m->named_parameters()) ps.emplace_back(p.key(), p.value());
  AdamW opt(ps, {0.9, 0.95, 1e-8, 0.0});
  auto t = random_tokens(2, 17, 64, 11);
  auto in = t.narrow(1, 0, 16), tgt = t.narrow(1, 1, 16);
  double first = 0, last = 0;
  for (int s = 0; s < 150; ++s) {
    opt.zero_grad();
    auto l = m->loss(in, tgt);
    l.total.backward();
    opt.clip_grad_norm(1.0);
    opt.step(1e-2);
    m->end_step_balance(0.001);
    if (s == 0) first = l.main.item<double>();
    last = l.main.item<double>();
  }
  EXPECT_NEAR(first, std::log(64.0), 0.1);  // uniform prediction at init
  EXPECT_LT(last, 0.05);                    // memorised
}

TEST(LlmModel, SaveLoadRoundTripGivesIdenticalLogits) {
  auto a = tiny();
  Transformer m(a), m2(a);
  m->init_weights(12);
  m2->init_weights(13);
  m->layers[1]->as<Block>()->moe()->gate->bias.fill_(0.25);  // buffers travel too
  auto path = std::filesystem::temp_directory_path() / "plexus_llm_roundtrip.pt";
  Checkpoint c;
  c.tensors = module_state(*m);
  save_checkpoint(path, c);
  load_module_state(*m2, load_checkpoint(path).tensors);
  std::filesystem::remove(path);
  m->eval();
  m2->eval();
  auto t = random_tokens(1, 8, 64, 14);
  EXPECT_TRUE(torch::equal(m->forward(t), m2->forward(t)));
  a.dim = 40;
  Transformer other(a);
  EXPECT_THROW(load_module_state(*other, c.tensors), Error);
}

TEST(LlmSchedule, WarmupCosineAndConstantDecay) {
  ScheduleOptions o;
  o.lr = 1.0; o.min_lr = 0.1; o.warmup_steps = 10; o.steps = 110;
  EXPECT_DOUBLE_EQ(learning_rate(o, 5), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(o, 10), 1.0);
  EXPECT_NEAR(learning_rate(o, 60), 0.55, 1e-12);  // half way: min + (lr-min)/2
  EXPECT_NEAR(learning_rate(o, 110), 0.1, 1e-12);
  o.schedule = "constant_decay"; o.steps = 1000; o.decay_start = 0.5; o.decay_end = 0.9;
  EXPECT_DOUBLE_EQ(learning_rate(o, 400), 1.0);
  EXPECT_NEAR(learning_rate(o, 700), 0.55, 1e-12);
  EXPECT_NEAR(learning_rate(o, 950), 0.1, 1e-12);
}

TEST(LlmPacked, StackIsAViewOfThePackedParametersAndGradientsReachEach) {
  auto a = torch::tensor({1.f, 2.f, 3.f}).requires_grad_(true), b = torch::tensor({4.f, 5.f, 6.f}).requires_grad_(true);
  PackedParams pk({a, b});
  EXPECT_FALSE(pk.packed());  // two separate allocations
  pk.pack();
  ASSERT_TRUE(pk.packed());
  EXPECT_TRUE(torch::equal(a, torch::tensor({1.f, 2.f, 3.f})));  // values kept
  auto s = pk.stacked();
  EXPECT_EQ(s.data_ptr(), a.data_ptr());                          // a view: no copy
  EXPECT_TRUE(torch::equal(s, torch::stack({a, b})));
  // d/dp Σ c ⊙ stack(a, b) = the rows of c.
  auto c = torch::tensor({1.f, -1.f, 2.f, 0.5f, 3.f, -2.f}).view({2, 3});
  (s * c).sum().backward();
  EXPECT_TRUE(torch::equal(a.grad(), c[0]));
  EXPECT_TRUE(torch::equal(b.grad(), c[1]));
  // The parameters are still the optimizer's tensors: an in-place update shows through the stack.
  { torch::NoGradGuard ng; b.add_(1.0); }
  EXPECT_TRUE(torch::equal(pk.stacked()[1], torch::tensor({5.f, 6.f, 7.f})));
  // Replacing a parameter's data undoes the packing; the stack is then a copy with the same values.
  b.set_data(b.detach().clone());
  EXPECT_FALSE(pk.packed());
  EXPECT_NE(pk.stacked().data_ptr(), a.data_ptr());
  EXPECT_TRUE(torch::equal(pk.stacked(), torch::stack({a, b})));
}

TEST(LlmPacked, ModelKeepsExpertWeightsPackedAcrossMovesAndLoads) {
  auto a = tiny();
  Transformer m(a);
  // Expert e's (w1, w3) pair and the next expert's w1 are consecutive: [W1; W3] of all experts is one view.
  auto packed_pairs = [&](Transformer& t) {
    auto moe = t->moe_layers()[0];
    auto e0 = moe->experts[0]->as<Expert>(), e1 = moe->experts[1]->as<Expert>();
    const auto step = e0->w1.numel() * e0->w1.element_size();
    auto at = [&](const torch::Tensor& p) { return static_cast<const char*>(p.data_ptr()); };
    return at(e0->w3) == at(e0->w1) + step && at(e1->w1) == at(e0->w1) + 2 * step &&
           e0->w13().data_ptr() == e0->w1.data_ptr();
  };
  EXPECT_TRUE(packed_pairs(m));
  auto before = m->forward(torch::arange(6).view({1, 6}));
  m->to(torch::kFloat64);  // a move gives every parameter new data...
  m->to(torch::kFloat32);
  EXPECT_TRUE(packed_pairs(m));  // ...and to() packs again
  // Loading a state writes into the packed tensors in place.
  Transformer other(a);
  other->init_weights(7);
  load_module_state(*m, module_state(*other));
  EXPECT_TRUE(packed_pairs(m));
  auto x = torch::arange(6).view({1, 6});
  EXPECT_TRUE(torch::equal(m->forward(x), other->forward(x)));
  EXPECT_FALSE(torch::equal(m->forward(x), before));
}
