#include "plexus/tune/explore_estimate.h"

#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <cstdio>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/tune/auction_problem.h"
#include "plexus/tune/gsp_auction.h"

namespace plexus::tune {

ExplorationLog explore(std::shared_ptr<const AuctionLog> log, const ExploreOptions& o) {
  if (o.requests < 1) throw Error::config("--requests = {} must be >= 1", o.requests);
  if (o.threads < 1 || o.threads > 256) throw Error::config("--threads = {} must be in [1, 256]", o.threads);
  AuctionProblemOptions a;
  if (!o.theta0.empty()) a.production = o.theta0;
  a.params.clear();
  std::vector<double> sd;
  for (auto& [n, v] : parse_assignments(o.sigma, "--sigma")) {
    if (!(v > 0)) throw Error::config("--sigma {} = {} must be > 0 (a zero sd makes Σ singular)", n, v);
    a.params.push_back(n);
    sd.push_back(v);
  }
  if (sd.empty()) throw Error::config("--sigma lists no dimension");
  // Exploration uses the hard bounds as its box (θ_i outside it are clamped when served).
  for (auto& n : a.params) {
    int k = AuctionParams::index(n);
    if (k < 0) throw Error::config("--sigma: unknown parameter '{}'", n);
    a.lower.push_back(AuctionParams::bounds()[k].first);
    a.upper.push_back(AuctionParams::bounds()[k].second);
  }
  a.sampled_clicks = !o.expected_clicks;
  a.threads = o.threads;
  a.oracle = false;
  ObjectiveOptions obj;
  obj.constrained = false;
  AuctionProblem p(std::move(log), a, obj, static_cast<uint64_t>(o.seed));
  ExplorationLog e;
  e.params = a.params;
  e.theta0 = p.production();
  e.sd = sd;
  e.samples = p.traffic(Mixture(Gaussian::diagonal(e.theta0, sd)), o.requests, 0);
  return e;
}

nlohmann::ordered_json estimate(const ExplorationLog& e, const EstimateOptions& o) {
  if (!(o.target_scale > 0 && o.target_scale < std::sqrt(2.0))) throw Error::config("--target-scale = {} must be in (0, √2)", o.target_scale);
  if (o.mode != "plain" && o.mode != "self_normalized") throw Error::config("--mode = '{}' must be plain or self_normalized", o.mode);
  if (o.ci != "delta" && o.ci != "bootstrap") throw Error::config("--ci = '{}' must be delta or bootstrap", o.ci);
  if (o.clip < 0) throw Error::config("--clip = {} must be >= 0", o.clip);
  if (o.bootstrap < 10) throw Error::config("--bootstrap = {} must be >= 10", o.bootstrap);
  std::vector<double> c0 = e.theta0, sd = e.sd;
  for (auto& [n, v] : parse_assignments(o.theta, "--theta")) {
    auto it = std::find(e.params.begin(), e.params.end(), n);
    if (it == e.params.end()) throw Error::config("--theta: '{}' was not randomized in this log (randomized: {})", n, fmt::join(e.params, ", "));
    int k = AuctionParams::index(n);
    if (k >= 0 && (v < AuctionParams::bounds()[k].first || v > AuctionParams::bounds()[k].second))
      throw Error::config("theta {} = {} is outside its bounds [{}, {}]", n, v, AuctionParams::bounds()[k].first, AuctionParams::bounds()[k].second);
    c0[it - e.params.begin()] = v;
  }
  for (double& s : sd) s *= o.target_scale;
  IsOptions is;
  is.mode = o.mode == "plain" ? IsMode::Plain : IsMode::SelfNormalized;
  is.clip = o.clip;
  is.ci = o.ci == "delta" ? CiMethod::Delta : CiMethod::Bootstrap;
  is.bootstrap = o.bootstrap;
  const Samples& s = e.samples;
  Weights w = importance_weights(s, Gaussian::diagonal(c0, sd), o.clip);
  // With no weight on any logged request the estimators divide 0 by 0: the value is undefined, not 0.
  const bool undefined = !(w.ess > 0);
  const std::string reason =
      "effective sample size is 0: no exploration request has weight under the candidate (it lies too far "
      "from theta0 for this log; move it closer or explore with a wider --sigma)";
  auto est = [&](const Estimate& x) {
    if (undefined) {
      return nlohmann::ordered_json{{"value", nullptr}, {"se", nullptr}, {"lo", nullptr}, {"hi", nullptr},
                                    {"undefined", reason}};
    }
    return nlohmann::ordered_json{{"value", x.value}, {"se", x.se}, {"lo", x.lo}, {"hi", x.hi}};
  };
  nlohmann::ordered_json j, cj;
  for (std::size_t i = 0; i < c0.size(); ++i) cj[e.params[i]] = c0[i];
  j["candidate"] = cj;
  j["requests"] = s.size();
  j["ess"] = w.ess;
  j["ess_fraction"] = w.ess / s.size();
  j["clipped"] = w.clipped;
  // Below ~30 effective requests the delta-method interval rests on a handful of weights and under-covers
  // (the same floor the tuners' objective.ess_min uses): the numbers are printed, flagged as unreliable.
  constexpr double kReliableEss = 30;
  if (!undefined && w.ess < kReliableEss) {
    j["warning"] = fmt::format("effective sample size {:.1f} < {}: the estimates and intervals rest on a few requests and "
                               "are unreliable (move the candidate closer to theta0 or explore with a wider --sigma)",
                               w.ess, kReliableEss);
    std::fprintf(stderr, "warning: %s\n", j["warning"].get<std::string>().c_str());
  }
  double q = 0;
  for (std::size_t i = 0; i < c0.size(); ++i) q += (c0[i] - e.theta0[i]) * (c0[i] - e.theta0[i]) / (e.sd[i] * e.sd[i]);
  j["mahalanobis_shift"] = std::sqrt(q);
  for (const char* k : {"revenue", "clicks", "impressions", "quality"}) j[std::string(k) + "_per_request"] = est(is_mean(s, w, s.kpi_index(k), is));
  j["rpm"] = est(is_ratio(s, w, s.kpi_index("revenue"), s.kpi_index("requests"), 1000.0, is));
  j["ctr"] = est(is_ratio(s, w, s.kpi_index("clicks"), s.kpi_index("impressions"), 1.0, is));
  return j;
}

}  // namespace plexus::tune
