#include "plexus/fl/batched_graphs.h"

namespace plexus::fl {

StepGraphEntry& BatchedStepGraphs::get(const std::string& key, const std::function<void(StepGraphEntry&)>& make) {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i]->key != key) continue;
    auto e = std::move(entries_[i]);
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
    entries_.push_back(std::move(e));
    return *entries_.back();
  }
  // Evict before allocating: the old entry's buffers and graph pool return to the caching allocator first.
  while (!entries_.empty() && entries_.size() >= capacity_) entries_.erase(entries_.begin());
  auto e = std::make_unique<StepGraphEntry>();
  e->key = key;
  make(*e);
  entries_.push_back(std::move(e));
  return *entries_.back();
}

}  // namespace plexus::fl
