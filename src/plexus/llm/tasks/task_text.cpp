// Task-format text. See task_text.h.
#include "plexus/llm/tasks/task_text.h"

#include "plexus/core/rng.h"

namespace plexus::llm {

std::string task_completion(const Task& task, const Problem& p, bool short_answer) {
  if (short_answer) return fmt::format(" </think> <answer> {} </answer>", p.answer);
  return task.trace(p);
}

void append_task_documents(std::vector<Document>& docs, const std::vector<TaskOptions>& tasks, int64_t n,
                           double trace_fraction, uint64_t seed) {
  for (size_t t = 0; t < tasks.size(); ++t) {
    auto task = make_task(tasks[t]);
    for (int64_t i = 0; i < n; ++i) {
      if (i % 50 == 0) docs.push_back({fmt::format("{}{}", tasks[t].name, i / 50), "task:" + tasks[t].name, ""});
      auto p = task->problem(0, static_cast<uint64_t>(i));
      bool trace = Rng(seed, "llm.tasktext", t, static_cast<uint64_t>(i)).uniform() < trace_fraction;
      docs.back().text += task->prompt(p) + task_completion(*task, p, !trace) + "\n";
    }
  }
}

std::vector<std::pair<std::string, std::string>> trace_examples(const Task& task, uint64_t first, int64_t n) {
  std::vector<std::pair<std::string, std::string>> v;
  for (int64_t i = 0; i < n; ++i) {
    auto p = task.problem(0, first + static_cast<uint64_t>(i));
    v.emplace_back(task.prompt(p), task.trace(p));
  }
  return v;
}

}  // namespace plexus::llm
