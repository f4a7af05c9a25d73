// Training-throughput benchmark of the DeepSeek-V3 model (plexus side of bench/llm_reference.py): random
// tokens, full training steps (forward with MTP and balance loss, backward, clipping, AdamW, bias update),
// JSON on stdout. With --pretrain it instead runs `plexus llm pretrain` from a config (for GPU machines where
// only plexus_llm is built).
//   llm_bench --model configs/dsv3_100m.toml --batch 32 --seq 512 --steps 30 --warmup 5 --device cuda
//   llm_bench ... --cuda-graphs 1    (the step of llm/train_step.h captured once and replayed; default 0)
// Without --phases the step is llm/train_step.h's, as `plexus llm pretrain` runs it: on CUDA no host read inside
// a step, so the timed window (synchronised only at its ends) measures the GPU-bound rate.
//   llm_bench --pretrain configs/dsv3_100m.toml --set model.bias_update_speed=0
//   llm_bench ... --profile trace.json   (3 more steps after the timed ones under PyTorch's profiler, Chrome trace
//                                        for bench/kernel_breakdown.py --steps 3; the timing is unaffected)
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "plexus/core/config.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/model.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/pretrain.h"
#include "plexus/llm/train_step.h"

#include "kineto_trace.h"

using namespace plexus;
using namespace plexus::llm;

int main(int argc, char** argv) {
  std::string model_cfg = "configs/dsv3_100m.toml", device = "cuda", dtype = "bf16", pretrain_cfg, attn,
              dispatch = "auto", profile;
  int64_t batch = 32, seq = 512, steps = 30, warmup = 5, vocab = 8192, mtp = 1, phases = 0, graphs = 0;
  double peak = 989.0;
  std::vector<std::string> sets;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model_cfg = v;  // a config whose [model] table is benchmarked
    else if (k == "--device") device = v;
    else if (k == "--dtype") dtype = v;
    else if (k == "--batch") batch = std::stoll(v);
    else if (k == "--seq") seq = std::stoll(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--warmup") warmup = std::stoll(v);
    else if (k == "--vocab") vocab = std::stoll(v);
    else if (k == "--mtp") mtp = std::stoll(v);
    else if (k == "--phases") phases = std::stoll(v);
    else if (k == "--cuda-graphs") graphs = std::stoll(v);
    else if (k == "--peak-tflops") peak = std::stod(v);
    else if (k == "--pretrain") pretrain_cfg = v;
    else if (k == "--attn") attn = v;              // model.attn_implementation: sdpa | sdpa_padded | eager
    else if (k == "--moe-dispatch") dispatch = v;  // auto | grouped | per_expert (MoeImpl::dispatch)
    else if (k == "--set") sets.push_back(v);
    else if (k == "--profile") profile = v;  // Chrome trace of 3 steps after the timed ones
    else {
      std::fprintf(stderr, "llm_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    if (!pretrain_cfg.empty()) {
      auto root = load_toml(pretrain_cfg);
      for (auto& s : sets) apply_override(root, s);
      auto r = pretrain(PretrainConfig::parse(root), false);
      std::printf("{\"impl\": \"plexus\", \"mode\": \"pretrain\", \"run\": \"%s\", \"last_step\": %lld, "
                  "\"train_loss\": %.5f, \"val_loss\": %.5f, \"tokens_per_s\": %.1f, \"load_max_mean\": %.4f}\n",
                  r.run_dir.string().c_str(), static_cast<long long>(r.last_step), r.train_loss, r.val_loss,
                  r.tokens_per_s, r.load_max_mean);
      return 0;
    }
    auto a = load_model_args(model_cfg);
    a.vocab_size = vocab;
    a.n_mtp_modules = mtp;
    a.max_seq_len = std::max(a.max_seq_len, seq);
    if (!attn.empty()) a.attn_implementation = attn;
    a.validate();
    auto dev = resolve_device(device, "--device");
    Transformer m(a);
    m->init_weights(0);
    m->to(dev);
    m->set_compute_dtype(dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);
    m->train();
    for (auto& moe : m->moe_layers())
      moe->dispatch = dispatch == "grouped"      ? MoeDispatch::Grouped
                      : dispatch == "per_expert" ? MoeDispatch::PerExpert
                                                 : MoeDispatch::Auto;
    std::vector<std::pair<std::string, torch::Tensor>> ps;
    for (auto& p : m->named_parameters()) ps.emplace_back(p.key(), p.value());
    AdamW opt(ps, {0.9, 0.95, 1e-8, 0.1});
    auto gen = torch_generator(stream_key(0, "bench.tokens"));
    const int64_t traced = profile.empty() ? 0 : 3;  // steps after the timed ones, under the profiler
    auto data = torch::randint(vocab, {steps + warmup + traced, batch, seq + 1}, gen, torch::kInt64);
    double first = 0, last = 0, timed_s = 0;
    // --phases 1: synchronise between phases and report where a step's time goes (slows the step a little).
    double ph[4] = {0, 0, 0, 0};
    auto mark = [&](std::chrono::steady_clock::time_point& t, int i, bool on) {
      if (!phases) return;
      if (dev.is_cuda()) torch::cuda::synchronize();
      auto now = std::chrono::steady_clock::now();
      if (on) ph[i] += std::chrono::duration<double>(now - t).count();
      t = now;
    };
    if (graphs && phases) throw Error::config("--phases 1 times eager phases; it cannot be used with --cuda-graphs 1");
    if (phases && !profile.empty()) throw Error::config("--profile traces the shipped step; leave out --phases");
    if (!phases) {
      // The shipped step: device-resident batches, one read of the losses at the first and the last step.
      data = data.to(dev);
      TrainStep step(m, opt, {1.0, 0.001, graphs != 0}, dev, dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);
      std::chrono::steady_clock::time_point t0;
      for (int64_t s = 0; s < steps + warmup; ++s) {
        if (s == warmup) {
          if (dev.is_cuda()) torch::cuda::synchronize();
          t0 = std::chrono::steady_clock::now();
        }
        step.run(data[s].narrow(1, 0, seq), data[s].narrow(1, 1, seq), 1e-3);
        if (s == 0) first = step.read().main;
      }
      last = step.read().main;  // waits for the last step
      timed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (traced) {
        bench::trace_start(dev.is_cuda());
        for (int64_t s = steps + warmup; s < steps + warmup + traced; ++s)
          step.run(data[s].narrow(1, 0, seq), data[s].narrow(1, 1, seq), 1e-3);
        step.read();  // waits for the traced steps
        bench::trace_stop(profile);
      }
    }
    for (int64_t s = 0; phases && s < steps + warmup; ++s) {
      if (s == warmup && dev.is_cuda()) torch::cuda::synchronize();
      auto t0 = std::chrono::steady_clock::now();
      auto tp = t0;
      bool on = s >= warmup;
      auto b = data[s].to(dev);
      opt.zero_grad();
      auto l = m->loss(b.narrow(1, 0, seq), b.narrow(1, 1, seq));
      mark(tp, 0, on);
      l.total.backward();
      mark(tp, 1, on);
      opt.clip_grad_norm(1.0);
      opt.step(1e-3);
      mark(tp, 2, on);
      m->end_step_balance(0.001);
      mark(tp, 3, on);
      double loss = l.main.item<double>();
      if (dev.is_cuda()) torch::cuda::synchronize();
      if (s >= warmup) timed_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s == 0) first = loss;
      last = loss;
    }
    double tok_s = static_cast<double>(batch * seq * steps) / timed_s;
    double fpt = train_flops_per_token(a, seq);
    auto pc = count_params(a);
    std::printf("{\"impl\": \"plexus\", \"model\": \"%s\", \"device\": \"%s\", \"dtype\": \"%s\", \"batch\": %lld, "
                "\"seq\": %lld, \"steps\": %lld, \"params_total\": %lld, \"params_active\": %lld, "
                "\"flops_per_token\": %.4e, \"step_ms\": %.2f, \"tokens_per_s\": %.1f, \"mfu\": %.4f, "
                "\"loss_first\": %.4f, \"loss_last\": %.4f, \"phases_ms\": [%.2f, %.2f, %.2f, %.2f], "
                "\"attn\": \"%s\", \"moe_dispatch\": \"%s\", \"cuda_graphs\": %lld}\n",
                model_cfg.c_str(), device.c_str(), dtype.c_str(), static_cast<long long>(batch),
                static_cast<long long>(seq), static_cast<long long>(steps), static_cast<long long>(pc.total),
                static_cast<long long>(pc.active), fpt, 1000.0 * timed_s / static_cast<double>(steps), tok_s,
                dev.is_cuda() ? fpt * tok_s / (peak * 1e12) : 0.0, first, last, 1000 * ph[0] / steps,
                1000 * ph[1] / steps, 1000 * ph[2] / steps, 1000 * ph[3] / steps, a.attn_implementation.c_str(),
                dispatch.c_str(), static_cast<long long>(graphs));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", describe_exception(e).c_str());
    return 1;
  }
  return 0;
}
