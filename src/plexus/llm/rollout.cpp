// On-device rollouts with the latent KV cache. See rollout.h.
#include "plexus/llm/rollout.h"

#include <algorithm>

#include "plexus/core/cuda_graph.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/rng.h"
#include "plexus/llm/generate.h"
#include "plexus/llm/kv_cache.h"

namespace plexus::llm {

torch::Tensor sample_on_device(const torch::Tensor& logits, const torch::Tensor& u, double temperature,
                               double top_p) {
  auto l = logits.to(torch::kFloat32);
  if (temperature == 0) return l.argmax(-1);
  auto probs = tempered_softmax(l, temperature);                        // [R,V]
  auto [sorted, idx] = probs.sort(-1, /*descending=*/true);
  if (top_p < 1) {
    auto before = sorted.cumsum(-1) - sorted;                              // mass ahead of each token
    sorted = sorted.masked_fill(before >= top_p, 0.0);                     // the top token always stays
  }
  auto cdf = sorted.cumsum(-1);                                            // [R,V]
  auto thresh = (u.to(cdf.scalar_type()) * cdf.select(1, -1)).unsqueeze(1); // u · kept mass
  auto j = (cdf <= thresh).sum(-1, /*keepdim=*/true).clamp_max(probs.size(1) - 1);  // first index with cdf > t
  return idx.gather(1, j).squeeze(1);
}

Rollout rollout(Transformer& model, const std::vector<std::vector<int64_t>>& prompts, const RolloutOptions& o) {
  const auto& a = model->args();
  const auto R = static_cast<int64_t>(prompts.size());
  if (R == 0) throw Error::config("rollout: no prompts");
  if (o.temperature < 0) throw Error::config("temperature = {} must be >= 0", o.temperature);
  if (!(o.top_p > 0 && o.top_p <= 1)) throw Error::config("top_p = {} must be in (0, 1]", o.top_p);
  if (o.max_new_tokens < 1) throw Error::config("max_completion_length = {} must be >= 1", o.max_new_tokens);
  int64_t min_len = a.max_seq_len, max_len = 0;
  std::vector<int64_t> plen_host;
  for (auto& p : prompts) {
    if (p.empty()) throw Error::config("a prompt encodes to no tokens");
    min_len = std::min<int64_t>(min_len, static_cast<int64_t>(p.size()));
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(p.size()));
    plen_host.push_back(static_cast<int64_t>(p.size()));
  }
  const int64_t total = max_len + o.max_new_tokens;
  if (total > a.max_seq_len)
    throw Error::config("prompt ({} tokens) + max_completion_length ({}) = {} exceeds model.max_seq_len = {} (lower "
                        "max_completion_length or use a shorter template)",
                        max_len, o.max_new_tokens, total, a.max_seq_len);
  torch::NoGradGuard ng;
  model->eval();
  auto dev = model->embed.device();
  if (o.require_cuda_graphs && !(dev.is_cuda() && cuda_graphs_supported()))
    throw Error::config("--cuda-graphs on needs the model on CUDA (--device cuda) and a CUDA LibTorch build with CUDA "
                        "graphs; this run decodes on {}{}: use --cuda-graphs auto or off",
                        dev.str(), cuda_graphs_supported() ? "" : " in a build without CUDA graphs");
  auto host = torch::full({R, total}, o.pad_id, torch::kInt64);
  auto in_prompt_host = torch::zeros({R, total}, torch::kBool);
  for (int64_t r = 0; r < R; ++r) {
    auto& p = prompts[static_cast<size_t>(r)];
    host[r].narrow(0, 0, plen_host[static_cast<size_t>(r)]).copy_(torch::tensor(p, torch::kInt64));
    in_prompt_host[r].narrow(0, 0, plen_host[static_cast<size_t>(r)]).fill_(true);
  }
  // Uniforms for every (row, position): one draw on the host from the addressed stream, one copy.
  std::vector<torch::Tensor> u_rows;
  for (int64_t r = 0; r < R; ++r) {
    uint64_t key = o.row_keys.empty() ? static_cast<uint64_t>(r) : o.row_keys.at(static_cast<size_t>(r));
    auto gen = torch_generator(stream_key(o.seed, o.purpose, key, o.step));
    u_rows.push_back(torch::rand({total}, gen, torch::kFloat32));
  }
  auto uniforms = torch::stack(u_rows, 1).to(dev);                          // [total, R]
  auto tokens = host.to(dev);
  auto in_prompt = in_prompt_host.to(dev);
  auto plen = torch::tensor(plen_host, torch::kInt64).to(dev);
  auto budget_end = plen + o.max_new_tokens;                               // [R]
  // The loop state lives in tensors updated in place, so a captured step keeps reading and writing the same
  // memory at every replay.
  auto end = budget_end.clone();
  auto done = torch::zeros({R}, torch::TensorOptions().dtype(torch::kBool).device(dev));
  auto stopped = done.clone();
  StaticDecoder dec(model, R, total);
  // Bookkeeping for position `cur` (a device int64 scalar) from the logits of position cur − 1.
  auto advance = [&](const torch::Tensor& logits, const torch::Tensor& cur) {
    auto at = cur.view({1});
    auto next = sample_on_device(logits, uniforms.index_select(0, at).squeeze(0), o.temperature, o.top_p);  // [R]
    auto prompt_here = in_prompt.index_select(1, at).squeeze(1);
    auto past_budget = budget_end.le(cur);
    auto finished = done.logical_or(past_budget);
    auto given = tokens.index_select(1, at).squeeze(1);
    next = torch::where(prompt_here, given, next);
    next = torch::where(finished.logical_and(prompt_here.logical_not()), torch::full_like(next, o.pad_id), next);
    tokens.index_copy_(1, at, next.unsqueeze(1));
    auto hit = next.eq(o.stop_id).logical_or(next.eq(o.eos_id));
    auto newly = hit.logical_and(prompt_here.logical_not()).logical_and(finished.logical_not());
    end.copy_(torch::where(newly, cur + 1, end));
    stopped.logical_or_(newly);
    done.logical_or_(newly.logical_or(past_budget));
  };
  // Prefill positions 0..min_len−1 in one pass (the latents of every row's first min_len tokens), sample min_len.
  {
    auto logits = dec.prefill(tokens.narrow(1, 0, min_len));               // [R,min_len,V]
    advance(logits.select(1, -1), torch::full({}, min_len, plen.options()));
  }
  // Then one token per row per step at the device position `pos`: the same kernels at every position.
  auto pos = torch::full({}, min_len, plen.options());
  int64_t bodies = 0;  // completed calls of `body` (eager steps, and the one recorded by a capture)
  auto body = [&] {
    auto logits = dec.step(tokens.index_select(1, pos.view({1})).squeeze(1), pos);  // [R,V]
    advance(logits, pos + 1);
    pos.add_(1);
    ++bodies;
  };
  const int64_t n_steps = total - 1 - min_len;
  const int kWarmup = 2;  // eager steps before capture (cuBLAS handles, allocator); they are real steps
  bool graph = o.cuda_graphs && dev.is_cuda() && cuda_graphs_supported() && n_steps > kWarmup;
  CudaGraph g;
  for (int64_t s = 0; s < n_steps;) {
    if (graph && !g.captured()) {
      try {
        g.capture(body, kWarmup);  // runs `body` kWarmup times, records one more call without running it
      } catch (const std::exception& e) {
        if (bodies < kWarmup) throw;  // an eager step failed: not a capture problem
        if (o.require_cuda_graphs)
          throw Error::infeasible("--cuda-graphs on: the decode step could not be captured as a CUDA graph ({}); use "
                                  "--cuda-graphs auto (decodes eagerly after a failed capture) or off",
                                  describe_exception(e));
        // The warm-up steps ran and the recorded one did not: carry on eagerly from step kWarmup, same tokens.
        log_warn("decode: CUDA graph capture failed ({}); decoding eagerly (set cuda_graphs off to skip the try)",
                 describe_exception(e));
        graph = false;
      }
      s += kWarmup;
    } else {
      if (graph) g.replay(); else body();
      ++s;
    }
    if (s % o.check_every == 0 && done.all().item<bool>()) break;  // the one host read, every check_every steps
  }
  Rollout out;
  auto S = std::min<int64_t>(total, end.max().item<int64_t>());
  out.tokens = tokens.narrow(1, 0, S).contiguous();
  out.prompt_len = plen;
  out.end = end;
  out.stopped = stopped;
  out.generated = (end - plen).sum().item<int64_t>();
  return out;
}

torch::Tensor completion_mask(const Rollout& r) {
  const int64_t S = r.tokens.size(1);
  auto pos = torch::arange(1, S, torch::TensorOptions().dtype(torch::kInt64).device(r.tokens.device()));  // [S-1]
  auto m = pos.unsqueeze(0).ge(r.prompt_len.unsqueeze(1)).logical_and(pos.unsqueeze(0).lt(r.end.unsqueeze(1)));
  return m.to(torch::kFloat32);
}

std::vector<std::vector<int>> completions_on_host(const Rollout& r) {
  auto t = r.tokens.to(torch::kCPU);
  auto pl = r.prompt_len.to(torch::kCPU), en = r.end.to(torch::kCPU);
  auto ta = t.accessor<int64_t, 2>();
  auto pa = pl.accessor<int64_t, 1>(), ea = en.accessor<int64_t, 1>();
  std::vector<std::vector<int>> out;
  for (int64_t i = 0; i < t.size(0); ++i) {
    std::vector<int> v;
    for (int64_t p = pa[i]; p < std::min(ea[i], t.size(1)); ++p) v.push_back(static_cast<int>(ta[i][p]));
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace plexus::llm
