// Decode throughput of the DeepSeek-V3 model (plexus side of bench/llm_decode_reference.py, issue 19): random
// weights and prompts, one eager prefill, then one-token steps over the static latent KV cache (kv_cache.h),
// eagerly or replayed from one CUDA graph. JSON on stdout.
//   --mode step     (default) greedy steps only: decode tokens/s = batch × steps / time of the steps
//   --mode rollout  the whole rollout() generate/GRPO use (prefill, capture, sampling T=1 top-p 0.95, stop
//                   masks), timed end to end on its second call: tokens/s = batch × new / seconds
//   --mode check    rollout() with the CUDA graph against rollout() without, greedy and sampled, prompts of
//                   different lengths: exit 1 unless the tokens are identical (the GPU check without GoogleTest)
//   llm_decode --model configs/dsv3_100m.toml --batch 64 --prompt 32 --new 128 --graphs 1 --device cuda
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "plexus/core/config.h"
#include "plexus/core/cuda_graph.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/kv_cache.h"
#include "plexus/llm/model.h"
#include "plexus/llm/rollout.h"

using namespace plexus;
using namespace plexus::llm;

namespace {
void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  std::string model_cfg = "configs/dsv3_100m.toml", device = "cuda", dtype = "bf16", mode = "step";
  int64_t prompt = 32, new_tokens = 128, vocab = 8192;
  std::vector<int64_t> batches = {1}, graph_modes = {1};
  auto list = [](const std::string& v) {  // "1,64,512" → {1, 64, 512}
    std::vector<int64_t> out;
    for (size_t i = 0; i < v.size();) {
      size_t j = v.find(',', i);
      if (j == std::string::npos) j = v.size();
      out.push_back(std::stoll(v.substr(i, j - i)));
      i = j + 1;
    }
    return out;
  };
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model_cfg = v;
    else if (k == "--device") device = v;
    else if (k == "--dtype") dtype = v;  // bf16 | f32 (compute dtype of the matmuls and the cache)
    else if (k == "--mode") mode = v;
    else if (k == "--batch") batches = list(v);  // one JSON line per batch size and graph mode
    else if (k == "--prompt") prompt = std::stoll(v);
    else if (k == "--new") new_tokens = std::stoll(v);
    else if (k == "--vocab") vocab = std::stoll(v);
    else if (k == "--graphs") graph_modes = list(v);  // 1 = CUDA graph (needs CUDA), 0 = eager; e.g. 0,1
    else {
      std::fprintf(stderr, "error: llm_decode: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    if (mode != "step" && mode != "rollout" && mode != "check")
      throw Error::config("--mode {}: use step, rollout or check", mode);
    auto a = load_model_args(model_cfg);
    a.vocab_size = vocab;
    a.n_mtp_modules = 0;  // decoding never runs the MTP modules
    a.max_seq_len = std::max(a.max_seq_len, prompt + new_tokens);
    a.validate();
    auto dev = resolve_device(device, "--device");
    for (auto g : graph_modes)
      if (g && !(dev.is_cuda() && cuda_graphs_supported()))
        throw Error::config("--graphs 1 needs --device cuda and a CUDA LibTorch (pass --graphs 0)");
    Transformer m(a);
    m->init_weights(0);
    m->to(dev);
    m->set_compute_dtype(dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);
    m->eval();
    torch::NoGradGuard ng;
    int rc = 0;
    for (int64_t batch : batches)
      for (int64_t graphs : graph_modes) {
        auto gen = torch_generator(stream_key(0, "bench.tokens"));
        auto prompts = torch::randint(vocab, {batch, prompt}, gen, torch::kInt64);
        double step_s = 0, capture_s = 0, prefill_s = 0;
        int64_t timed_tokens = 0;
        if (mode == "step") {
          StaticDecoder dec(m, batch, prompt + new_tokens);
          sync(dev);
          auto t0 = std::chrono::steady_clock::now();
          auto tok = dec.prefill(prompts.to(dev)).select(1, -1).argmax(-1);  // [B]
          sync(dev);
          prefill_s = seconds_since(t0);
          auto pos = torch::full({}, prompt, torch::TensorOptions().dtype(torch::kInt64).device(dev));
          auto body = [&] {
            tok.copy_(dec.step(tok, pos).argmax(-1));  // greedy: the next input is this step's argmax
            pos.add_(1);
          };
          CudaGraph g;
          t0 = std::chrono::steady_clock::now();
          if (graphs) {
            g.capture(body, 2);
          } else {
            body(), body();
          }
          sync(dev);
          capture_s = seconds_since(t0);
          pos.fill_(prompt);  // decode again from the prompt's end: rows prompt.. are rewritten
          sync(dev);
          t0 = std::chrono::steady_clock::now();
          for (int64_t s = 0; s < new_tokens; ++s) graphs ? g.replay() : body();
          sync(dev);
          step_s = seconds_since(t0);
          timed_tokens = batch * new_tokens;
        } else if (mode == "check") {
          // Rows of prompt lengths prompt, prompt−1, ... (at least 1): rows inside their prompt are fed their own
          // token.
          std::vector<std::vector<int64_t>> rows(static_cast<size_t>(batch));
          auto acc = prompts.accessor<int64_t, 2>();
          for (int64_t b = 0; b < batch; ++b)
            for (int64_t t = 0; t < std::max<int64_t>(1, prompt - b % prompt); ++t)
              rows[static_cast<size_t>(b)].push_back(acc[b][t]);
          int64_t mismatched = 0, compared = 0;
          for (double temp : {0.0, 1.0}) {
            RolloutOptions ro;
            ro.max_new_tokens = new_tokens, ro.temperature = temp, ro.top_p = 0.95, ro.seed = 3;
            ro.cuda_graphs = false;
            auto eager = completions_on_host(rollout(m, rows, ro));
            ro.cuda_graphs = true;
            auto graphed = completions_on_host(rollout(m, rows, ro));
            for (size_t b = 0; b < rows.size(); ++b) {
              compared += static_cast<int64_t>(eager[b].size());
              if (eager[b] != graphed[b]) ++mismatched;
            }
          }
          std::printf(
              "{\"impl\": \"plexus\", \"mode\": \"check\", \"model\": \"%s\", \"batch\": %lld, "
              "\"tokens_compared\": %lld, \"rows_mismatched\": %lld}\n",
              model_cfg.c_str(), static_cast<long long>(batch), static_cast<long long>(compared),
              static_cast<long long>(mismatched));
          if (mismatched) rc = 1;
          continue;
        } else {
          std::vector<std::vector<int64_t>> rows(static_cast<size_t>(batch));
          auto acc = prompts.accessor<int64_t, 2>();
          for (int64_t b = 0; b < batch; ++b)
            for (int64_t t = 0; t < prompt; ++t) rows[static_cast<size_t>(b)].push_back(acc[b][t]);
          RolloutOptions ro;
          ro.max_new_tokens = new_tokens, ro.temperature = 1.0, ro.top_p = 0.95, ro.cuda_graphs = graphs != 0;
          rollout(m, rows, ro);  // first call: cuBLAS handles, allocator
          sync(dev);
          auto t0 = std::chrono::steady_clock::now();
          auto r = rollout(m, rows, ro);
          sync(dev);
          step_s = seconds_since(t0);
          timed_tokens = r.generated;
        }
        std::printf(
            "{\"impl\": \"plexus\", \"mode\": \"%s\", \"model\": \"%s\", \"device\": \"%s\", \"dtype\": \"%s\", "
            "\"graphs\": %s, \"batch\": %lld, \"prompt\": %lld, \"new_tokens\": %lld, \"prefill_ms\": %.2f, "
            "\"capture_ms\": %.2f, \"step_ms\": %.4f, \"decode_tokens_per_s\": %.1f}\n",
            mode.c_str(), model_cfg.c_str(), device.c_str(), dtype.c_str(), graphs ? "true" : "false",
            static_cast<long long>(batch), static_cast<long long>(prompt), static_cast<long long>(new_tokens),
            1000 * prefill_s, 1000 * capture_s, 1000 * step_s / static_cast<double>(new_tokens),
            static_cast<double>(timed_tokens) / step_s);
        std::fflush(stdout);
      }
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", describe_exception(e).c_str());
    return 1;
  }
  return 0;
}
