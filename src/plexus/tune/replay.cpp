#include "plexus/tune/replay.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "plexus/core/error.h"

namespace plexus::tune {

void parallel_chunks(int64_t n, int64_t chunk, int threads, const std::function<void(int64_t, int64_t, int64_t)>& fn) {
  PLEXUS_CHECK(chunk >= 1 && threads >= 1, "chunk {} threads {}", chunk, threads);
  const int64_t nchunks = (n + chunk - 1) / chunk;
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex mu;
  auto work = [&] {
    for (;;) {
      int64_t c = next.fetch_add(1);
      if (c >= nchunks) return;
      try {
        fn(c, c * chunk, std::min(n, (c + 1) * chunk));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        next = nchunks;
        return;
      }
    }
  };
  const int t = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(nchunks, 1)));
  if (t <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (int i = 0; i < t; ++i) pool.emplace_back(work);
    for (auto& th : pool) th.join();
  }
  if (error) std::rethrow_exception(error);
}

Kpis replay(const AuctionLog& log, const AuctionParams& theta, const ReplayOptions& opt) {
  const int64_t n = log.requests();
  std::vector<Kpis> partial((n + opt.chunk - 1) / opt.chunk);
  parallel_chunks(n, opt.chunk, opt.threads, [&](int64_t c, int64_t b, int64_t e) {
    AuctionScratch s;
    Kpis k;
    for (int64_t r = b; r < e; ++r) k += run_auction(log, r, theta, opt.click_model, s);
    partial[c] = k;
  });
  Kpis total;
  for (const auto& k : partial) total += k;  // fixed chunk order: identical for any thread count
  return total;
}

std::vector<Kpis> replay_per_request(const AuctionLog& log, const AuctionParams& theta, const ReplayOptions& opt) {
  std::vector<Kpis> out(log.requests());
  parallel_chunks(log.requests(), opt.chunk, opt.threads, [&](int64_t, int64_t b, int64_t e) {
    AuctionScratch s;
    for (int64_t r = b; r < e; ++r) out[r] = run_auction(log, r, theta, opt.click_model, s);
  });
  return out;
}

}  // namespace plexus::tune
