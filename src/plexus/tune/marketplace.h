// The sponsored-search marketplace: a seeded generator of auction logs.
//
// A log is columnar: per request a query segment and a range of candidate ads; per ad its bid (USD per
// click), true click-through rate (CTR at the top slot), the click model's predicted CTR (pCTR, deliberately
// miscalibrated) and a relevance score in (0, 1]. Position effects (one per slot, separable click model
// P(click | ad, slot) = CTR_ad × e_slot) live in the log header. The model follows docs/tune.md (all [D]: our
// design, not the papers'): log-normal advertiser bids, log-normal CTRs, pCTR = CTR × log-normal error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plexus/core/options.h"

namespace plexus::tune {

/// Generator settings, TOML section [market]. Units: bids in USD per click; CTRs are probabilities.
struct MarketOptions {
  int64_t requests = 20000;          // number of logged requests (search page views)
  int64_t segments = 8;              // query segments (head/torso/tail...); each has its own advertisers
  int64_t advertisers = 400;         // advertiser pool; advertiser a belongs to segment a % segments
  double ads_per_request = 6.0;      // Poisson mean of candidate ads per request (truncated at max_ads)
  int64_t max_ads = 16;              // at most this many candidates per request
  int64_t mainline_slots = 2;        // the first slots are mainline (top of page)
  std::vector<double> position_effects = {1.0, 0.6, 0.25, 0.15};  // e_k, one per slot; K = size
  double bid_log_mean = -0.5;        // advertiser bid ~ LogNormal(bid_log_mean, bid_log_sd)
  double bid_log_sd = 0.8;
  double bid_request_sd = 0.2;       // per-request jitter of a bid (log scale)
  double ctr_log_mean = -3.0;        // true CTR ~ LogNormal(ctr_log_mean, ctr_log_sd), capped at 0.5
  double ctr_log_sd = 0.6;
  double pctr_bias = 0.15;           // pCTR = CTR × exp(pctr_bias + pctr_noise_sd · z): miscalibration
  double pctr_noise_sd = 0.35;
  double relevance_ctr_corr = 0.6;   // correlation of relevance (logit scale) with log CTR
  double segment_bid_sd = 0.4;       // per-segment bid level ~ LogNormal(0, segment_bid_sd)
  uint64_t seed = 1;

  /// Parse [market]. Throws: Error(Config) on a bad key or value (e.g. segments > advertisers).
  static MarketOptions parse(ConfigTable& t);
  /// The declared keys of [market] (core/options.h).
  static const OptionSchema<MarketOptions>& schema();
};

/// Columnar auction log. Ads of request r occupy [offsets[r], offsets[r+1]) in the per-ad columns.
struct AuctionLog {
  int64_t mainline_slots = 2;
  std::vector<double> position_effects;  // e_k, K = size()
  int64_t segments = 1;
  uint64_t seed = 0;
  std::vector<uint64_t> offsets;         // requests + 1 entries, offsets[0] = 0
  std::vector<uint32_t> segment;         // per request
  std::vector<float> bid, ctr, pctr, relevance;  // per ad

  int64_t requests() const { return static_cast<int64_t>(segment.size()); }
  int64_t ads() const { return static_cast<int64_t>(bid.size()); }
  int64_t slots() const { return static_cast<int64_t>(position_effects.size()); }
  /// Check every invariant the auction relies on (offsets monotone, 0 < CTR, pCTR < 1, bids > 0,
  /// 0 < relevance <= 1, slots >= 1). Throws: Error(Data) naming the first violation and `origin`.
  void validate(const std::string& origin) const;
  /// The log restricted to the listed requests (in that order), e.g. a subsample for the simulator.
  AuctionLog subset(const std::vector<int64_t>& request_ids) const;
};

/// Generate a log. Deterministic in `opt.seed` (streams "market/advertiser", "market/request").
/// Throws: Error(Config) if a segment would have no advertisers (empty segment).
AuctionLog generate_market(const MarketOptions& opt);

}  // namespace plexus::tune
