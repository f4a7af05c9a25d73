#include "plexus/tune/marketplace.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::tune {

MarketOptions MarketOptions::parse(ConfigTable& t) {
  MarketOptions o;
  t.get("requests", o.requests);
  t.get("segments", o.segments);
  t.get("advertisers", o.advertisers);
  t.get("ads_per_request", o.ads_per_request);
  t.get("max_ads", o.max_ads);
  t.get("mainline_slots", o.mainline_slots);
  t.get("position_effects", o.position_effects);
  t.get("bid_log_mean", o.bid_log_mean);
  t.get("bid_log_sd", o.bid_log_sd);
  t.get("bid_request_sd", o.bid_request_sd);
  t.get("ctr_log_mean", o.ctr_log_mean);
  t.get("ctr_log_sd", o.ctr_log_sd);
  t.get("pctr_bias", o.pctr_bias);
  t.get("pctr_noise_sd", o.pctr_noise_sd);
  t.get("relevance_ctr_corr", o.relevance_ctr_corr);
  t.get("segment_bid_sd", o.segment_bid_sd);
  int64_t seed = static_cast<int64_t>(o.seed);
  t.get("seed", seed);
  o.seed = static_cast<uint64_t>(seed);
  t.require(o.requests >= 1, "requests", "must be >= 1");
  t.require(o.segments >= 1, "segments", "must be >= 1 (an empty segment list has no traffic)");
  t.require(o.advertisers >= o.segments, "advertisers",
            "must be >= segments, otherwise some segment has no advertisers (empty segment)");
  t.require(o.ads_per_request > 0, "ads_per_request", "must be > 0");
  t.require(o.max_ads >= 1 && o.max_ads <= 1000, "max_ads", "must be in [1, 1000]");
  t.require(!o.position_effects.empty() && o.position_effects.size() <= 64, "position_effects",
            "must list 1..64 slot effects");
  for (double e : o.position_effects)
    t.require(e > 0 && e <= 1, "position_effects", "every effect must be in (0, 1]");
  t.require(o.mainline_slots >= 0 && o.mainline_slots <= static_cast<int64_t>(o.position_effects.size()),
            "mainline_slots", "must be in [0, number of slots]");
  t.require(o.bid_log_sd >= 0 && o.ctr_log_sd >= 0 && o.pctr_noise_sd >= 0 && o.bid_request_sd >= 0,
            "bid_log_sd", "standard deviations must be >= 0");
  t.require(std::abs(o.relevance_ctr_corr) <= 1, "relevance_ctr_corr", "must be in [-1, 1]");
  t.finish();
  return o;
}

void AuctionLog::validate(const std::string& origin) const {
  auto bad = [&](const std::string& what) {
    throw Error::data("auction log {}: {} (regenerate it with `plexus tune generate --out ...`)", origin, what);
  };
  if (position_effects.empty()) bad("no slots (position_effects is empty)");
  for (double e : position_effects)
    if (!(e > 0 && e <= 1)) bad(fmt::format("position effect {} outside (0, 1]", e));
  if (mainline_slots < 0 || mainline_slots > slots()) bad("mainline_slots outside [0, slots]");
  if (offsets.size() != segment.size() + 1) bad("offsets and segment columns disagree in length");
  if (offsets.empty() || offsets[0] != 0) bad("offsets must start at 0");
  if (requests() == 0) bad("no requests");
  for (std::size_t r = 0; r + 1 < offsets.size(); ++r)
    if (offsets[r + 1] < offsets[r]) bad(fmt::format("offsets decrease at request {}", r));
  if (offsets.back() != bid.size()) bad("offsets do not cover the ad columns");
  if (ctr.size() != bid.size() || pctr.size() != bid.size() || relevance.size() != bid.size())
    bad("per-ad columns have different lengths");
  for (std::size_t r = 0; r < segment.size(); ++r)
    if (segment[r] >= static_cast<uint64_t>(segments)) bad(fmt::format("request {} has segment {} >= {}", r, segment[r], segments));
  for (std::size_t j = 0; j < bid.size(); ++j) {
    if (!(bid[j] > 0 && std::isfinite(bid[j]))) bad(fmt::format("ad {} has bid {} (must be > 0)", j, bid[j]));
    if (!(ctr[j] > 0 && ctr[j] < 1)) bad(fmt::format("ad {} has CTR {} outside (0, 1)", j, ctr[j]));
    if (!(pctr[j] > 0 && pctr[j] < 1)) bad(fmt::format("ad {} has pCTR {} outside (0, 1)", j, pctr[j]));
    if (!(relevance[j] > 0 && relevance[j] <= 1)) bad(fmt::format("ad {} has relevance {} outside (0, 1]", j, relevance[j]));
  }
}

AuctionLog AuctionLog::subset(const std::vector<int64_t>& ids) const {
  AuctionLog s;
  s.mainline_slots = mainline_slots;
  s.position_effects = position_effects;
  s.segments = segments;
  s.seed = seed;
  s.offsets.reserve(ids.size() + 1);
  s.offsets.push_back(0);
  for (int64_t r : ids) {
    PLEXUS_CHECK(r >= 0 && r < requests(), "request id {} out of range", r);
    s.segment.push_back(segment[r]);
    for (uint64_t j = offsets[r]; j < offsets[r + 1]; ++j) {
      s.bid.push_back(bid[j]);
      s.ctr.push_back(ctr[j]);
      s.pctr.push_back(pctr[j]);
      s.relevance.push_back(relevance[j]);
    }
    s.offsets.push_back(s.bid.size());
  }
  return s;
}

namespace {
// Poisson draw by inversion (means here are small, < 50).
int64_t poisson(Rng& rng, double mean) {
  double l = std::exp(-mean), p = 1.0;
  int64_t k = 0;
  do {
    ++k;
    p *= rng.uniform();
  } while (p > l && k < 10000);
  return k - 1;
}
}  // namespace

AuctionLog generate_market(const MarketOptions& o) {
  if (o.segments < 1 || o.advertisers < o.segments)
    throw Error::config("[market] advertisers = {} < segments = {}: some segment would be empty; raise "
                        "market.advertisers or lower market.segments", o.advertisers, o.segments);
  // Advertisers: a bid level and an ad quality (CTR at the top slot), both log-normal. Advertiser a serves
  // segment a % S, so every segment has at least one advertiser.
  const int64_t S = o.segments, A = o.advertisers;
  std::vector<double> seg_bid(S), seg_traffic(S), adv_bid(A), adv_ctr_z(A);
  Rng srng(o.seed, "market/segment");
  double total = 0;
  for (int64_t s = 0; s < S; ++s) {
    seg_bid[s] = std::exp(o.segment_bid_sd * srng.normal());
    seg_traffic[s] = 1.0 / (s + 1.0);  // Zipf-like traffic share: head segments get more requests
    total += seg_traffic[s];
  }
  Rng arng(o.seed, "market/advertiser");
  std::vector<std::vector<int64_t>> by_seg(S);
  for (int64_t a = 0; a < A; ++a) {
    adv_bid[a] = std::exp(o.bid_log_mean + o.bid_log_sd * arng.normal());
    adv_ctr_z[a] = arng.normal();
    by_seg[a % S].push_back(a);
  }
  AuctionLog log;
  log.mainline_slots = o.mainline_slots;
  log.position_effects = o.position_effects;
  log.segments = S;
  log.seed = o.seed;
  log.offsets.push_back(0);
  const double rho = o.relevance_ctr_corr, rho_c = std::sqrt(std::max(0.0, 1 - rho * rho));
  for (int64_t r = 0; r < o.requests; ++r) {
    Rng rng(o.seed, "market/request", static_cast<uint64_t>(r));
    double u = rng.uniform() * total, acc = 0;
    int64_t s = 0;
    for (; s < S - 1; ++s) {
      acc += seg_traffic[s];
      if (u < acc) break;
    }
    const auto& pool = by_seg[s];
    int64_t m = std::min<int64_t>({poisson(rng, o.ads_per_request), o.max_ads, static_cast<int64_t>(pool.size())});
    auto pick = rng.sample_without_replacement(static_cast<int64_t>(pool.size()), m);
    for (int64_t k : pick) {
      int64_t a = pool[k];
      // Query-ad match: the ad's CTR varies by request around the advertiser's quality.
      double z = 0.8 * adv_ctr_z[a] + 0.6 * rng.normal();
      double ctr = std::min(0.5, std::exp(o.ctr_log_mean + o.ctr_log_sd * z));
      double pctr = std::min(0.95, ctr * std::exp(o.pctr_bias + o.pctr_noise_sd * rng.normal()));
      double rel = 1.0 / (1.0 + std::exp(-(0.5 + 1.2 * (rho * z + rho_c * rng.normal()))));
      double bid = seg_bid[s] * adv_bid[a] * std::exp(o.bid_request_sd * rng.normal());
      log.bid.push_back(static_cast<float>(std::max(bid, 1e-3)));
      log.ctr.push_back(static_cast<float>(std::max(ctr, 1e-6)));
      log.pctr.push_back(static_cast<float>(std::max(pctr, 1e-6)));
      log.relevance.push_back(static_cast<float>(std::max(rel, 1e-4)));
    }
    log.segment.push_back(static_cast<uint32_t>(s));
    log.offsets.push_back(log.bid.size());
  }
  return log;
}

}  // namespace plexus::tune
