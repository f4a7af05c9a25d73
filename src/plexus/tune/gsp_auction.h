// One generalized-second-price (GSP) auction with tunable parameters θ.
//
// Rank score S_j = b_j × q_j with quality score q_j = pCTR_j^α × relevance_j^β (Lahaie & McAfee's squashing
// exponent α; β is our relevance exponent, the λ of Gorur et al. §1). An ad is eligible if b_j ≥ reserve and
// relevance_j ≥ quality_threshold. Eligible ads are sorted by S_j; the first mainline_slots slots take ads
// whose S_j ≥ mainline_reserve (a score reserve, as the "mainline reserves" of Bottou et al. 2013), the rest
// go to sidebar slots until K slots are filled. Next-price GSP (Varian): the ad at rank i pays per click
// the least bid that keeps its rank, p_i = max(reserve, S_{i+1} / q_i [, mainline_reserve / q_i]) ≤ b_i.
// Clicks follow the separable model P(click | ad j, slot k) = c_j × e_k, with c_j the true CTR (the "live"
// world) or pCTR (the open-box simulator's own click model). All of this is [D] in docs/tune.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "plexus/tune/kpis.h"
#include "plexus/tune/marketplace.h"

namespace plexus::tune {

/// Parse "a=1,b=2" (the --theta / --sigma syntax) into [(a, 1), (b, 2)]; empty items are skipped.
/// Throws: Error(Config) naming `flag` and the item when an item is not name=number.
std::vector<std::pair<std::string, double>> parse_assignments(const std::string& text, const char* flag);

/// Tunable auction parameters θ. Units: reserve in USD per click; mainline_reserve in rank-score units
/// (USD × CTR^α × relevance^β); exponents and threshold dimensionless.
struct AuctionParams {
  double alpha = 1.0;              // pCTR exponent in the rank score
  double beta = 0.0;               // relevance exponent in the rank score
  double reserve = 0.05;           // per-click reserve price
  double mainline_reserve = 0.0;   // rank-score reserve for mainline slots
  double quality_threshold = 0.0;  // minimum relevance to be shown

  static constexpr int kDims = 5;
  /// Names in vector order: alpha, beta, reserve, mainline_reserve, quality_threshold.
  static const std::array<const char*, kDims>& names();
  /// Box bounds per dimension (same order). alpha, beta ∈ [0, 3]; reserves ∈ [0, 20]; threshold ∈ [0, 1].
  static const std::array<std::pair<double, double>, kDims>& bounds();
  double get(int i) const;
  void set(int i, double v);
  /// Index of a parameter name, or -1.
  static int index(const std::string& name);
  /// Parse "alpha=0.8,reserve=0.1" on top of `base`. Throws: Error(Config) on an unknown name, a
  /// malformed number or a value outside its bounds.
  /// `what` names the input in errors (a flag such as --theta, or a config key).
  static AuctionParams parse(const std::string& text, AuctionParams base, const char* what = "--theta");  // uses parse_assignments
  static AuctionParams parse(const std::string& text, const char* what = "--theta");
  /// Throws: Error(Config) naming the first parameter outside its bounds.
  void check_bounds() const;
  /// This θ with every coordinate clamped to its box (used for randomized θ_i that fall outside it).
  AuctionParams clamped() const;
};

enum class ClickModel { True, Predicted };

/// One shown ad: its index within the request, slot, GSP price per click and click probability.
struct Placement {
  int ad = 0, slot = 0;
  double price = 0, click_prob = 0;
};

/// Reusable buffers so the replay loop does not allocate.
struct AuctionScratch {
  std::vector<int> order;
  std::vector<double> score, quality;
};

/// Run the auction for ads [first, first + count) of `log`. Returns expected KPIs of the request
/// (requests = 1). If `placements` is given it receives the shown ads.
/// Source: GSP per Varian (2007) / Edelman et al. (2007); rank score per Lahaie & McAfee; reserves per
/// Bottou et al. (2013); the exact model is our reconstruction [D].
Kpis run_auction(const AuctionLog& log, int64_t request, const AuctionParams& theta, ClickModel model,
                 AuctionScratch& scratch, std::vector<Placement>* placements = nullptr);

}  // namespace plexus::tune
