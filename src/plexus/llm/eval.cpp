// pass@1 / cons@k evaluation and verified sampling. See eval.h.
#include "plexus/llm/eval.h"

#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "plexus/core/error.h"
#include "plexus/core/run_dir.h"

namespace plexus::llm {

std::vector<Sample> sample_problems(Policy& p, const Task& task, const std::vector<Problem>& problems,
                                    const EvalOptions& o, const std::string& purpose) {
  std::vector<Sample> out;
  std::vector<std::vector<int64_t>> prompts;
  std::vector<int64_t> owner;
  for (size_t i = 0; i < problems.size(); ++i)
    for (int64_t j = 0; j < o.k; ++j) {
      prompts.push_back(encode64(*p.tok, task.prompt(problems[i])));
      owner.push_back(static_cast<int64_t>(i));
    }
  const auto rows = static_cast<int64_t>(prompts.size());
  for (int64_t start = 0; start < rows; start += o.batch_rows) {
    auto n = std::min(o.batch_rows, rows - start);
    std::vector<std::vector<int64_t>> batch(prompts.begin() + start, prompts.begin() + start + n);
    RolloutOptions ro;
    ro.max_new_tokens = o.max_new_tokens, ro.temperature = o.temperature, ro.top_p = o.top_p;
    ro.stop_id = p.stop_id, ro.eos_id = p.tok->eos_id(), ro.seed = o.seed, ro.purpose = purpose;
    ro.step = 0;
    for (int64_t i = 0; i < n; ++i) ro.row_keys.push_back(static_cast<uint64_t>(start + i));  // chunk-independent
    auto r = rollout(p.model, batch, ro);
    auto comps = completions_on_host(r);
    for (int64_t i = 0; i < n; ++i) {
      Sample s;
      s.problem = owner[static_cast<size_t>(start + i)];
      s.prompt = task.prompt(problems[static_cast<size_t>(s.problem)]);
      s.completion = p.tok->decode(comps[static_cast<size_t>(i)]);
      s.length = static_cast<int64_t>(comps[static_cast<size_t>(i)].size());
      s.verdict = task.verify(problems[static_cast<size_t>(s.problem)], s.completion);
      out.push_back(std::move(s));
    }
  }
  return out;
}

EvalResult score_samples(const std::vector<Sample>& s, int64_t n_problems, int64_t k) {
  EvalResult r;
  r.problems = n_problems, r.k = k;
  std::vector<std::vector<const Sample*>> by(static_cast<size_t>(n_problems));
  for (auto& x : s) {
    by[static_cast<size_t>(x.problem)].push_back(&x);
    r.pass1 += x.verdict.correct, r.format_rate += x.verdict.well_formed, r.answer_rate += x.verdict.has_answer;
    r.mean_length += static_cast<double>(x.length);
  }
  const double n = std::max<double>(1, static_cast<double>(s.size()));
  r.pass1 /= n, r.format_rate /= n, r.answer_rate /= n, r.mean_length /= n;
  for (auto& group : by) {
    std::map<std::string, int> votes;
    std::string best;
    int best_n = 0;
    bool best_correct = false;
    for (auto* x : group) {
      if (!x->verdict.has_answer) continue;
      std::string key;
      for (char c : x->verdict.answer) if (!std::isspace(static_cast<unsigned char>(c))) key += c;
      int v = ++votes[key];
      if (v > best_n) best_n = v, best = key, best_correct = x->verdict.correct;
    }
    r.cons += best_correct;
  }
  r.cons /= std::max<double>(1, static_cast<double>(n_problems));
  return r;
}

int64_t write_samples(const std::filesystem::path& path, const std::vector<Sample>& s, bool only_verified) {
  std::string text;
  int64_t n = 0;
  for (auto& x : s) {
    if (only_verified && !x.verdict.correct) continue;
    nlohmann::ordered_json j;
    j["problem"] = x.problem;
    j["prompt"] = x.prompt;
    j["completion"] = x.completion;
    j["correct"] = x.verdict.correct;
    j["well_formed"] = x.verdict.well_formed;
    text += j.dump() + "\n";
    ++n;
  }
  if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
  atomic_write(path, text);
  return n;
}

std::vector<std::pair<std::string, std::string>> read_samples(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error::io("samples file '{}' not found (write it with `plexus llm sample --out`)", path.string());
  std::vector<std::pair<std::string, std::string>> v;
  std::string line;
  int64_t row = 0;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty()) continue;
    try {
      auto j = nlohmann::json::parse(line);
      v.emplace_back(j.at("prompt").get<std::string>(), j.at("completion").get<std::string>());
    } catch (const std::exception&) {
      throw Error::data("samples file '{}' line {} is not a sample record", path.string(), row);
    }
  }
  if (v.empty()) throw Error::data("samples file '{}' holds no samples (nothing passed the filter?)", path.string());
  return v;
}

}  // namespace plexus::llm
