// Marketplace KPIs: sums over requests, with ratio KPIs (RPM, CTR, IY) formed as ratios of sums.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

namespace plexus::tune {

/// Per-request (or summed) KPI components. Units: revenue in USD (expected, price × click probability),
/// clicks expected (or sampled), impressions = ads shown, quality = Σ relevance × position effect over
/// shown ads (relevance-weighted impressions).
struct Kpis {
  double requests = 0, revenue = 0, clicks = 0, impressions = 0, quality = 0;

  Kpis& operator+=(const Kpis& o) {
    requests += o.requests;
    revenue += o.revenue;
    clicks += o.clicks;
    impressions += o.impressions;
    quality += o.quality;
    return *this;
  }
  /// Revenue per thousand requests (search page views): 1000 Σ revenue / Σ requests.
  double rpm() const { return requests > 0 ? 1000.0 * revenue / requests : 0.0; }
  /// Click-through rate of shown ads: Σ clicks / Σ impressions.
  double ctr() const { return impressions > 0 ? clicks / impressions : 0.0; }
  /// Impression yield: ads shown per request.
  double iy() const { return requests > 0 ? impressions / requests : 0.0; }
  /// All sums and ratios as a JSON object (keys: requests, revenue, clicks, impressions, quality, rpm,
  /// ctr, iy, clicks_per_request, quality_per_request).
  nlohmann::ordered_json to_json() const {
    nlohmann::ordered_json j;
    j["requests"] = requests;
    j["revenue"] = revenue;
    j["clicks"] = clicks;
    j["impressions"] = impressions;
    j["quality"] = quality;
    j["rpm"] = rpm();
    j["ctr"] = ctr();
    j["iy"] = iy();
    j["clicks_per_request"] = requests > 0 ? clicks / requests : 0.0;
    j["quality_per_request"] = requests > 0 ? quality / requests : 0.0;
    return j;
  }
};

}  // namespace plexus::tune
