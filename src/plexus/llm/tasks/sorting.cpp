// Sorting a list of integers: generator, trace, exact verifier. See tasks_impl.h.
#include <algorithm>
#include <cctype>

#include "plexus/llm/tasks/tasks_impl.h"

namespace plexus::llm {

namespace {
std::string join_list(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}
}  // namespace

Problem SortingTask::draw(Rng& rng) const {
  Problem p;
  auto n = o_.min_length + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o_.max_length - o_.min_length + 1)));
  for (int64_t i = 0; i < n; ++i) p.numbers.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(o_.max_value + 1))));
  auto sorted = p.numbers;
  std::sort(sorted.begin(), sorted.end());
  p.key = "sort:" + join_list(p.numbers);
  p.question = fmt::format("Sort these numbers in ascending order: {}. Show your work in <think> </think> tags and "
                           "return the sorted list in <answer> </answer> tags", join_list(p.numbers));
  p.answer = join_list(sorted);
  return p;
}

std::string SortingTask::trace(const Problem& p) const {
  auto rest = p.numbers;
  std::string s;
  while (!rest.empty()) {
    auto it = std::min_element(rest.begin(), rest.end());
    s += fmt::format(" smallest of {} is {}.", join_list(rest), *it);
    rest.erase(it);
  }
  return fmt::format("{} </think> <answer> {} </answer>", s, p.answer);
}

bool SortingTask::check_answer(const Problem& p, const std::string& a) const {
  std::vector<int64_t> got;
  size_t i = 0;
  while (i < a.size()) {
    char c = a[i];
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    size_t j = i;
    while (j < a.size() && std::isdigit(static_cast<unsigned char>(a[j]))) ++j;
    int64_t v = 0;
    if (!parse_integer(a.substr(i, j - i), v)) return false;
    got.push_back(v);
    if (got.size() > 64) return false;
    i = j;
  }
  auto want = p.numbers;
  std::sort(want.begin(), want.end());
  return got == want;
}

}  // namespace plexus::llm
