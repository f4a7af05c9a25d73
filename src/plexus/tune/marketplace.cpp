#include "plexus/tune/marketplace.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::tune {

const OptionSchema<MarketOptions>& MarketOptions::schema() {
  using M = MarketOptions;
  static const auto s =
      OptionSchema<M>("market")
          .key("requests", &M::requests, "logged requests (search page views)", "[1, 100000000]")
          .key("segments", &M::segments, "query segments, each with its own advertisers (≤ advertisers)", "[1, 100000]")
          .key("advertisers", &M::advertisers, "advertiser pool; advertiser a belongs to segment a % segments",
               "[1, 10000000]")
          .key("ads_per_request", &M::ads_per_request, "Poisson mean of candidate ads per request", "(0, 1000]")
          .key("max_ads", &M::max_ads, "at most this many candidates per request", "[1, 1000]")
          .key("mainline_slots", &M::mainline_slots, "the first slots are mainline (≤ number of slots)", "[0, 64]")
          .key("position_effects", &M::position_effects, "e_k, one per slot (1..64 slots)", "(0, 1]")
          .key("bid_log_mean", &M::bid_log_mean, "advertiser bid ~ LogNormal(bid_log_mean, bid_log_sd), USD/click",
               "[-20, 20]")
          .key("bid_log_sd", &M::bid_log_sd, "log-sd of advertiser bids", "[0, 10]")
          .key("bid_request_sd", &M::bid_request_sd, "per-request bid jitter (log scale)", "[0, 10]")
          .key("ctr_log_mean", &M::ctr_log_mean, "true CTR ~ LogNormal(ctr_log_mean, ctr_log_sd), capped at 0.5",
               "[-20, 0]")
          .key("ctr_log_sd", &M::ctr_log_sd, "log-sd of true CTRs", "[0, 10]")
          .key("pctr_bias", &M::pctr_bias, "pCTR = CTR · exp(pctr_bias + pctr_noise_sd · z): miscalibration",
               "[-10, 10]")
          .key("pctr_noise_sd", &M::pctr_noise_sd, "noise of the click model's pCTR", "[0, 10]")
          .key("relevance_ctr_corr", &M::relevance_ctr_corr, "correlation of relevance (logit) with log CTR",
               "[-1, 1]")
          .key("segment_bid_sd", &M::segment_bid_sd, "per-segment bid level ~ LogNormal(0, segment_bid_sd)", "[0, 10]")
          .key("seed", &M::seed, "generator seed of the log");
  return s;
}

MarketOptions MarketOptions::parse(ConfigTable& t) {
  MarketOptions o = schema().parse(t);
  t.require(o.advertisers >= o.segments, "advertisers",
            "must be >= segments, otherwise some segment has no advertisers (empty segment)");
  t.require(!o.position_effects.empty() && o.position_effects.size() <= 64, "position_effects",
            "must list 1..64 slot effects");
  t.require(o.mainline_slots <= static_cast<int64_t>(o.position_effects.size()), "mainline_slots",
            "must be in [0, number of slots]");
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
