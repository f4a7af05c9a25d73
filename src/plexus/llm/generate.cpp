// Batched sampling with the latent KV cache. See generate.h.
#include "plexus/llm/generate.h"

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/rollout.h"

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
  int64_t max_len = 0;
  for (auto& p : prompts) {
    if (p.empty()) throw Error::config("a prompt encodes to no tokens; give a non-empty --prompt");
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(p.size()));
  }
  const int64_t total = max_len + o.max_new_tokens;
  if (total > a.max_seq_len)
    throw Error::config("prompt ({} tokens) + max_new_tokens ({}) exceeds model.max_seq_len = {}{}", max_len,
                        o.max_new_tokens, a.max_seq_len,
                        max_len < a.max_seq_len ? fmt::format(" (pass --max-new-tokens {} or less)", a.max_seq_len - max_len)
                                                : std::string(" (shorten the prompt)"));
  // The rollout engine (rollout.h): static KV cache, on-device sampling, CUDA-graphed steps on CUDA. A row
  // draws its uniforms from (seed, "llm.sample", row, 0), so its continuation does not depend on the batch.
  RolloutOptions ro;
  ro.max_new_tokens = o.max_new_tokens;
  ro.temperature = o.temperature;
  ro.top_p = o.top_p;
  ro.stop_id = -1;
  ro.eos_id = o.eos_id;
  ro.seed = o.seed;
  ro.purpose = "llm.sample";
  ro.cuda_graphs = o.cuda_graphs != "off";
  ro.require_cuda_graphs = o.cuda_graphs == "on";  // capture or fail (rollout.h)
  auto r = rollout(model, prompts, ro);
  auto rows = completions_on_host(r);
  auto stopped = r.stopped.to(torch::kCPU);
  std::vector<std::vector<int64_t>> out;
  for (int64_t b = 0; b < B; ++b) {
    auto& c = rows[static_cast<size_t>(b)];
    std::vector<int64_t> v(c.begin(), c.end());
    if (stopped[b].item<bool>() && !v.empty()) v.pop_back();  // the EOS itself is not part of the text
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace plexus::llm
