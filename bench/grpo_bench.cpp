// GRPO step benchmark (plexus side of bench/grpo_reference.py): a randomly initialised DeepSeek-V3 model (a configs/ file),
// B random prompts of P tokens, G completions each of exactly L tokens (no stop token, so both sides generate
// the same amount), random 0/1 rewards, group advantages, one clipped-loss update with a k3 KL to a frozen
// reference (β = 0.04, dapo aggregation). Rollouts use the latent KV cache and on-device sampling
// (src/plexus/llm/rollout.h). Prints one JSON line: rollout tokens/s, generation / update / step ms.
//   grpo_bench --model configs/dsv3_100m.toml --prompts 16 --generations 8 --prompt-len 64 --completion 128 --steps 5
// With --pipeline pretrain|grpo|sft|distill --config <toml> [--set k=v ...] it runs that `plexus llm` command
// instead (GPU machines build only plexus_llm), printing the command's summary as JSON.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "plexus/core/config.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/grpo_loss.h"
#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/rl_common.h"
#include "plexus/llm/rollout.h"
#include "plexus/llm/sft.h"
#include "plexus/llm/tokenizer.h"

using namespace plexus;
using namespace plexus::llm;

int main(int argc, char** argv) {
  std::string model_cfg = "configs/dsv3_100m.toml", device = "cuda";
  int64_t B = 16, G = 8, P = 64, L = 128, steps = 5, warmup = 2, vocab = 8192;
  double beta = 0.04;
  std::string pipeline, config, tokcheck;
  std::vector<std::string> sets;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model_cfg = v;  // a config whose [model] table is benchmarked
    else if (k == "--preset") model_cfg = "configs/dsv3_" + std::string(v == "gpu100m" ? "100m" : v) + ".toml";
    else if (k == "--device") device = v;
    else if (k == "--prompts") B = std::stoll(v);
    else if (k == "--generations") G = std::stoll(v);
    else if (k == "--prompt-len") P = std::stoll(v);
    else if (k == "--completion") L = std::stoll(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--warmup") warmup = std::stoll(v);
    else if (k == "--vocab") vocab = std::stoll(v);
    else if (k == "--beta") beta = std::stod(v);
    else if (k == "--pipeline") pipeline = v;
    else if (k == "--check-tokenizer") tokcheck = v;
    else if (k == "--config") config = v;
    else if (k == "--set") sets.push_back(v);
    else {
      std::fprintf(stderr, "grpo_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    if (!tokcheck.empty()) {  // can this machine load and use a SentencePiece model through the shim?
      auto t = Tokenizer::load(tokcheck);
      auto ids = t.encode("What is 12 + 34? <think> x </think> <answer> 46 </answer>");
      std::printf("{\"tokenizer\": \"%s\", \"vocab\": %lld, \"encoded\": %zu, \"round_trip\": \"%s\"}\n",
                  tokcheck.c_str(), static_cast<long long>(t.vocab_size()), ids.size(), t.decode(ids).c_str());
      return 0;
    }
    if (!pipeline.empty()) {
      auto root = load_toml(config);
      for (auto& s : sets) apply_override(root, s);
      if (pipeline == "pretrain") {
        auto r = pretrain(PretrainConfig::parse(root), false);
        std::printf("{\"pipeline\": \"pretrain\", \"run\": \"%s\", \"last_step\": %lld, \"train_loss\": %.5f, "
                    "\"val_loss\": %.5f, \"tokens_per_s\": %.1f}\n",
                    r.run_dir.string().c_str(), static_cast<long long>(r.last_step), r.train_loss, r.val_loss, r.tokens_per_s);
      } else if (pipeline == "grpo") {
        auto r = grpo_train(GrpoConfig::parse(root), false);
        std::printf("{\"pipeline\": \"grpo\", \"run\": \"%s\", \"last_step\": %lld, \"test_pass1_start\": %.4f, "
                    "\"test_pass1_end\": %.4f, \"test_cons_end\": %.4f, \"gen_fraction\": %.4f, "
                    "\"rollout_tokens_per_s\": %.1f}\n",
                    r.run_dir.string().c_str(), static_cast<long long>(r.last_step), r.pass1_start, r.pass1_end,
                    r.cons_end, r.gen_fraction, r.rollout_tokens_per_s);
      } else if (pipeline == "sft" || pipeline == "distill") {
        auto r = sft_train(SftConfig::parse(root, pipeline == "distill"), false);
        std::printf("{\"pipeline\": \"%s\", \"run\": \"%s\", \"last_step\": %lld, \"examples\": %lld, "
                    "\"test_pass1_start\": %.4f, \"test_pass1_end\": %.4f, \"test_cons_end\": %.4f}\n",
                    pipeline.c_str(), r.run_dir.string().c_str(), static_cast<long long>(r.last_step),
                    static_cast<long long>(r.examples), r.pass1_start, r.pass1_end, r.cons_end);
      } else {
        std::fprintf(stderr, "grpo_bench: --pipeline must be pretrain, grpo, sft or distill\n");
        return 2;
      }
      return 0;
    }
    auto a = load_model_args(model_cfg);
    a.vocab_size = vocab, a.n_mtp_modules = 0, a.max_seq_len = std::max(a.max_seq_len, P + L);
    auto dev = resolve_device(device, "--device");
    auto dtype = dev.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
    Transformer policy(a), ref(a);
    policy->init_weights(0);
    policy->to(dev), ref->to(dev);
    clone_weights(policy, ref);
    policy->set_compute_dtype(dtype), ref->set_compute_dtype(dtype);
    std::vector<std::pair<std::string, torch::Tensor>> ps;
    for (auto& p : policy->named_parameters()) ps.emplace_back(p.key(), p.value());
    AdamW opt(ps, {0.9, 0.99, 1e-8, 0.0});
    GrpoOptions go;
    go.beta = beta, go.loss_type = "dapo", go.max_completion_length = L;
    PolicyLossOptions lo{0.2, 0.28, beta, "dapo", L};
    double gen_ms = 0, upd_ms = 0, toks = 0;
    for (int64_t s = 0; s < steps + warmup; ++s) {
      auto gen = torch_generator(stream_key(0, "bench.prompts", 0, static_cast<uint64_t>(s)));
      auto pt = torch::randint(3, vocab, {B, P}, gen, torch::kInt64);
      std::vector<std::vector<int64_t>> prompts;
      std::vector<int64_t> ids;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t g = 0; g < G; ++g) {
          auto row = pt[b];
          prompts.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + P);
          ids.push_back(b);
        }
      if (dev.is_cuda()) torch::cuda::synchronize();
      auto t0 = std::chrono::steady_clock::now();
      RolloutOptions ro;
      ro.max_new_tokens = L, ro.temperature = 1.0, ro.top_p = 1.0, ro.stop_id = -1, ro.eos_id = -1;
      ro.seed = 0, ro.step = static_cast<uint64_t>(s);
      auto r = rollout(policy, prompts, ro);
      if (dev.is_cuda()) torch::cuda::synchronize();
      auto t1 = std::chrono::steady_clock::now();
      Rng rr(0, "bench.rewards", 0, static_cast<uint64_t>(s));
      std::vector<double> rewards;
      for (size_t i = 0; i < ids.size(); ++i) rewards.push_back(static_cast<double>(rr.below(2)));
      auto adv = group_advantages(rewards, ids, AdvantageOptions{});
      UpdateBatch ub;
      const int64_t S = r.tokens.size(1);
      ub.inputs = r.tokens.narrow(1, 0, S - 1), ub.targets = r.tokens.narrow(1, 1, S - 1);
      ub.mask = completion_mask(r);
      ub.advantages = torch::tensor(std::vector<float>(adv.begin(), adv.end())).to(dev);
      grpo_update(policy, ref, opt, ub, lo, go, 1e-5, 0, s);
      if (dev.is_cuda()) torch::cuda::synchronize();
      auto t2 = std::chrono::steady_clock::now();
      if (s >= warmup) {
        gen_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
        upd_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
        toks += static_cast<double>(r.generated);
      }
    }
    const double n = static_cast<double>(steps);
    std::printf("{\"impl\": \"plexus\", \"model\": \"%s\", \"device\": \"%s\", \"prompts\": %lld, \"generations\": %lld, "
                "\"prompt_len\": %lld, \"completion\": %lld, \"steps\": %lld, \"rollout_tokens_per_s\": %.1f, "
                "\"gen_ms\": %.2f, \"update_ms\": %.2f, \"step_ms\": %.2f, \"gen_fraction\": %.4f}\n",
                model_cfg.c_str(), device.c_str(), static_cast<long long>(B), static_cast<long long>(G),
                static_cast<long long>(P), static_cast<long long>(L), static_cast<long long>(steps),
                toks / (gen_ms / 1000.0), gen_ms / n, upd_ms / n, (gen_ms + upd_ms) / n, gen_ms / (gen_ms + upd_ms));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", describe_exception(e).c_str());
    std::fflush(stderr);
    return 1;
  }
  return 0;
}
