// Batched sampling with the latent KV cache. See generate.h.
#include "plexus/llm/generate.h"

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::llm {

torch::Tensor tempered_softmax(const torch::Tensor& logits, double temperature) {
  // Shifted by the row max before dividing (softmax is shift-invariant): a tiny temperature sends the others
  // to −inf and the max to 0 instead of overflowing every logit to ±inf.
  return torch::softmax((logits - std::get<0>(logits.max(-1, /*keepdim=*/true))) / std::max(temperature, 1e-30), -1);
}

torch::Tensor sample_next(const torch::Tensor& logits, double temperature, double top_p, at::Generator& gen) {
  if (temperature < 0) throw Error::config("temperature = {} must be >= 0", temperature);
  if (!(top_p > 0 && top_p <= 1)) throw Error::config("top_p = {} must be in (0, 1]", top_p);
  auto l = logits.to(torch::kCPU, torch::kFloat32);
  if (temperature == 0) return l.argmax(-1);
  auto probs = tempered_softmax(l, temperature);
  if (top_p < 1) {
    auto [sorted, idx] = probs.sort(-1, /*descending=*/true);
    auto cum = sorted.cumsum(-1);
    // Drop a token when the mass before it already reaches top_p (the top token always stays).
    sorted = sorted.masked_fill((cum - sorted) >= top_p, 0.0);
    probs = torch::zeros_like(probs).scatter(-1, idx, sorted);
  }
  return torch::multinomial(probs, 1, false, gen).squeeze(-1);
}

std::vector<std::vector<int64_t>> generate(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& o) {
  const auto& a = model->args();
  const auto B = static_cast<int64_t>(prompts.size());
  if (B == 0) return {};
  if (o.max_new_tokens < 1) throw Error::config("max_new_tokens = {} must be >= 1", o.max_new_tokens);
  int64_t min_len = a.max_seq_len, max_len = 0;
  for (auto& p : prompts) {
    if (p.empty()) throw Error::config("a prompt encodes to no tokens; give a non-empty --prompt");
    min_len = std::min<int64_t>(min_len, static_cast<int64_t>(p.size()));
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(p.size()));
  }
  const int64_t total = max_len + o.max_new_tokens;
  if (total > a.max_seq_len)
    throw Error::config("prompt ({} tokens) + max_new_tokens ({}) exceeds model.max_seq_len = {}{}", max_len,
                        o.max_new_tokens, a.max_seq_len,
                        max_len < a.max_seq_len ? fmt::format(" (pass --max-new-tokens {} or less)", a.max_seq_len - max_len)
                                                : std::string(" (shorten the prompt)"));
  torch::NoGradGuard ng;
  model->eval();
  auto dev = model->embed.device();
  auto tokens = torch::full({B, total}, -1, torch::kInt64);
  for (int64_t b = 0; b < B; ++b)
    for (size_t i = 0; i < prompts[static_cast<size_t>(b)].size(); ++i) tokens[b][static_cast<int64_t>(i)] = prompts[static_cast<size_t>(b)][i];
  auto in_prompt = tokens.ge(0);
  auto caches = model->make_caches(B, total);
  std::vector<bool> done(static_cast<size_t>(B), false);
  std::vector<int64_t> end(static_cast<size_t>(B), total);  // first position after the generated tokens
  int64_t prev = 0;
  for (int64_t cur = min_len; cur < total; ++cur) {
    auto logits = model->forward_cached(tokens.narrow(1, prev, cur - prev).to(dev), prev, caches);  // [B,T,V]
    auto gen = torch_generator(stream_key(o.seed, "llm.sample", 0, static_cast<uint64_t>(cur)));
    auto next = sample_next(logits.select(1, -1), o.temperature, o.top_p, gen);                     // [B]
    next = torch::where(in_prompt.select(1, cur), tokens.select(1, cur), next);
    tokens.select(1, cur).copy_(next);
    for (int64_t b = 0; b < B; ++b) {
      auto bi = static_cast<size_t>(b);
      if (!done[bi] && !in_prompt[b][cur].item<bool>() && next[b].item<int64_t>() == o.eos_id) {
        done[bi] = true;
        end[bi] = cur;
      }
    }
    prev = cur;
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
  }
  std::vector<std::vector<int64_t>> out;
  for (int64_t b = 0; b < B; ++b) {
    auto plen = static_cast<int64_t>(prompts[static_cast<size_t>(b)].size());
    int64_t stop = std::min(end[static_cast<size_t>(b)], plen + o.max_new_tokens);
    std::vector<int64_t> v;
    for (int64_t i = plen; i < stop; ++i) {
      auto t = tokens[b][i].item<int64_t>();
      if (t < 0) break;
      v.push_back(t);
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace plexus::llm
