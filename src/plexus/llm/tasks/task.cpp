// Task plumbing shared by every task: split rule, templates, answer extraction, format check. See task.h.
#include "plexus/llm/tasks/task.h"

#include <algorithm>
#include <cctype>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/tasks/tasks_impl.h"

namespace plexus::llm {

namespace {

// R1-Zero template (DeepSeek-R1 Table 1), verbatim.
constexpr const char* kR1Zero =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {}. "
    "Assistant:";
constexpr const char* kShort = "User: {}. Assistant:";

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

bool is_test(const std::string& key) { return stream_key(0, key) % 10 == 0; }

}  // namespace

TaskOptions TaskOptions::parse(ConfigTable& t) { return parse(t, TaskOptions{}); }

TaskOptions TaskOptions::parse(ConfigTable& t, TaskOptions base) {
  TaskOptions o = std::move(base);
  t.get_choice("name", o.name, task_names());
  t.get("seed", o.seed);
  t.get("test_size", o.test_size);
  t.get_choice("template", o.template_name, {"r1_zero", "short"});
  t.get("prefill_think", o.prefill_think);
  t.get("min_numbers", o.min_numbers);
  t.get("max_numbers", o.max_numbers);
  t.get("max_number", o.max_number);
  t.get("max_target", o.max_target);
  t.get("digits", o.digits);
  t.get("min_length", o.min_length);
  t.get("max_length", o.max_length);
  t.get("max_value", o.max_value);
  t.require(o.test_size >= 1, "test_size", "must be >= 1 (the held-out split would be empty)");
  t.require(o.min_numbers >= 2 && o.min_numbers <= o.max_numbers && o.max_numbers <= 6, "min_numbers",
            "needs 2 <= min_numbers <= max_numbers <= 6");
  t.require(o.max_number >= 1 && o.max_number <= 10000, "max_number", "must be in [1, 10000]");
  t.require(o.max_target >= 1 && o.max_target <= 1000000, "max_target", "must be in [1, 1e6]");
  t.require(o.digits >= 1 && o.digits <= 9, "digits", "must be in [1, 9]");
  t.require(o.min_length >= 2 && o.min_length <= o.max_length && o.max_length <= 32, "min_length",
            "needs 2 <= min_length <= max_length <= 32");
  t.require(o.max_value >= 1 && o.max_value <= 1000000, "max_value", "must be in [1, 1e6]");
  return o;
}

Problem Task::problem(int split, uint64_t index) const {
  Rng rng(static_cast<uint64_t>(o_.seed), "task." + o_.name, static_cast<uint64_t>(split), index);
  for (int attempt = 0; attempt < 100000; ++attempt) {
    Problem p = draw(rng);
    if (is_test(p.key) == (split == 1)) return p;
  }
  throw Error::infeasible("[task] {}: cannot draw a {} problem (problem space too small; raise difficulty)", o_.name,
                          split == 1 ? "test" : "train");
}

std::vector<Problem> Task::test_set() const {
  if (o_.test_size < 1) throw Error::data("[task] {}: the test split is empty (set task.test_size >= 1)", o_.name);
  std::vector<Problem> v;
  for (int64_t i = 0; i < o_.test_size; ++i) v.push_back(problem(1, static_cast<uint64_t>(i)));
  return v;
}

std::string Task::prompt(const Problem& p) const {
  std::string s = fmt::format(fmt::runtime(o_.template_name == "short" ? kShort : kR1Zero), p.question);
  return o_.prefill_think ? s + " <think>" : s;
}

Verdict Task::verify(const Problem& p, const std::string& completion) const {
  Verdict v;
  v.has_answer = last_answer(completion, v.answer);
  v.correct = v.has_answer && check_answer(p, v.answer);
  v.well_formed = well_formed((o_.prefill_think ? "<think>" : "") + completion);
  return v;
}

bool last_answer(const std::string& s, std::string& out) {
  auto close = s.rfind("</answer>");
  if (close == std::string::npos) return false;
  auto open = s.rfind("<answer>", close);
  if (open == std::string::npos) return false;
  out = trim(s.substr(open + 8, close - open - 8));
  return true;
}

bool well_formed(const std::string& s_in) {
  std::string s = trim(s_in);
  const char* tags[] = {"<think>", "</think>", "<answer>", "</answer>"};
  size_t pos = 0;
  for (auto* tag : tags) {
    auto f = s.find(tag, pos);
    if (f == std::string::npos) return false;
    // Each tag exactly once.
    if (s.find(tag, f + 1) != std::string::npos) return false;
    pos = f + std::char_traits<char>::length(tag);
  }
  if (s.rfind("<think>", 0) != 0) return false;                        // starts with <think>
  auto close = s.find("</think>"), open = s.find("<answer>");
  if (!trim(s.substr(close + 8, open - close - 8)).empty()) return false;  // nothing between the blocks
  return pos == s.size();                                               // nothing after </answer>
}

std::vector<std::string> task_names() { return {"countdown", "addition", "multiplication", "sorting"}; }

std::unique_ptr<Task> make_task(const TaskOptions& o) {
  if (o.name == "countdown") return std::make_unique<CountdownTask>(o);
  if (o.name == "addition") return std::make_unique<ArithmeticTask>(o, '+');
  if (o.name == "multiplication") return std::make_unique<ArithmeticTask>(o, '*');
  if (o.name == "sorting") return std::make_unique<SortingTask>(o);
  auto near = nearest_name(o.name, task_names());
  throw Error::config("[task] unknown task '{}'{} (known: countdown, addition, multiplication, sorting)", o.name,
                      near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near));
}

}  // namespace plexus::llm
