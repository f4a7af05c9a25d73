#include "plexus/tune/landscape.h"

#include <cmath>
#include <numbers>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::tune {

namespace {
constexpr double kRastriginA = 10.0;
constexpr double kRastriginSpan = 4.0;  // z = 4 (x − x*): about four ripples across the box
}  // namespace

const OptionSchema<LandscapeOptions>& LandscapeOptions::schema() {
  using L = LandscapeOptions;
  static const auto s =
      OptionSchema<L>("landscape")
          .key("kind", &L::kind, "synthetic objective: `bumps` (Gaussian bumps) or `rastrigin`",
               one_of({"bumps", "rastrigin"}))
          .key("dim", &L::dim, "dimensions of θ", "[1, 20]")
          .key("modes", &L::modes, "bumps: number of bumps (the first is the global mode, height 1)", "[1, 32]")
          .key("width", &L::width, "bumps: kernel sd as a fraction of the box", "(0, 1)")
          .key("noise", &L::noise, "per-request noise sd (the global peak is 1)", "[0, 1e6]")
          .key("production", &L::production, "θ0 = (production, …, production) in the unit box", "[0, 1]")
          .key("seed", &L::seed, "layout seed (mode positions); traffic noise uses run.seed");
  return s;
}

LandscapeOptions LandscapeOptions::parse(ConfigTable& t) { return schema().parse(t); }

LandscapeProblem::LandscapeProblem(const LandscapeOptions& o, uint64_t run_seed) : opt_(o), run_seed_(run_seed) {
  if (o.dim < 1 || o.modes < 1) throw Error::config("[landscape] dim and modes must be >= 1");
  const int d = static_cast<int>(o.dim);
  Rng rng(o.seed, "landscape/layout");
  if (o.kind == "rastrigin") {
    std::vector<double> c(d);
    for (double& v : c) v = 0.55 + 0.2 * rng.uniform();  // optimum away from production (0.2 by default)
    centres_.push_back(c);
    heights_.push_back(1.0);
    optimum_ = 1.0;
  } else {
    // Global mode (height 1) in the far corner region; local modes (heights 0.55–0.8) elsewhere, one of
    // them close to production so that a purely local search is trapped. Modes are kept 3 widths apart.
    for (int64_t k = 0; k < o.modes; ++k) {
      std::vector<double> c(d);
      for (int tries = 0; tries < 1000; ++tries) {
        for (int i = 0; i < d; ++i) {
          if (k == 0) c[i] = 0.7 + 0.15 * rng.uniform();
          else if (k == 1) c[i] = o.production + 0.1 + 0.05 * rng.uniform();
          else c[i] = 0.1 + 0.8 * rng.uniform();
        }
        bool ok = true;
        for (const auto& e : centres_) {
          double s = 0;
          for (int i = 0; i < d; ++i) s += (c[i] - e[i]) * (c[i] - e[i]);
          if (std::sqrt(s) < 3 * o.width) ok = false;
        }
        if (ok) break;
      }
      centres_.push_back(c);
      heights_.push_back(k == 0 ? 1.0 : 0.55 + 0.25 * rng.uniform());
    }
    // F* by fixed-step coordinate ascent from the global centre (the bumps' tails shift the peak slightly).
    std::vector<double> x = centres_[0];
    for (double h = 0.01; h > 1e-7; h *= 0.5) {
      for (bool moved = true; moved;) {
        moved = false;
        for (int i = 0; i < d; ++i)
          for (double s : {h, -h}) {
            double f0 = value(x.data());
            x[i] += s;
            if (value(x.data()) > f0) moved = true;
            else x[i] -= s;
          }
      }
    }
    centres_[0] = x;
    optimum_ = value(x.data());
    second_peak_ = 0;
    for (std::size_t k = 1; k < centres_.size(); ++k) second_peak_ = std::max(second_peak_, value(centres_[k].data()));
  }
  spec_.name = "f";
  spec_.objective = {0, -1, 1.0};
}

std::vector<std::string> LandscapeProblem::names() const {
  std::vector<std::string> n;
  for (int64_t i = 0; i < opt_.dim; ++i) n.push_back("x" + std::to_string(i));
  return n;
}

double LandscapeProblem::value(const double* x) const {
  const int d = static_cast<int>(opt_.dim);
  if (opt_.kind == "rastrigin") {
    // Rescaled so that F(x*) = 1 and F falls to about 0 at distance ~0.5 in every coordinate.
    double s = 0;
    for (int i = 0; i < d; ++i) {
      double z = kRastriginSpan * (x[i] - centres_[0][i]);
      s += z * z + kRastriginA * (1 - std::cos(2 * std::numbers::pi * z));
    }
    return 1.0 - s / (d * (kRastriginSpan * kRastriginSpan / 4 + 2 * kRastriginA));
  }
  double f = 0;
  for (std::size_t k = 0; k < centres_.size(); ++k) {
    double s = 0;
    for (int i = 0; i < d; ++i) s += (x[i] - centres_[k][i]) * (x[i] - centres_[k][i]);
    f += heights_[k] * std::exp(-0.5 * s / (opt_.width * opt_.width));
  }
  return f;
}

bool LandscapeProblem::in_global_mode(const std::vector<double>& x) {
  if (opt_.kind == "rastrigin") {
    for (int64_t i = 0; i < opt_.dim; ++i)
      if (std::abs(kRastriginSpan * (x[i] - centres_[0][i])) >= 0.5) return false;
    return true;
  }
  // Only the global basin rises above the second-highest peak.
  return value(x.data()) > second_peak_;
}

Samples LandscapeProblem::simulate_traffic(const Mixture& q, int64_t n, int64_t iteration) {
  return serve(q, n, iteration, "landscape/simtraffic");
}

Samples LandscapeProblem::serve(const Mixture& q, int64_t n, int64_t iteration, const char* purpose) const {
  Samples s;
  s.dim = static_cast<int>(opt_.dim);
  s.kpi_names = {"f"};
  s.theta.resize(n * s.dim);
  s.log_q.resize(n);
  s.kpi.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(run_seed_, purpose, static_cast<uint64_t>(i), static_cast<uint64_t>(iteration));
    double* th = s.theta.data() + i * s.dim;
    q.sample(rng, th);
    s.log_q[i] = q.log_pdf(th);
    s.kpi[i] = value(th) + opt_.noise * rng.normal();
  }
  return s;
}

Samples LandscapeProblem::evaluate(const std::vector<double>& theta, int64_t n, int64_t iteration, int64_t id) {
  Samples s;
  s.dim = static_cast<int>(opt_.dim);
  s.kpi_names = {"f"};
  const double f = value(theta.data());
  Rng rng(run_seed_, "landscape/eval", static_cast<uint64_t>(id), static_cast<uint64_t>(iteration));
  for (int64_t i = 0; i < n; ++i) {
    s.theta.insert(s.theta.end(), theta.begin(), theta.end());
    s.log_q.push_back(0.0);
    s.kpi.push_back(f + opt_.noise * rng.normal());
  }
  return s;
}

Samples LandscapeProblem::simulate(const std::vector<double>& theta, int64_t n) {
  // The synthetic "simulator" is unbiased but noisy, like a subsampled replay.
  // Each call draws fresh noise (a new subsample), so coarse points do not share their noise.
  static constexpr int64_t kSimIteration = -1;
  return evaluate(theta, n, kSimIteration, sim_calls_++);
}

}  // namespace plexus::tune
