// AMIS for auction tuning (Jia et al., CONSEQUENCES @ RecSys'24, arXiv 2409.13655).
//
// Verified from the paper's abstract/§1 and its TL;DR [P/S]: a Gaussian-mixture proposal whose component
// parameters and mixing rates are adapted every iteration from fresh samples only (no recycling of past
// samples, unlike Cornuet et al. 2012); two policies (Multi-Variance, Multi-Modal) and two updates
// (Score-based Greedy Update "GU", Rank-based Peak Cluster Update "PCU"). Everything below — how
// candidates are placed and scored, the softmax rates, the leader clustering, floors and re-seeding — is
// our reconstruction from those names (docs/tune.md [D]).
//
// Iteration t with q_t(x) = Σ_k π_k N(x; μ_k, Σ_k):
//   0. init = "production" (default): all K components at production θ0 with nested spreads
//      spread^k σ (k = 0..K−1), so most traffic explores near θ0 where the recommendation will be judged
//      while the widest component still reaches other modes; init = "uniform": one component at θ0, the
//      others uniform in the box;
//   1. serve N requests with θ_i ~ q_t, logging log q_t(θ_i) (full-mixture denominator);
//   2. place `candidates` points in each component's trust region and score every candidate by IS with
//      one common kernel N(c, s² Σ̄_t), Σ̄_t = diag(Σ_k π_k Σ_k) (s = target_scale), so all candidates of
//      an iteration estimate the KPI smoothed the same way; reject low-ESS and infeasible ones;
//   3. GU:  μ_k ← best candidate of component k; Σ_k ← rank-weighted covariance of k's top candidates
//           around μ_k (+ Σ_min); π ∝ softmax(best score_k / (τ · spread of scores)), mixed with uniform (ε);
//      PCU: keep the top ρ of all ranked candidates with weights log(M+1) − log(rank); leader-cluster them
//           (a new peak when no peak lies within `cluster_radius` in Σ0's metric); μ_k ← peak,
//           Σ_k ← within-cluster covariance (+ Σ_min), π_k ∝ summed rank weight;
//      Multi-Variance: every μ_k is the global best and Σ_k = spread^{2(k − (K−1)/2)} Σ_base; the updates
//           move the shared mean, Σ_base and π (which scale is producing the best points);
//   4. π_k ≥ π_min; Multi-Modal re-seeds a component uniformly in the box after `reseed_after` starved rounds.
// The recommendation goes through the guarded final step (guard.h).
#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/tune/tuner_registry.h"

namespace plexus::tune {

namespace {
using Mat = std::vector<double>;  // row-major d×d

struct Component {
  std::vector<double> mean;
  Mat cov;
  double pi = 0;
  int starve = 0;
};

Mat diag_cov(const std::vector<double>& w, double frac) {
  const std::size_t d = w.size();
  Mat m(d * d, 0.0);
  for (std::size_t i = 0; i < d; ++i) m[i * d + i] = (frac * w[i]) * (frac * w[i]);
  return m;
}

// cov ← cov scaled so that no variance exceeds cap's diagonal (D^{1/2} cov D^{1/2} keeps it PD).
void cap_cov(Mat& cov, const Mat& cap, int d) {
  std::vector<double> f(d);
  for (int i = 0; i < d; ++i) f[i] = std::sqrt(std::min(1.0, cap[i * d + i] / cov[i * d + i]));
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) cov[i * d + j] *= f[i] * f[j];
}

// Weighted covariance of points around `centre`, plus the floor Σ_min (so it is positive definite), capped.
Mat weighted_cov(const std::vector<const std::vector<double>*>& pts, const std::vector<double>& wts,
                 const std::vector<double>& centre, const Mat& floor, const Mat& cap, int d) {
  Mat c(d * d, 0.0);
  double sw = 0;
  for (std::size_t k = 0; k < pts.size(); ++k) {
    sw += wts[k];
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) c[i * d + j] += wts[k] * ((*pts[k])[i] - centre[i]) * ((*pts[k])[j] - centre[j]);
  }
  for (int i = 0; i < d * d; ++i) c[i] = (sw > 0 ? c[i] / sw : 0.0) + floor[i];
  cap_cov(c, cap, d);
  return c;
}

Mat scaled(const Mat& m, double s) {
  Mat r = m;
  for (double& v : r) v *= s;
  return r;
}

/// TOML section [amis].
struct AmisOptions {
  int64_t components = 3;
  std::string variant = "multi_modal";
  std::string update = "pcu";
  std::string init = "production";
  std::string kernel = "common";
  double pi_min = 0.05;
  double epsilon = 0.3;
  double temperature = 1.0;
  double top_frac = 0.2;
  double cluster_radius = 3.0;
  double spread = 2.0;
  int64_t reseed_after = 2;
  /// Declarations; pi_min × components < 1 relates two keys and is checked in parse.
  static const OptionSchema<AmisOptions>& schema() {
    using A = AmisOptions;
    static const auto s =
        OptionSchema<A>("amis")
            .key("components", &A::components, "mixture components K", "[1, 16]")
            .key("variant", &A::variant, "Multi-Modal (components move) or Multi-Variance (nested scales at one centre)",
                 one_of({"multi_modal", "multi_variance"}))
            .key("update", &A::update, "score-based greedy (gu) or rank-based peak-cluster (pcu) update", one_of({"gu", "pcu"}))
            .key("init", &A::init, "components start at θ0 with spreads σ·spread^k (production) or uniform in the box (multi_modal only)",
                 one_of({"production", "uniform"}))
            .key("kernel", &A::kernel, "one smoothing kernel per iteration (common) or each candidate its component's Σ_k",
                 one_of({"common", "component"}))
            .key("pi_min", &A::pi_min, "floor on mixing rates (pi_min × components < 1)", "[0, 1)")
            .key("epsilon", &A::epsilon, "mix the updated rates with uniform at this rate", "[0, 1]")
            .key("temperature", &A::temperature, "GU: softmax temperature in units of the score spread", "> 0")
            .key("top_frac", &A::top_frac, "PCU: fraction of ranked candidates kept for clustering", "(0, 1]")
            .key("cluster_radius", &A::cluster_radius, "PCU: peak-cluster radius (Mahalanobis under Σ0)", "> 0")
            .key("spread", &A::spread, "nested scales spread^(k − (K−1)/2)", ">= 1")
            .key("reseed_after", &A::reseed_after, "multi_modal: re-seed a component starved for this many rounds", ">= 1");
    return s;
  }
  static AmisOptions parse(ConfigTable& t) {
    AmisOptions o = schema().parse(t);
    t.require(o.pi_min * o.components < 1, "pi_min", "must satisfy pi_min × components < 1");
    return o;
  }
};

void normalize_rates(std::vector<Component>& comps, double pi_min) {
  double s = 0;
  for (auto& c : comps) s += c.pi;
  for (auto& c : comps) c.pi = s > 0 ? c.pi / s : 1.0 / comps.size();
  s = 0;
  for (auto& c : comps) s += (c.pi = std::max(c.pi, pi_min));
  for (auto& c : comps) c.pi /= s;
}
/// One AMIS run's fixed quantities and the steps of an iteration, each a small function: the initial
/// mixture, candidate scoring, the two updates (GU, PCU) for each policy (Multi-Modal, Multi-Variance), and
/// the rate floor / re-seeding that ends every update. Amis::run composes them.
class AmisSteps {
 public:
  /// The mixture between iterations. Multi-Variance keeps Σ_base; its components are nested scales of it.
  struct State {
    std::vector<Component> comps;
    Mat base_cov;
  };
  /// An iteration's candidates and the indices of the feasible ones, best first.
  struct Ranked {
    std::vector<Candidate> cands;
    std::vector<int> order;
  };

  AmisSteps(const AmisOptions& o, const TunerOptions& opt, const Problem& p, uint64_t seed)
      : o_(o), seed_(seed), d_(p.dim()), K_(static_cast<int>(o.components)), mv_(o.variant == "multi_variance"),
        wid_(box_widths(p)), lo_(p.lower()), production_(p.production()), cov0_(diag_cov(wid_, opt.sigma)),
        cov_min_(diag_cov(wid_, opt.min_sigma)), cov_max_(diag_cov(wid_, std::min(1.0, 2 * opt.sigma))),
        metric_(std::vector<double>(d_, 0.0), cov0_) {}

  const Mat& cov0() const { return cov0_; }

  /// Step 0: K nested scales around production (Multi-Variance always; Multi-Modal with init =
  /// "production", whose components then separate as peaks are found), or one component at production and
  /// the others uniform over the box (init = "uniform").
  State initial() const {
    State st{std::vector<Component>(K_), cov0_};
    for (int k = 0; k < K_; ++k) {
      Component& c = st.comps[k];
      c.pi = 1.0 / K_;
      if (mv_) {
        c.mean = production_;
        c.cov = scaled(st.base_cov, scale_of(k) * scale_of(k));
      } else if (o_.init == "production") {
        // Nested spreads σ·spread^k, k = 0..K−1: the narrow ones keep traffic near production, the widest
        // reaches across the box so other modes can still be found.
        c.mean = production_;
        c.cov = scaled(cov0_, std::pow(o_.spread, 2.0 * k));
      } else {
        c.mean = k == 0 ? production_ : uniform_point("amis/init", k, 0);
        c.cov = cov0_;
      }
    }
    return st;
  }

  /// Step 2: candidates in every component's trust region, IS-scored on the iteration's samples.
  Ranked rank(const Problem& p, const Samples& s, const State& st, const std::vector<Gaussian>& gs,
              const TunerOptions& opt, const IsOptions& is, int64_t t, TuneResult& res) const {
    // One kernel for every candidate of the iteration: s² diag(Σ_k π_k Σ_k).
    Mat kernel(d_ * d_, 0.0);
    for (const auto& c : st.comps)
      for (int i = 0; i < d_; ++i) kernel[i * d_ + i] += c.pi * c.cov[i * d_ + i];
    Ranked r;
    std::vector<std::vector<double>> points;
    for (int k = 0; k < K_; ++k)
      for (auto& x : trust_region_candidates(p, gs[k], opt.candidates, opt.trust_radius, seed_, static_cast<uint64_t>(k), t)) {
        r.cands.push_back({x, k, {}});
        points.push_back(x);
      }
    std::vector<CandidateScore> scores;
    if (o_.kernel == "common") {
      r.order = rank_candidates(s, p.objective(), points, kernel, opt.target_scale, is, scores);
    } else {  // each candidate smoothed by its own component's Σ_k: estimates of differently smoothed KPIs
      for (std::size_t i = 0; i < r.cands.size(); ++i) {
        scores.push_back(score_is(s, p.objective(), points[i], st.comps[r.cands[i].component].cov, opt.target_scale, is));
        if (std::isfinite(scores.back().score)) r.order.push_back(static_cast<int>(i));
      }
      std::stable_sort(r.order.begin(), r.order.end(), [&](int a, int b) { return scores[a].score > scores[b].score; });
    }
    for (std::size_t i = 0; i < r.cands.size(); ++i) r.cands[i].score = scores[i];
    archive_ranked(res, points, r.order);
    return r;
  }

  /// Step 3, GU: π ∝ softmax(best score of each component / τ), mixed with uniform at rate ε; then
  /// Multi-Variance rescales Σ_base, Multi-Modal moves each component to its best candidate.
  void greedy(State& st, const Ranked& r) const {
    std::vector<int> best_k(K_, -1);
    for (int i : r.order)
      if (best_k[r.cands[i].component] < 0) best_k[r.cands[i].component] = i;
    std::vector<double> sc;
    for (int k = 0; k < K_; ++k)
      if (best_k[k] >= 0) sc.push_back(r.cands[best_k[k]].score.score);
    double mean = 0, var = 0;
    for (double v : sc) mean += v / sc.size();
    for (double v : sc) var += (v - mean) * (v - mean) / sc.size();
    const double tau = o_.temperature * std::max(std::sqrt(var), 1e-9 * (1 + std::abs(mean)));
    const double top = r.cands[r.order[0]].score.score;
    for (int k = 0; k < K_; ++k) st.comps[k].pi = best_k[k] >= 0 ? std::exp((r.cands[best_k[k]].score.score - top) / tau) : 0.0;
    mix_with_uniform(st.comps);
    if (mv_) greedy_radius(st);
    else greedy_moves(st, r, best_k);
  }

  /// Step 3, PCU: leader-cluster the top ranked candidates (rank weights log(M+1) − log(rank)); then
  /// Multi-Variance fits Σ_base to the heaviest cluster, Multi-Modal makes each cluster a component.
  void peak_cluster(State& st, const Ranked& r, int64_t t) const {
    const std::size_t n = r.order.size();
    const std::size_t M = std::min(n, std::max<std::size_t>(2 * K_, static_cast<std::size_t>(std::ceil(o_.top_frac * n))));
    std::vector<Cluster> clusters;
    std::vector<double> comp_weight(K_, 0.0);
    for (std::size_t rank = 0; rank < M; ++rank) {
      const int i = r.order[rank];
      const double w = std::log(M + 1.0) - std::log(rank + 1.0);
      comp_weight[r.cands[i].component] += w;
      int join = -1;
      double bestd = radius2();
      for (std::size_t c = 0; c < clusters.size(); ++c) {
        double dd = dist2(r.cands[i].x, r.cands[clusters[c].peak].x);
        if (dd <= bestd) {
          bestd = dd;
          join = static_cast<int>(c);
        }
      }
      if (join < 0 && static_cast<int>(clusters.size()) < K_) {
        clusters.push_back({i, {}, {}, 0});
        join = static_cast<int>(clusters.size()) - 1;
      }
      if (join < 0) continue;
      clusters[join].pts.push_back(&r.cands[i].x);
      clusters[join].w.push_back(w);
      clusters[join].weight += w;
    }
    std::stable_sort(clusters.begin(), clusters.end(), [](auto& a, auto& b) { return a.weight > b.weight; });
    if (mv_) cluster_radius_fit(st, r, clusters, comp_weight);
    else cluster_components(st, r, clusters, t);
  }

  /// Step 4: Multi-Variance re-centres every scale on the iteration's best point; rates get their floor
  /// π_min; Multi-Modal re-seeds components starved for `reseed_after` iterations uniformly in the box.
  void settle(State& st, const Candidate& top, int64_t t) const {
    if (mv_) {
      for (int k = 0; k < K_; ++k) {
        st.comps[k].mean = top.x;
        st.comps[k].cov = scaled(st.base_cov, scale_of(k) * scale_of(k));
      }
    }
    normalize_rates(st.comps, o_.pi_min);
    if (mv_) return;
    for (int k = 0; k < K_; ++k) {
      Component& c = st.comps[k];
      c.starve = c.pi <= o_.pi_min * 1.01 ? c.starve + 1 : 0;
      if (c.starve >= o_.reseed_after && K_ > 1) {
        c.mean = uniform_point("amis/reseed", static_cast<uint64_t>(k), static_cast<uint64_t>(t));
        c.cov = cov0_;
        c.starve = 0;
        c.pi = 1.0 / K_;  // a fresh component gets a fair share of traffic to be judged on
      }
    }
    normalize_rates(st.comps, o_.pi_min);
  }

 private:
  struct Cluster {
    int peak;
    std::vector<const std::vector<double>*> pts;
    std::vector<double> w;
    double weight = 0;
  };

  double scale_of(int k) const { return std::pow(o_.spread, k - (K_ - 1) / 2.0); }
  double radius2() const { return o_.cluster_radius * o_.cluster_radius; }
  // Squared Mahalanobis distance in Σ0's metric (the clustering's metric).
  double dist2(const std::vector<double>& a, const std::vector<double>& b) const {
    std::vector<double> diff(d_);
    for (int i = 0; i < d_; ++i) diff[i] = a[i] - b[i];
    return metric_.mahalanobis2(diff.data());
  }
  std::vector<double> uniform_point(const char* purpose, uint64_t k, uint64_t t) const {
    Rng rng(seed_, purpose, k, t);
    std::vector<double> x(d_);
    for (int i = 0; i < d_; ++i) x[i] = lo_[i] + wid_[i] * rng.uniform();
    return x;
  }
  // π ← (1 − ε) π / Σπ + ε / K.
  void mix_with_uniform(std::vector<Component>& comps) const {
    double z = 0;
    for (auto& c : comps) z += c.pi;
    for (auto& c : comps) c.pi = (1 - o_.epsilon) * c.pi / z + o_.epsilon / K_;
  }

  // GU, Multi-Variance. Adaptive radius: Σ_base ← (Σ_k π_k s_k²) Σ_base, i.e. move towards the scale that wins.
  void greedy_radius(State& st) const {
    double r = 0;
    for (int k = 0; k < K_; ++k) r += st.comps[k].pi * scale_of(k) * scale_of(k);
    st.base_cov = scaled(st.base_cov, r);
    for (int i = 0; i < d_; ++i) st.base_cov[i * d_ + i] = std::max(st.base_cov[i * d_ + i], cov_min_[i * d_ + i]);
    cap_cov(st.base_cov, cov_max_, d_);
  }

  // GU, Multi-Modal: μ_k ← best candidate of k; Σ_k ← rank-weighted covariance of k's top candidates.
  void greedy_moves(State& st, const Ranked& r, const std::vector<int>& best_k) const {
    for (int k = 0; k < K_; ++k) {
      if (best_k[k] < 0) continue;
      st.comps[k].mean = r.cands[best_k[k]].x;
      std::vector<const std::vector<double>*> pts;
      std::vector<double> w;
      std::vector<int> mine;
      for (int i : r.order)
        if (r.cands[i].component == k) mine.push_back(i);
      const std::size_t m = std::max<std::size_t>(2, static_cast<std::size_t>(std::ceil(o_.top_frac * mine.size())));
      for (std::size_t rank = 0; rank < std::min(m, mine.size()); ++rank) {
        pts.push_back(&r.cands[mine[rank]].x);
        w.push_back(std::log(m + 1.0) - std::log(rank + 1.0));
      }
      if (pts.size() >= 2) st.comps[k].cov = weighted_cov(pts, w, st.comps[k].mean, cov_min_, cov_max_, d_);
    }
  }

  // PCU, Multi-Variance: Σ_base ← the heaviest cluster's covariance; π_k ∝ the rank weight of k's candidates.
  void cluster_radius_fit(State& st, const Ranked& r, const std::vector<Cluster>& clusters,
                          const std::vector<double>& comp_weight) const {
    const Cluster& c = clusters[0];
    if (c.pts.size() >= 2) st.base_cov = weighted_cov(c.pts, c.w, r.cands[c.peak].x, cov_min_, cov_max_, d_);
    double total = 0;
    for (double v : comp_weight) total += v;
    for (int k = 0; k < K_; ++k) st.comps[k].pi = (1 - o_.epsilon) * comp_weight[k] / total + o_.epsilon / K_;
  }

  // PCU, Multi-Modal: one component per cluster (μ = peak, Σ = within-cluster covariance, π ∝ weight);
  // components no cluster claimed keep their place (floor rate) so the mixture keeps K; fresh ones fill up.
  void cluster_components(State& st, const Ranked& r, const std::vector<Cluster>& clusters, int64_t t) const {
    std::vector<Component> next;
    for (const auto& c : clusters) {
      Component nc;
      nc.mean = r.cands[c.peak].x;
      nc.cov = c.pts.size() >= 2 ? weighted_cov(c.pts, c.w, nc.mean, cov_min_, cov_max_, d_)
                                 : st.comps[r.cands[c.peak].component].cov;
      nc.pi = c.weight;
      next.push_back(nc);
    }
    for (const auto& old : st.comps) {
      if (static_cast<int>(next.size()) >= K_) break;
      bool claimed = false;
      for (const auto& c : clusters)
        if (dist2(old.mean, r.cands[c.peak].x) <= radius2()) claimed = true;
      if (claimed) continue;
      Component keep = old;
      keep.pi = 0;
      next.push_back(keep);
    }
    while (static_cast<int>(next.size()) < K_) {
      Component fresh;
      fresh.mean = uniform_point("amis/fill", next.size(), static_cast<uint64_t>(t));
      fresh.cov = cov0_;
      next.push_back(fresh);
    }
    mix_with_uniform(next);
    st.comps = next;
  }

  const AmisOptions& o_;
  uint64_t seed_;
  int d_, K_;
  bool mv_;
  std::vector<double> wid_, lo_, production_;
  Mat cov0_, cov_min_, cov_max_;
  Gaussian metric_;
};

class Amis : public Tuner {
 public:
  explicit Amis(AmisOptions o) : a_(std::move(o)) {}
  TuneResult run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const override;

 private:
  AmisOptions a_;
};

TuneResult Amis::run(Problem& p, const TunerOptions& opt, const TuneContext& ctx) const {
  TuneResult res;
  const AmisSteps steps(a_, opt, p, ctx.seed);
  const IsOptions is = opt.is_options(ctx.seed);
  const int64_t budget = opt.total_budget();
  res.kernel_ref = steps.cov0();
  AmisSteps::State st = steps.initial();
  IterationRecord inc;
  inc.best = p.production();
  int64_t replays = 0;
  res.stop_reason = "iterations";
  for (int64_t t = 0; t < opt.iterations; ++t) {
    if (replays + opt.traffic > budget) {
      res.stop_reason = "budget";
      break;
    }
    // Step 1: serve the iteration's traffic from q_t (full-mixture denominator).
    std::vector<double> pis;
    std::vector<Gaussian> gs;
    for (auto& c : st.comps) {
      pis.push_back(c.pi);
      gs.emplace_back(c.mean, c.cov);
    }
    Samples s = live_iteration(p, Mixture(pis, gs), opt, t, ctx.holdout, res);
    replays += opt.traffic;
    const AmisSteps::Ranked r = steps.rank(p, s, st, gs, opt, is, t, res);
    if (!r.order.empty()) {
      if (a_.update == "pcu") steps.peak_cluster(st, r, t);
      else steps.greedy(st, r);
      steps.settle(st, r.cands[r.order[0]], t);
    }
    IterationRecord rec = inc;
    rec.iteration = t + 1;
    rec.replays = replays;
    if (!r.order.empty()) {
      const Candidate& top = r.cands[r.order[0]];
      rec.best = top.x;
      rec.estimate = top.score.objective.value;
      rec.estimate_lo = top.score.objective.lo;
      rec.estimate_hi = top.score.objective.hi;
      rec.ess = top.score.ess;
      rec.feasible = true;
      inc = rec;
    } else {
      rec.ess = r.cands.empty() ? 0 : r.cands[0].score.ess;
    }
    finish_record(p, rec, res, ctx.cb);
  }
  if (res.history.empty()) throw Error::config("[tuner] budget = {} is below one iteration of traffic = {}", budget, opt.traffic);
  return res;
}

const TunerRegistrar kAmis({
    .name = "amis",
    .summary = "Adaptive mixture IS: a Gaussian mixture adapted each iteration, Multi-Modal/Multi-Variance x GU/PCU (Jia et al.)",
    .importance_sampling = true,
    .uses_simulator = false,
    .variants = {{"amis", ""},
                 {"amis_gu", "update = \"gu\""},
                 {"amis_mv", "variant = \"multi_variance\""},
                 {"amis_mv_gu", "variant = \"multi_variance\"\nupdate = \"gu\""},
                 {"amis_uniform", "init = \"uniform\""}},
    .make = [](ConfigTable& t) -> std::shared_ptr<const Tuner> { return std::make_shared<Amis>(AmisOptions::parse(t)); },
    .doc = [] { return section_doc("tune", AmisOptions::schema()); },
});

}  // namespace

}  // namespace plexus::tune
