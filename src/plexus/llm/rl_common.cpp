// Shared pieces of the R1 pipeline. See rl_common.h.
#include "plexus/llm/rl_common.h"

#include "plexus/core/checkpoint.h"
#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/file_io.h"
#include "plexus/core/log.h"
#include "plexus/core/rng.h"

namespace fs = std::filesystem;

namespace plexus::llm {

void parse_run_section(const toml::table& root, RunOptions& run, toml::table& resolved) {
  ConfigTable t(config_section(root, "run"), "run");
  run = RunOptions::parse(t);  // the [run] table every family shares (core/run_options.h)
  resolved.insert("run", t.resolved());
}

void check_policy_for_task(const Policy& p, const Task& task, const std::vector<Problem>& probe, int64_t max_new,
                           const std::string& length_key) {
  if (p.stop_id < 0)
    throw Error::config("the policy's tokenizer ({}) has no single `</answer>` piece; pretrain the base with "
                        "tokenizer.user_defined_symbols = [\"<think>\", \"</think>\", \"<answer>\", \"</answer>\"]",
                        (p.run / "tokenizer.model").string());
  size_t longest = 0;
  for (auto& q : probe) longest = std::max(longest, p.tok->encode(task.prompt(q)).size());
  if (static_cast<int64_t>(longest) + max_new > p.args.max_seq_len)
    throw Error::config("{} = {} plus the longest prompt ({} tokens) exceeds the model's context max_seq_len = {} "
                        "(lower {} or use task.template = \"short\")",
                        length_key, max_new, longest, p.args.max_seq_len, length_key);
}

ResumeRules tuning_resume_rules(const std::string& section) {
  ResumeRules r;
  r.unit = "step";
  r.harmless = {"run.threads", "run.tensorboard", "run.out_dir", "run.name", section + ".stop_at",
                section + ".save_steps", "eval.every"};
  r.extendable = {section + ".max_steps"};
  r.paths = {"base.run", "teacher.run", "sft.samples"};
  return r;
}

void check_tuning_resume(const RunDir& run, const toml::table& resolved, const std::string& section, int64_t target,
                         const std::string& target_key) {
  const fs::path saved = run.path() / "config.toml";
  if (!fs::exists(saved))
    throw Error::data("--resume: '{}' is missing, so the resume cannot be checked; restore it or start a new run.name",
                      saved.string());
  check_resume_config(load_toml(saved), resolved, tuning_resume_rules(section));
  auto cks = list_checkpoints(run.checkpoints());  // newest first
  if (!cks.empty() && target < cks.front().first)
    throw Error::config("--resume: {} = {} but {} steps are already done ({}); a resume cannot undo work: set {} >= {} "
                        "or start a new run.name",
                        target_key, target, cks.front().first, cks.front().second.filename().string(), target_key,
                        cks.front().first);
}

nlohmann::json finished_summary(const RunDir& run, int64_t done, const std::string& max_key) {
  log_info("run '{}' is already at step {}; nothing to train (raise {} to continue); summary.json kept",
           run.path().string(), done, max_key);
  const fs::path file = run.path() / "summary.json";
  if (!fs::exists(file)) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(read_file(file));
  } catch (const nlohmann::json::exception&) {
    return nlohmann::json::object();
  }
}

void clone_weights(Transformer& src, Transformer& dst) {
  torch::NoGradGuard ng;
  auto s = module_state(*src);
  for (auto& [k, v] : module_state(*dst)) v.copy_(s.at(k));
}

std::map<std::string, torch::Tensor> prefixed(const std::map<std::string, torch::Tensor>& s, const std::string& from,
                                              const std::string& to) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [k, v] : s)
    if (k.rfind(from, 0) == 0) out[to + k.substr(from.size())] = v;
  return out;
}

torch::Tensor sequence_logprobs(Transformer& m, const torch::Tensor& inputs, const torch::Tensor& targets) {
  return token_logprobs(m->forward(inputs), targets);
}

UpdateStats grpo_update(Transformer& policy, Transformer& ref, AdamW& opt, const UpdateBatch& b,
                        const PolicyLossOptions& lo, const GrpoOptions& o, double lr, uint64_t seed, int64_t step) {
  const int64_t N = b.inputs.size(0);
  const int64_t n_mb = std::min<int64_t>(o.steps_per_generation, N);
  const bool need_old = o.num_iterations > 1 || n_mb > 1;
  policy->eval();  // MoE bookkeeping off: expert biases stay frozen during RL
  torch::Tensor old_lp, ref_lp;
  {
    torch::NoGradGuard ng;
    if (need_old) old_lp = sequence_logprobs(policy, b.inputs, b.targets);
    if (lo.beta > 0) ref_lp = sequence_logprobs(ref, b.inputs, b.targets);
  }
  const double n_gen_tokens = b.mask.sum().item<double>();
  UpdateStats st;
  st.tokens = n_gen_tokens * static_cast<double>(o.num_iterations);
  int64_t updates = 0;
  for (int64_t it = 0; it < o.num_iterations; ++it) {
    // Row order of this pass: identity for a single minibatch, else a seeded permutation.
    torch::Tensor order = torch::arange(N, torch::kInt64);
    if (n_mb > 1) order = torch::randperm(N, torch_generator(stream_key(seed, "grpo.minibatch", it, step)), torch::kInt64);
    order = order.to(b.inputs.device());
    for (int64_t k = 0; k < n_mb; ++k) {
      const int64_t lo_i = k * N / n_mb, hi_i = (k + 1) * N / n_mb;
      auto idx = order.narrow(0, lo_i, hi_i - lo_i);
      auto in = b.inputs.index_select(0, idx), tg = b.targets.index_select(0, idx), m = b.mask.index_select(0, idx);
      auto logits = policy->forward(in);                                  // [n,S,V] f32
      auto lp = token_logprobs(logits, tg);
      auto old = need_old ? old_lp.index_select(0, idx) : lp.detach();
      auto rf = lo.beta > 0 ? ref_lp.index_select(0, idx) : torch::Tensor();
      auto pl = policy_loss(lp, old, rf, b.advantages.index_select(0, idx), m, lo, n_gen_tokens);
      opt.zero_grad();
      pl.loss.backward();
      st.grad_norm += opt.clip_grad_norm(o.max_grad_norm);
      opt.step(lr);
      {
        torch::NoGradGuard ng;
        auto logp = torch::log_softmax(logits.detach(), -1);
        auto ent = -(logp.exp() * logp).sum(-1);                            // [n,S]
        st.entropy += (ent * m).sum().item<double>() / std::max(1.0, m.sum().item<double>());
      }
      st.loss += pl.loss.item<double>(), st.kl += pl.kl, st.clip_low += pl.clip_low, st.clip_high += pl.clip_high;
      ++updates;
    }
  }
  const double u = static_cast<double>(std::max<int64_t>(updates, 1));
  st.loss /= u, st.kl /= u, st.clip_low /= u, st.clip_high /= u, st.entropy /= u, st.grad_norm /= u;
  return st;
}

Policy load_tuning_policy(const std::string& base, const Task& task, const std::vector<Problem>& test, torch::Device dev,
                          int64_t max_completion_length, const std::string& length_key, const std::string& dtype,
                          bool& bf16) {
  Policy policy = load_policy(base, dev, "base.run");
  auto probe = test;  // lengths: the test split and the first training prompts
  for (uint64_t i = 0; i < 256; ++i) probe.push_back(task.problem(0, i));
  check_policy_for_task(policy, task, probe, max_completion_length, length_key);
  bf16 = dtype == "bfloat16" || (dtype == "auto" && dev.is_cuda());
  policy.model->set_compute_dtype(bf16 ? torch::kBFloat16 : torch::kFloat32);
  return policy;
}

std::vector<std::pair<std::string, torch::Tensor>> named_parameters_of(Transformer& m) {
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : m->named_parameters()) params.emplace_back(p.key(), p.value());
  return params;
}

ScheduleOptions tuning_schedule(const std::string& type, double lr, int64_t warmup_steps, int64_t max_steps) {
  const bool cosine = type == "cosine";
  return {cosine ? "cosine" : "constant_decay", lr, cosine ? 0.1 * lr : lr, warmup_steps, max_steps, 1.0, 1.0};
}

int64_t resume_policy(const RunDir& run, Transformer& model, AdamW& opt, torch::Device dev,
                      std::map<std::string, torch::Tensor>& state) {
  auto path = latest_checkpoint(run.checkpoints());
  if (path.empty()) throw Error::config("--resume: run '{}' has no checkpoint yet", run.path().string());
  auto ck = load_checkpoint(path);
  for (auto& [k, v] : ck.tensors) state[k] = v.to(dev);
  load_module_state(*model, state);
  opt.load_state(state);
  log_info("resumed from {} at step {}", path.string(), ck.meta.at("step").get<int64_t>());
  return ck.meta.at("step").get<int64_t>();
}

}  // namespace plexus::llm
