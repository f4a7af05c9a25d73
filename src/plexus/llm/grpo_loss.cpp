// GRPO advantages, k3 KL and the clipped loss. See grpo_loss.h for the formulas.
#include "plexus/llm/grpo_loss.h"

#include <cmath>
#include <map>

#include "plexus/core/error.h"

namespace plexus::llm {

std::vector<std::string> loss_types() { return {"grpo", "bnpo", "dr_grpo", "dapo"}; }

namespace {

double std_of(const std::vector<double>& v, double mean, bool sample) {
  if (v.size() < 2) return 0;
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(sample ? v.size() - 1 : v.size()));
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

}  // namespace

std::vector<double> group_advantages(const std::vector<double>& rewards, const std::vector<int64_t>& group_ids,
                                     const AdvantageOptions& o) {
  PLEXUS_CHECK(rewards.size() == group_ids.size(), "rewards and group ids differ in length");
  const bool sample = o.std_convention == "sample";
  std::map<int64_t, std::vector<double>> groups;
  for (size_t i = 0; i < rewards.size(); ++i) groups[group_ids[i]].push_back(rewards[i]);
  std::map<int64_t, double> mean, scale;
  for (auto& [g, v] : groups) mean[g] = mean_of(v);
  const double batch_std = std_of(rewards, mean_of(rewards), sample);
  for (auto& [g, v] : groups)
    scale[g] = o.scale_rewards == "none" ? 1.0
               : o.scale_rewards == "batch" ? batch_std + o.epsilon
                                            : std_of(v, mean[g], sample) + o.epsilon;
  std::vector<double> adv(rewards.size(), 0.0);
  for (size_t i = 0; i < rewards.size(); ++i) {
    auto& v = groups[group_ids[i]];
    bool all_equal = true;
    for (double x : v) all_equal = all_equal && x == v.front();
    if (v.size() < 2 || all_equal) continue;  // exactly 0: no relative signal
    adv[i] = (rewards[i] - mean[group_ids[i]]) / scale[group_ids[i]];
  }
  return adv;
}

torch::Tensor k3_kl(const torch::Tensor& logp, const torch::Tensor& ref_logp) {
  auto x = ref_logp - logp;
  return torch::exp(x) - x - 1;
}

torch::Tensor token_logprobs(const torch::Tensor& logits, const torch::Tensor& targets) {
  // log_softmax then gather: [B,T,V] → [B,T]
  return torch::log_softmax(logits.to(torch::kFloat32), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
}

PolicyLoss policy_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                       const torch::Tensor& advantages, const torch::Tensor& mask, const PolicyLossOptions& o,
                       double n_gen_tokens) {
  auto A = advantages.to(logp.scalar_type()).unsqueeze(1);                // [B,1]
  auto ratio = torch::exp(logp - old_logp);                               // ρ [B,T]
  auto clipped = torch::clamp(ratio, 1.0 - o.epsilon_low, 1.0 + o.epsilon_high);
  auto per_token = -torch::min(ratio * A, clipped * A);                   // [B,T]
  PolicyLoss out;
  const double active = std::max(1.0, mask.sum().item<double>());
  if (o.beta != 0) {
    auto kl = k3_kl(logp, ref_logp);
    per_token = per_token + o.beta * kl;
    out.kl = (kl.detach() * mask).sum().item<double>() / active;
  }
  auto masked = per_token * mask;
  const double B = static_cast<double>(logp.size(0));
  if (o.loss_type == "grpo") {
    out.loss = (masked.sum(1) / mask.sum(1).clamp_min(1.0)).mean();
  } else if (o.loss_type == "bnpo") {
    out.loss = masked.sum() / active;
  } else if (o.loss_type == "dr_grpo") {
    out.loss = masked.sum() / (B * static_cast<double>(o.max_completion_length));
  } else if (o.loss_type == "dapo") {
    out.loss = masked.sum() / std::max(1.0, n_gen_tokens);
  } else {
    throw Error::config("[grpo] loss_type = '{}' is not one of grpo, bnpo, dr_grpo, dapo", o.loss_type);
  }
  {
    torch::NoGradGuard ng;
    auto r = ratio.detach();
    auto low = (r < 1.0 - o.epsilon_low).logical_and(A < 0).to(torch::kFloat32) * mask;
    auto high = (r > 1.0 + o.epsilon_high).logical_and(A > 0).to(torch::kFloat32) * mask;
    out.clip_low = low.sum().item<double>() / active;
    out.clip_high = high.sum().item<double>() / active;
  }
  return out;
}

}  // namespace plexus::llm
