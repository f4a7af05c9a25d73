// GIS (Gaussian importance sampling, the baseline of Gorur et al. as described in AMIS §1 [P]) and SGIS
// (simulator-guided IS, Paneri et al. 2024). The loop details are our reconstruction (spec §4, §5 [D]).
#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/tune/tuner.h"

namespace plexus::tune {

namespace {
// Score every candidate against the traffic with target N(c, ts² Σ) and return the index of the best
// (−1 if none passes ESS and constraints).
int best_candidate(const Samples& s, const Problem& p, const std::vector<std::vector<double>>& cands, const Gaussian& g,
                   const TunerOptions& o, const IsOptions& is, std::vector<CandidateScore>& scores) {
  scores.clear();
  int best = -1;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    scores.push_back(score_is(s, p, cands[i], g.cov(), o.target_scale, is));
    if (std::isfinite(scores.back().score) && (best < 0 || scores.back().score > scores[best].score)) best = static_cast<int>(i);
  }
  return best;
}

// One IS iteration around `centre`: draw o.traffic requests from q = N(centre, Σ(frac)), pay for them in
// `replays`, and score the trust-region candidates (candidate 0 is the centre). Shared by GIS and SGIS's
// refinement stage. Returns the candidates; `best` is the winner's index (−1 if none passes).
std::vector<std::vector<double>> is_step(Problem& p, const std::vector<double>& centre, double frac,
                                         const TunerOptions& o, const IsOptions& is, uint64_t seed, int64_t t,
                                         int64_t& replays, std::vector<CandidateScore>& scores, int& best) {
  Gaussian g = box_gaussian(p, centre, frac);
  Samples s = p.traffic(Mixture(g), o.traffic, t);
  replays += o.traffic;
  auto cands = trust_region_candidates(p, g, o.candidates, o.trust_radius, seed, 0, t);
  best = best_candidate(s, p, cands, g, o, is, scores);
  return cands;
}

void set_incumbent(IterationRecord& rec, const std::vector<double>& x, const CandidateScore& sc) {
  rec.best = x;
  rec.estimate = sc.objective.value;
  rec.estimate_lo = sc.objective.lo;
  rec.estimate_hi = sc.objective.hi;
  rec.ess = sc.ess;
  rec.feasible = std::isfinite(sc.score);
}
}  // namespace

/// GIS: q_t = N(μ_t, Σ_t); μ_{t+1} = argmax of the IS estimate over candidates in the trust region
/// {(c − μ_t)ᵀ Σ_t⁻¹ (c − μ_t) ≤ r²}; Σ_{t+1} = shrink² Σ_t (floored at min_sigma).
TuneResult run_gis(Problem& p, const TunerOptions& o, uint64_t seed, const IterationCallback& cb) {
  TuneResult res;
  std::vector<double> mu = p.production();
  double frac = o.sigma;
  const IsOptions is = o.is_options(seed);
  const int64_t budget = o.total_budget();
  int64_t replays = 0;
  IterationRecord inc;
  inc.best = mu;
  std::vector<CandidateScore> scores;
  res.stop_reason = "iterations";
  for (int64_t t = 0; t < o.iterations; ++t) {
    if (replays + o.traffic > budget) {
      res.stop_reason = "budget";
      break;
    }
    int b = -1;
    auto cands = is_step(p, mu, frac, o, is, seed, t, replays, scores, b);
    IterationRecord rec = inc;
    rec.iteration = t + 1;
    rec.replays = replays;
    if (b >= 0) {
      set_incumbent(rec, cands[b], scores[b]);
      mu = cands[b];
      inc = rec;
    } else {
      rec.ess = scores[0].ess;  // nothing feasible: keep the incumbent, report the centre's ESS
    }
    frac = std::max(o.min_sigma, frac * o.shrink);
    finish_record(p, rec, res, cb);
  }
  if (res.history.empty()) throw Error::config("[tuner] budget = {} is below one iteration of traffic = {}", budget, o.traffic);
  return res;
}

/// SGIS: (1) coarse grid over the box, each point simulated on sim_requests requests; (2) IS refinement
/// from the best feasible coarse point with Σ0 = diag(spacing / 2)²; move to the best candidate only if it
/// beats the current centre by more than its CI half-width, then Σ ← γ Σ; stop otherwise; (3) a final
/// simulator check of the recommendation against production.
TuneResult run_sgis(Problem& p, const TunerOptions& o, uint64_t seed, const IterationCallback& cb) {
  TuneResult res;
  const int d = p.dim();
  const auto lo = p.lower(), wid = box_widths(p);
  const IsOptions is = o.is_options(seed);
  const int64_t budget = o.total_budget();
  int64_t replays = 0;
  // (1) Coarse stage: the full grid if it has at most kMaxGrid points, else that many random points.
  constexpr int64_t kMaxGrid = 4096;
  int64_t G = 1;
  for (int i = 0; i < d && G <= kMaxGrid; ++i) G *= o.grid_points;
  std::vector<std::vector<double>> grid;
  Rng grng(seed, "sgis/grid");
  for (int64_t t = 0; t < std::min(G, kMaxGrid); ++t) {
    std::vector<double> x(d);
    int64_t r = t;
    for (int i = 0; i < d; ++i) {
      double u = G <= kMaxGrid ? static_cast<double>(r % o.grid_points) / (o.grid_points - 1) : grng.uniform();
      r /= o.grid_points;
      x[i] = lo[i] + wid[i] * u;
    }
    grid.push_back(x);
  }
  // The simulator is biased (pCTR clicks): judge its constraints relative to its own view of production,
  // floor' = floor × sim(θ0) / production, so a uniform click-model bias cancels.
  ObjectiveSpec sim_spec = p.objective();
  if (!sim_spec.constraints.empty() && replays + o.sim_requests <= budget) {
    Samples s0 = p.simulate(p.production(), o.sim_requests);
    replays += o.sim_requests;
    for (auto& c : sim_spec.constraints)
      if (c.reference > 0) c.floor *= is_ratio(s0, unit_weights(s0), c.kpi.num, c.kpi.den, c.kpi.scale, is).value / c.reference;
  }
  std::vector<std::pair<double, int>> ranked;
  std::vector<CandidateScore> coarse;
  for (std::size_t k = 0; k < grid.size(); ++k) {
    if (replays + o.sim_requests > budget) break;
    Samples s = p.simulate(grid[k], o.sim_requests);
    replays += o.sim_requests;
    coarse.push_back(score_candidate(s, unit_weights(s), sim_spec, is));
    ranked.push_back({coarse.back().score, static_cast<int>(k)});
  }
  if (ranked.empty()) throw Error::config("[tuner] budget = {} cannot pay for one simulator replay of sim_requests = {}", budget, o.sim_requests);
  std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first > b.first; });
  IterationRecord rec;
  rec.iteration = 1;
  rec.replays = replays;
  rec.best = p.production();
  if (std::isfinite(ranked[0].first)) set_incumbent(rec, grid[ranked[0].second], coarse[ranked[0].second]);
  IterationRecord inc = rec;
  finish_record(p, rec, res, cb);
  // (2) IS refinement around the best coarse point. Neighbouring grid cells lie within ±1σ.
  std::vector<double> a0 = inc.best;
  double frac = std::max(o.min_sigma, 0.5 / (o.grid_points - 1));
  std::vector<CandidateScore> scores;
  res.stop_reason = "iterations";
  for (int64_t t = 1; t < o.iterations; ++t) {
    if (replays + o.traffic > budget) {
      res.stop_reason = "budget";
      break;
    }
    int b = -1;
    auto cands = is_step(p, a0, frac, o, is, seed, t, replays, scores, b);
    IterationRecord r = inc;
    r.iteration = t + 1;
    r.replays = replays;
    const CandidateScore& centre = scores[0];  // candidate 0 is a0 itself
    bool moved = false;
    if (b >= 0) {
      double half = 0.5 * (scores[b].objective.hi - scores[b].objective.lo);
      if (!std::isfinite(centre.score) || scores[b].score > centre.score + half) {
        set_incumbent(r, cands[b], scores[b]);
        a0 = cands[b];
        frac = std::max(o.min_sigma, frac * std::sqrt(o.sgis_shrink));
        moved = true;
      } else {
        set_incumbent(r, a0, centre);  // refresh the centre's estimate on this iteration's traffic
      }
      inc = r;
    } else {
      r.ess = centre.ess;
    }
    finish_record(p, r, res, cb);
    if (!moved) {
      res.stop_reason = "converged";
      break;
    }
  }
  // (3) Final simulator check of the recommendation against production (charged like any replay).
  if (replays + 2 * o.sim_requests <= budget) {
    Samples a = p.simulate(res.best, o.sim_requests), b = p.simulate(p.production(), o.sim_requests);
    replays += 2 * o.sim_requests;
    res.verify_simulated = score_candidate(a, unit_weights(a), p.objective(), is).objective.value;
    res.verify_production = score_candidate(b, unit_weights(b), p.objective(), is).objective.value;
    res.replays = replays;
  }
  return res;
}

}  // namespace plexus::tune
