#include "plexus/tune/gsp_auction.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "plexus/core/config.h"  // clip_text
#include "plexus/core/error.h"

namespace plexus::tune {

const std::array<const char*, AuctionParams::kDims>& AuctionParams::names() {
  static const std::array<const char*, kDims> n = {"alpha", "beta", "reserve", "mainline_reserve", "quality_threshold"};
  return n;
}

const std::array<std::pair<double, double>, AuctionParams::kDims>& AuctionParams::bounds() {
  static const std::array<std::pair<double, double>, kDims> b = {
      std::pair{0.0, 3.0}, std::pair{0.0, 3.0}, std::pair{0.0, 20.0}, std::pair{0.0, 20.0}, std::pair{0.0, 1.0}};
  return b;
}

double AuctionParams::get(int i) const {
  switch (i) {
    case 0: return alpha;
    case 1: return beta;
    case 2: return reserve;
    case 3: return mainline_reserve;
    case 4: return quality_threshold;
  }
  PLEXUS_CHECK(false, "parameter index {}", i);
  return 0;
}

void AuctionParams::set(int i, double v) {
  switch (i) {
    case 0: alpha = v; return;
    case 1: beta = v; return;
    case 2: reserve = v; return;
    case 3: mainline_reserve = v; return;
    case 4: quality_threshold = v; return;
  }
  PLEXUS_CHECK(false, "parameter index {}", i);
}

int AuctionParams::index(const std::string& name) {
  for (int i = 0; i < kDims; ++i)
    if (name == names()[i]) return i;
  return -1;
}

void AuctionParams::check_bounds() const {
  for (int i = 0; i < kDims; ++i) {
    double v = get(i);
    auto [lo, hi] = bounds()[i];
    if (!(v >= lo && v <= hi))
      throw Error::config("theta {} = {} is outside its bounds [{}, {}]", names()[i], v, lo, hi);
  }
}

AuctionParams AuctionParams::clamped() const {
  AuctionParams c = *this;
  for (int i = 0; i < kDims; ++i) c.set(i, std::clamp(get(i), bounds()[i].first, bounds()[i].second));
  return c;
}

AuctionParams AuctionParams::parse(const std::string& text, const char* what) { return parse(text, AuctionParams{}, what); }

std::vector<std::pair<std::string, double>> parse_assignments(const std::string& text, const char* flag) {
  std::vector<std::pair<std::string, double>> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    char* endp = nullptr;
    double v = eq == std::string::npos ? 0 : std::strtod(item.c_str() + eq + 1, &endp);
    if (eq == std::string::npos || eq + 1 == item.size() || *endp != '\0' || !std::isfinite(v))
      throw Error::config("{}: '{}' is not name=number (write e.g. alpha=0.8,reserve=0.1)", flag, clip_text(item));
    std::string name = item.substr(0, eq);
    for (const auto& [n, _] : out)
      if (n == name) throw Error::config("{}: '{}' is given twice; give each parameter once", flag, clip_text(name));
    out.push_back({std::move(name), v});
  }
  return out;
}

AuctionParams AuctionParams::parse(const std::string& text, AuctionParams base, const char* what) {
  for (const auto& [name, v] : parse_assignments(text, what)) {
    int i = index(name);
    if (i < 0)
      throw Error::config("{}: unknown parameter '{}' (known: alpha, beta, reserve, mainline_reserve, "
                          "quality_threshold)", what, clip_text(name));
    base.set(i, v);
  }
  base.check_bounds();
  return base;
}

Kpis run_auction(const AuctionLog& log, int64_t request, const AuctionParams& th, ClickModel model,
                 AuctionScratch& s, std::vector<Placement>* placements) {
  const uint64_t first = log.offsets[request], count = log.offsets[request + 1] - first;
  Kpis k;
  k.requests = 1;
  if (placements) placements->clear();
  s.order.clear();
  s.score.resize(count);
  s.quality.resize(count);
  for (uint64_t j = 0; j < count; ++j) {
    const uint64_t a = first + j;
    if (log.bid[a] < th.reserve || log.relevance[a] < th.quality_threshold) continue;
    // q_j = pCTR^α · rel^β; exp/log form keeps α = 0 or β = 0 exact (x^0 = 1).
    double q = (th.alpha == 0 ? 1.0 : std::pow(static_cast<double>(log.pctr[a]), th.alpha)) *
               (th.beta == 0 ? 1.0 : std::pow(static_cast<double>(log.relevance[a]), th.beta));
    s.quality[j] = q;
    s.score[j] = log.bid[a] * q;
    s.order.push_back(static_cast<int>(j));
  }
  // Descending score; ties broken by index so the outcome is deterministic.
  std::sort(s.order.begin(), s.order.end(), [&](int x, int y) {
    return s.score[x] != s.score[y] ? s.score[x] > s.score[y] : x < y;
  });
  const int K = static_cast<int>(log.slots()), M = static_cast<int>(log.mainline_slots);
  const int m = static_cast<int>(s.order.size());
  // Mainline takes the leading ads that clear the mainline reserve; the rest of the ranking continues in
  // the sidebar. Ranking is never reordered, so GSP prices use the next ad in the one ranking.
  int mainline_used = 0;
  while (mainline_used < std::min(M, m) && s.score[s.order[mainline_used]] >= th.mainline_reserve) ++mainline_used;
  const int shown = std::min(m, mainline_used + (K - M));
  for (int i = 0; i < shown; ++i) {
    const int j = s.order[i];
    const uint64_t a = first + j;
    const bool mainline = i < mainline_used;
    const int slot = mainline ? i : M + (i - mainline_used);
    double next = i + 1 < m ? s.score[s.order[i + 1]] : 0.0;
    double price = std::max<double>(th.reserve, next / s.quality[j]);
    if (mainline) price = std::max(price, th.mainline_reserve / s.quality[j]);
    double c = (model == ClickModel::True ? log.ctr[a] : log.pctr[a]) * log.position_effects[slot];
    k.impressions += 1;
    k.clicks += c;
    k.revenue += price * c;
    k.quality += log.relevance[a] * log.position_effects[slot];
    if (placements) placements->push_back({j, slot, price, c});
  }
  return k;
}

}  // namespace plexus::tune
