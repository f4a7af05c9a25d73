#include "plexus/fl/worker_pool.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus::fl {

void parallel_for(int64_t n, int64_t workers, const std::function<void(int64_t, int64_t)>& fn) {
  if (workers <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(0, i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> threads;
  for (int64_t w = 0; w < std::min(workers, n); ++w) {
    threads.emplace_back([&, w] {
      while (!failed.load()) {
        int64_t i = next.fetch_add(1);
        if (i >= n) break;
        try {
          fn(w, i);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace plexus::fl
