// Static-shape decoding (kv_cache.h) and the generation built on it (generate.h, rollout.h): the static step
// against forward_cached, greedy generation against the eager loop plexus used before issue 19, sampling against
// the tempered nucleus distribution, and on a GPU the CUDA-graphed decode against the eager one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "plexus/core/cuda_graph.h"
#include "plexus/core/error.h"
#include "plexus/llm/generate.h"
#include "plexus/llm/kv_cache.h"
#include "plexus/llm/rollout.h"
#include "tiny_model.h"

using namespace plexus;
using namespace plexus::llm;

namespace {

Transformer tiny(uint64_t seed = 7) {
  auto a = test::tiny_model();
  a.max_seq_len = 64;
  Transformer m(a);
  m->init_weights(seed);
  m->eval();
  return m;
}

// The greedy generation loop of plexus before issue 19 (generate.cpp at 856e111): forward_cached on a cache
// narrowed to the positions seen so far, the host-side argmax and EOS bookkeeping per token. Kept here as the
// independent reference for the static decoder.
std::vector<std::vector<int64_t>> eager_greedy(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                               int64_t max_new, int64_t eos) {
  torch::NoGradGuard ng;
  const auto B = static_cast<int64_t>(prompts.size());
  int64_t min_len = 1 << 30, max_len = 0;
  for (auto& p : prompts) {
    min_len = std::min<int64_t>(min_len, static_cast<int64_t>(p.size()));
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(p.size()));
  }
  const int64_t total = max_len + max_new;
  auto tokens = torch::full({B, total}, -1, torch::kInt64);
  for (int64_t b = 0; b < B; ++b)
    for (size_t i = 0; i < prompts[static_cast<size_t>(b)].size(); ++i)
      tokens[b][static_cast<int64_t>(i)] = prompts[static_cast<size_t>(b)][i];
  auto in_prompt = tokens.ge(0);
  auto caches = model->make_caches(B, total);
  std::vector<int64_t> end(static_cast<size_t>(B), total);
  int64_t prev = 0;
  for (int64_t cur = min_len; cur < total; ++cur) {
    auto logits = model->forward_cached(tokens.narrow(1, prev, cur - prev), prev, caches);
    auto next = logits.select(1, -1).argmax(-1);
    next = torch::where(in_prompt.select(1, cur), tokens.select(1, cur), next);
    tokens.select(1, cur).copy_(next);
    for (int64_t b = 0; b < B; ++b)
      if (end[static_cast<size_t>(b)] == total && !in_prompt[b][cur].item<bool>() && next[b].item<int64_t>() == eos)
        end[static_cast<size_t>(b)] = cur;
    prev = cur;
  }
  std::vector<std::vector<int64_t>> out;
  for (int64_t b = 0; b < B; ++b) {
    auto plen = static_cast<int64_t>(prompts[static_cast<size_t>(b)].size());
    std::vector<int64_t> v;
    for (int64_t i = plen; i < std::min(end[static_cast<size_t>(b)], plen + max_new); ++i)
      v.push_back(tokens[b][i].item<int64_t>());
    out.push_back(v);
  }
  return out;
}

}  // namespace

TEST(LlmDecode, StaticStepEqualsForwardCachedAtEveryPosition) {
  // Same weights, same tokens: the static step (all 20 cache rows, length mask, device position) against
  // forward_cached (cache narrowed to pos+1 rows). Masked rows carry probability exactly 0, so only the float
  // order of the longer softmax sum and of the p·ĉ products differs: 1e-5 relative covers f32 rounding.
  auto m = tiny();
  torch::NoGradGuard ng;
  auto t = torch::randint(0, m->args().vocab_size, {3, 20}, torch::kInt64);
  auto ref_caches = m->make_caches(3, 20);
  auto ref0 = m->forward_cached(t.narrow(1, 0, 5), 0, ref_caches);
  StaticDecoder dec(m, 3, 20);
  auto got0 = dec.prefill(t.narrow(1, 0, 5));
  EXPECT_TRUE(torch::equal(got0, ref0));  // the prefill is forward_cached itself
  auto pos = torch::full({}, 5, torch::kInt64);
  for (int64_t p = 5; p < 20; ++p) {
    auto want = m->forward_cached(t.narrow(1, p, 1), p, ref_caches).select(1, 0);  // [3,V]
    auto got = dec.step(t.select(1, p), pos);
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6)) << "position " << p << " max diff "
                                                         << (got - want).abs().max().item<double>();
    pos.add_(1);
  }
  // The cache rows written are forward_cached's.
  for (size_t l = 0; l < ref_caches.size(); ++l)
    EXPECT_TRUE(torch::allclose(dec.caches()[l].kv, ref_caches[l].kv, 1e-5, 1e-6)) << l;
}

TEST(LlmDecode, GreedyGenerateIsTokenIdenticalToTheEagerLoop) {
  // Prompts of different lengths (rows inside their prompt are fed their own tokens) and an EOS that the greedy
  // continuation really produces (so a row stops early): generate() equals the pre-issue-19 loop token by token.
  auto m = tiny();
  std::vector<std::vector<int64_t>> prompts = {{5, 9, 12}, {3, 4, 5, 6, 7, 8, 9}, {11}, {2, 2}};
  GenerateOptions o;
  o.max_new_tokens = 24, o.temperature = 0, o.eos_id = -1;
  auto free_run = generate(m, prompts, o);
  auto want = eager_greedy(m, prompts, 24, -1);
  ASSERT_EQ(free_run, want);
  for (auto& row : free_run) EXPECT_EQ(row.size(), 24u);
  // EOS = a token row 0 emits at index 6: row 0 stops there (EOS not returned), others wherever they meet it.
  o.eos_id = static_cast<int>(free_run[0][6]);
  auto with_eos = generate(m, prompts, o);
  EXPECT_EQ(with_eos, eager_greedy(m, prompts, 24, o.eos_id));
  EXPECT_LE(with_eos[0].size(), 6u);
}

TEST(LlmDecode, SamplingFollowsTheTemperedNucleusDistribution) {
  // 3000 rows of one prompt, one new token each (row r draws its uniform from (seed, "llm.sample", r, 0)):
  // the frequencies match softmax(logits/T) renormalised over the top-p nucleus within 4.5 binomial standard
  // deviations per token (+1e-3), and no token outside the nucleus is ever drawn.
  auto m = tiny(3);
  const std::vector<int64_t> prompt = {4, 8, 15, 16};
  const int64_t N = 3000;
  const double T = 0.7, top_p = 0.8;
  GenerateOptions o;
  o.max_new_tokens = 1, o.temperature = T, o.top_p = top_p, o.seed = 11;
  auto rows = generate(m, std::vector<std::vector<int64_t>>(static_cast<size_t>(N), prompt), o);
  torch::NoGradGuard ng;
  auto logits = m->forward(torch::tensor(prompt, torch::kInt64).unsqueeze(0)).select(1, -1)[0];  // [V]
  auto probs = torch::softmax(logits.to(torch::kFloat64) / T, -1);
  auto [sorted, idx] = probs.sort(-1, true);
  auto keep = (sorted.cumsum(-1) - sorted) < top_p;  // mass before the token below top_p: in the nucleus
  auto nucleus = torch::zeros_like(probs).scatter(0, idx, sorted * keep.to(torch::kFloat64));
  nucleus = nucleus / nucleus.sum();
  std::vector<double> freq(static_cast<size_t>(m->args().vocab_size), 0.0);
  for (auto& r : rows) {
    ASSERT_EQ(r.size(), 1u);
    freq[static_cast<size_t>(r[0])] += 1.0 / static_cast<double>(N);
  }
  int kept = 0;
  for (int64_t v = 0; v < m->args().vocab_size; ++v) {
    double p = nucleus[v].item<double>(), f = freq[static_cast<size_t>(v)];
    if (p == 0) {
      EXPECT_EQ(f, 0.0) << "token " << v << " is outside the nucleus";
      continue;
    }
    ++kept;
    EXPECT_NEAR(f, p, 4.5 * std::sqrt(p * (1 - p) / static_cast<double>(N)) + 1e-3) << "token " << v;
  }
  EXPECT_GT(kept, 3);  // a real nucleus, not a greedy pick
}

TEST(LlmDecode, DecoderLongerThanTheModelIsAConfigError) {
  auto m = tiny();
  try {
    StaticDecoder dec(m, 2, 65);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("max_seq_len"), std::string::npos);
  }
}

// `--cuda-graphs on` (RolloutOptions::require_cuda_graphs) on a CPU model: one config error before any decoding,
// where "auto" decodes eagerly (LlmCli.PretrainResumeGenerate checks the CLI line).
TEST(LlmDecode, CudaGraphsOnOffCudaIsAConfigError) {
  auto m = tiny();
  GenerateOptions go;
  go.max_new_tokens = 8, go.temperature = 0, go.cuda_graphs = "on";
  try {
    generate(m, {{5, 9, 12}}, go);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("use --cuda-graphs auto or off"), std::string::npos) << e.what();
  }
  go.cuda_graphs = "auto";
  EXPECT_EQ(generate(m, {{5, 9, 12}}, go)[0].size(), 8u);
}

// ---- GPU (skipped on CPU builds and machines): bench/gpu_tests.sh test_llm with GTEST_FILTER='LlmDecodeGpu*' ----

namespace {
bool have_cuda_graphs() { return torch::cuda::is_available() && cuda_graphs_supported(); }
}  // namespace

TEST(LlmDecodeGpu, GraphDecodeEqualsEagerDecode) {
  if (!have_cuda_graphs()) GTEST_SKIP() << "needs a CUDA device and a CUDA LibTorch";
  // The captured step replays the kernels the eager step launches on the same inputs: greedy and sampled
  // tokens are identical (bf16 compute, as `plexus llm generate --device cuda` runs).
  auto m = tiny();
  m->to(torch::kCUDA);
  m->set_compute_dtype(torch::kBFloat16);
  std::vector<std::vector<int64_t>> prompts = {{5, 9, 12}, {3, 4, 5, 6, 7, 8, 9}, {11}, {2, 2}};
  for (double T : {0.0, 1.0}) {
    RolloutOptions ro;
    ro.max_new_tokens = 40, ro.temperature = T, ro.top_p = 0.9, ro.seed = 5;
    ro.cuda_graphs = false;
    auto eager = completions_on_host(rollout(m, prompts, ro));
    ro.cuda_graphs = true;
    auto graphed = rollout(m, prompts, ro);
    EXPECT_EQ(completions_on_host(graphed), eager) << "temperature " << T;
    EXPECT_EQ(graphed.generated, 4 * 40);
  }
  // And greedy on the GPU agrees with the CPU f32 decode on most tokens (bf16 rounding may flip a near tie).
  GenerateOptions go;
  go.max_new_tokens = 16, go.temperature = 0;
  auto gpu = generate(m, prompts, go);
  auto cpu_model = tiny();
  auto cpu = generate(cpu_model, prompts, go);
  int same = 0;
  for (size_t i = 0; i < prompts.size(); ++i)
    for (size_t t = 0; t < 16; ++t) same += gpu[i][t] == cpu[i][t];
  EXPECT_GE(same, 32) << "of 64";
}
