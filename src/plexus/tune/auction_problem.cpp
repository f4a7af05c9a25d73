#include "plexus/tune/auction_problem.h"

#include <algorithm>
#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/tune/replay.h"

namespace plexus::tune {

namespace {
// KPI columns of auction samples.
enum Col { kRequests = 0, kRevenue, kClicks, kImpressions, kQuality };
const std::vector<std::string> kCols = {"requests", "revenue", "clicks", "impressions", "quality"};
}  // namespace

const OptionSchema<AuctionProblemOptions>& AuctionProblemOptions::schema() {
  using A = AuctionProblemOptions;
  static const auto s =
      OptionSchema<A>("auction")
          .key("params", &A::params, "tuned dimensions of θ (1..5 of the choices)",
               one_of({"alpha", "beta", "reserve", "mainline_reserve", "quality_threshold"}))
          .key("production", &A::production, "θ0, the production setting (unlisted dimensions keep their defaults)")
          .key("lower", &A::lower, "tuning box lower bound per tuned dimension; empty = each parameter's default")
          .key("upper", &A::upper, "tuning box upper bound per tuned dimension; empty = each parameter's default")
          .key("sampled_clicks", &A::sampled_clicks, "live traffic draws Bernoulli clicks (else expected clicks)")
          .key("oracle_grid", &A::oracle_grid, "grid points per dimension for the exact optimum (d ≤ 3)", "[3, 201]")
          .key("oracle", &A::oracle, "compute the exact optimum (grid) for regret; off for pure logging");
  return s;
}

AuctionProblemOptions AuctionProblemOptions::parse(ConfigTable& t) {
  AuctionProblemOptions o = schema().parse(t);
  t.require(!o.params.empty() && o.params.size() <= 5, "params", "list 1..5 of alpha, beta, reserve, mainline_reserve, quality_threshold");
  t.require(o.lower.empty() || o.lower.size() == o.params.size(), "lower", "needs one value per tuned param");
  t.require(o.upper.empty() || o.upper.size() == o.params.size(), "upper", "needs one value per tuned param");
  return o;
}

std::pair<double, double> default_tuning_range(int i) {
  static const std::pair<double, double> r[] = {{0.0, 2.0}, {0.0, 2.0}, {0.0, 1.0}, {0.0, 0.1}, {0.0, 0.9}};
  PLEXUS_CHECK(i >= 0 && i < AuctionParams::kDims, "param {}", i);
  return r[i];
}

AuctionProblem::AuctionProblem(std::shared_ptr<const AuctionLog> log, const AuctionProblemOptions& opt,
                               const ObjectiveOptions& obj, uint64_t run_seed)
    : log_(std::move(log)), opt_(opt), obj_(obj), run_seed_(run_seed) {
  base_ = AuctionParams::parse(opt.production, "[auction] production");
  for (std::size_t i = 0; i < opt.params.size(); ++i) {
    int k = AuctionParams::index(opt.params[i]);
    if (k < 0) throw Error::config("[auction] params: unknown parameter '{}' (known: alpha, beta, reserve, mainline_reserve, quality_threshold)", opt.params[i]);
    if (std::find(idx_.begin(), idx_.end(), k) != idx_.end()) throw Error::config("[auction] params lists '{}' twice", opt.params[i]);
    idx_.push_back(k);
    auto [dlo, dhi] = default_tuning_range(k);
    double lo = opt.lower.empty() ? dlo : opt.lower[i], hi = opt.upper.empty() ? dhi : opt.upper[i];
    auto [blo, bhi] = AuctionParams::bounds()[k];
    if (!(lo >= blo && hi <= bhi && lo < hi))
      throw Error::config("[auction] tuning box of {} = [{}, {}] must satisfy {} <= lower < upper <= {}", opt.params[i], lo, hi, blo, bhi);
    double x0 = base_.get(k);
    if (x0 < lo || x0 > hi)
      throw Error::config("[auction] production {} = {} lies outside its tuning box [{}, {}]", opt.params[i], x0, lo, hi);
    lo_.push_back(lo);
    hi_.push_back(hi);
    x0_.push_back(x0);
  }
  production_kpis_ = oracle_kpis(x0_);
  if (production_kpis_.clicks <= 0 || production_kpis_.impressions <= 0)
    throw Error::infeasible("production θ0 ({}) shows no ads on this log; lower its reserve or threshold", opt.production);
  // Objective and constraints as ratios of per-request sums.
  spec_.name = obj.metric;
  if (obj.metric == "rpm") spec_.objective = {kRevenue, kRequests, 1000.0};
  else if (obj.metric == "revenue") spec_.objective = {kRevenue, kRequests, 1.0};
  else if (obj.metric == "clicks") spec_.objective = {kClicks, kRequests, 1.0};
  else throw Error::config("[objective] metric = '{}' does not apply to the auction problem (use rpm, revenue or clicks)", obj.metric);
  const double n = production_kpis_.requests;
  if (obj.constrained) {
    spec_.constraints.push_back({"clicks", {kClicks, kRequests, 1.0}, (1 - obj.max_click_drop) * production_kpis_.clicks / n,
                                 production_kpis_.clicks / n});
    spec_.constraints.push_back({"quality", {kQuality, kRequests, 1.0}, (1 - obj.max_quality_drop) * production_kpis_.quality / n,
                                 production_kpis_.quality / n});
  }
  spec_.judge_lower_bound = obj.judge == "lower_bound";
  spec_.score_lower_bound = obj.score == "lower_bound";
  spec_.ess_min = obj.ess_min;
  spec_.ess_frac = obj.ess_frac;
  // Exact optimum on a grid over the tuning box (the oracle is piecewise smooth in θ).
  const int d = dim();
  if (d > 3 || !opt.oracle) {
    // No exact optimum for d > 3 (grid too large) or when switched off: regret is then measured
    // against production.
    optimum_x_ = x0_;
    optimum_value_ = objective_of(production_kpis_);
  } else {
    const int64_t g = opt.oracle_grid;
    int64_t total = 1;
    for (int i = 0; i < d; ++i) total *= g;
    optimum_value_ = -INFINITY;
    std::vector<double> x(d);
    for (int64_t t = 0; t < total; ++t) {
      int64_t r = t;
      for (int i = 0; i < d; ++i) {
        x[i] = lo_[i] + (hi_[i] - lo_[i]) * static_cast<double>(r % g) / (g - 1);
        r /= g;
      }
      double v = true_value(x);
      if (v > optimum_value_) {
        optimum_value_ = v;
        optimum_x_ = x;
      }
    }
  }
}

AuctionParams AuctionProblem::params_of(const double* x) const {
  AuctionParams p = base_;
  for (std::size_t i = 0; i < idx_.size(); ++i) p.set(idx_[i], x[i]);
  return p.clamped();
}

Kpis AuctionProblem::oracle_kpis(const std::vector<double>& x) const {
  ReplayOptions r;
  r.threads = opt_.threads;
  r.click_model = ClickModel::True;
  return replay(*log_, params_of(x.data()), r);
}

double AuctionProblem::objective_of(const Kpis& k) const {
  const auto& o = spec_.objective;
  double num = o.num == kRevenue ? k.revenue : k.clicks;
  return o.scale * num / k.requests;
}

bool AuctionProblem::feasible(const Kpis& k) const {
  if (!obj_.constrained) return true;
  return k.clicks >= (1 - obj_.max_click_drop) * production_kpis_.clicks * (1 - 1e-12) &&
         k.quality >= (1 - obj_.max_quality_drop) * production_kpis_.quality * (1 - 1e-12);
}

double AuctionProblem::true_value(const std::vector<double>& x) {
  Kpis k = oracle_kpis(x);
  return feasible(k) ? objective_of(k) : objective_of(production_kpis_);
}

bool AuctionProblem::in_global_mode(const std::vector<double>& x) {
  // "Found" = within 1% of the optimum's objective (relative to the gain over production).
  double v = true_value(x), base = objective_of(production_kpis_);
  return v >= optimum_value_ - 0.01 * std::max(std::abs(optimum_value_ - base), 1e-9 * std::abs(optimum_value_)) - 1e-12;
}

template <class ThetaFn>
Samples AuctionProblem::serve(int64_t n, const char* purpose, uint64_t iteration, ThetaFn theta_of, bool simulator) {
  Samples s;
  s.dim = dim();
  s.kpi_names = kCols;
  s.theta.resize(n * s.dim);
  s.log_q.assign(n, 0.0);
  s.kpi.resize(n * kCols.size());
  const int64_t R = log_->requests();
  parallel_chunks(n, 1024, opt_.threads, [&](int64_t, int64_t b, int64_t e) {
    AuctionScratch scratch;
    std::vector<Placement> placed;
    for (int64_t i = b; i < e; ++i) {
      Rng rng(run_seed_, purpose, static_cast<uint64_t>(i), iteration);
      // The simulator replays a fixed subsample (the first n requests); live traffic draws requests.
      int64_t r = simulator ? i % R : static_cast<int64_t>(rng.below(static_cast<uint64_t>(R)));
      double* th = s.theta.data() + i * s.dim;
      s.log_q[i] = theta_of(rng, th);
      AuctionParams p = params_of(th);
      Kpis k = run_auction(*log_, r, p, simulator ? ClickModel::Predicted : ClickModel::True, scratch, &placed);
      if (!simulator && opt_.sampled_clicks) {
        k.clicks = k.revenue = 0;
        for (const auto& pl : placed) {
          if (rng.uniform() < pl.click_prob) {
            k.clicks += 1;
            k.revenue += pl.price;
          }
        }
      }
      double* out = s.kpi.data() + i * kCols.size();
      out[kRequests] = 1;
      out[kRevenue] = k.revenue;
      out[kClicks] = k.clicks;
      out[kImpressions] = k.impressions;
      out[kQuality] = k.quality;
    }
  });
  return s;
}

Samples AuctionProblem::traffic(const Mixture& q, int64_t n, int64_t iteration) {
  return serve(n, "auction/traffic", static_cast<uint64_t>(iteration), [&](Rng& rng, double* th) {
    q.sample(rng, th);
    return q.log_pdf(th);
  }, false);
}

Samples AuctionProblem::evaluate(const std::vector<double>& x, int64_t n, int64_t iteration, int64_t id) {
  // Distinct evaluations draw distinct requests: fold the evaluation id into the iteration key.
  uint64_t key = splitmix64(static_cast<uint64_t>(iteration) * 1000003ull + static_cast<uint64_t>(id));
  return serve(n, "auction/eval", key, [&](Rng&, double* th) {
    std::copy(x.begin(), x.end(), th);
    return 0.0;
  }, false);
}

Samples AuctionProblem::simulate_traffic(const Mixture& q, int64_t n, int64_t iteration) {
  return serve(n, "auction/simtraffic", static_cast<uint64_t>(iteration), [&](Rng& rng, double* th) {
    q.sample(rng, th);
    return q.log_pdf(th);
  }, true);
}

std::vector<double> AuctionProblem::simulator_optimum() {
  if (!simulator_optimum_x_.empty() || dim() > 3) return simulator_optimum_x_;
  ReplayOptions r;
  r.threads = opt_.threads;
  r.click_model = ClickModel::Predicted;
  const Kpis k0 = replay(*log_, params_of(x0_.data()), r);
  auto value = [&](const Kpis& k) {
    if (obj_.constrained && (k.clicks < (1 - obj_.max_click_drop) * k0.clicks || k.quality < (1 - obj_.max_quality_drop) * k0.quality))
      return objective_of(k0);
    return objective_of(k);
  };
  const int d = dim();
  const int64_t g = opt_.oracle_grid;
  int64_t total = 1;
  for (int i = 0; i < d; ++i) total *= g;
  double best = -INFINITY;
  std::vector<double> x(d);
  for (int64_t t = 0; t < total; ++t) {
    int64_t rr = t;
    for (int i = 0; i < d; ++i) {
      x[i] = lo_[i] + (hi_[i] - lo_[i]) * static_cast<double>(rr % g) / (g - 1);
      rr /= g;
    }
    double v = value(replay(*log_, params_of(x.data()), r));
    if (v > best) {
      best = v;
      simulator_optimum_x_ = x;
    }
  }
  return simulator_optimum_x_;
}

Samples AuctionProblem::simulate(const std::vector<double>& x, int64_t n) {
  return serve(n, "auction/sim", 0, [&](Rng&, double* th) {
    std::copy(x.begin(), x.end(), th);
    return 0.0;
  }, true);
}

}  // namespace plexus::tune
