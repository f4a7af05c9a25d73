// Rényi-DP accountant: sampled Gaussian mechanism under Poisson and fixed-size sampling, composition,
// conversion to (ε, δ) and noise calibration. Formulas and references: rdp_accountant.h, docs/privacy.md.
#include "plexus/privacy/rdp_accountant.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "plexus/core/error.h"
#include "plexus/core/log.h"

namespace plexus::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
// The fractional-α series stops once both new terms are below e^-30 of the scale of A_α (~1), as in
// Mironov et al.'s reference implementation; the truncation error is then far below double precision of ε.
constexpr double kSeriesTailLog = -30.0;
// Guard against a series that does not converge (tiny σ with α near 1): the order is then dropped (+inf),
// which can only make the reported ε larger, never smaller.
constexpr int kMaxSeriesTerms = 200000;

// log(e^a + e^b) without overflow.
double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double hi = std::max(a, b), lo = std::min(a, b);
  return hi + std::log1p(std::exp(lo - hi));
}

// log(e^a − e^b) for a ≥ b. Returns NaN when b > a (the partial sum would be negative: cannot happen in
// exact arithmetic; the caller then drops the order, which is conservative).
double log_sub(double a, double b) {
  if (b == kNegInf) return a;
  if (b > a) return std::numeric_limits<double>::quiet_NaN();
  if (a == b) return kNegInf;
  return a + std::log1p(-std::exp(b - a));
}

// log(erfc(x)), accurate for large positive x where erfc underflows (erfc(27) < 1e-300).
double log_erfc(double x) {
  if (x < 20.0) return std::log(std::erfc(x));
  // Asymptotic expansion erfc(x) = e^{-x²}/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸) − …);
  // at x ≥ 20 the first omitted term is < 1e-12 relative.
  const double r = 1.0 / (x * x);
  const double series = 1.0 - 0.5 * r + 0.75 * r * r - 1.875 * r * r * r + 6.5625 * r * r * r * r;
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) + std::log(series);
}

double log_binom(double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); }

void check_rdp_args(double q, double sigma, double alpha) {
  if (!(q >= 0.0 && q <= 1.0)) throw Error::config("sampling rate q = {} must lie in [0, 1]", q);
  if (!(sigma > 0.0) || !std::isfinite(sigma))
    throw Error::config("noise multiplier sigma = {} must be > 0 and finite", sigma);
  if (!(alpha > 1.0)) throw Error::config("RDP order alpha = {} must be > 1", alpha);
}

// log A_α for integer α (Mironov, Talwar, Zhang 2019, §3.3): A_α = Σ_{k=0}^{α} C(α,k) (1−q)^{α−k} q^k
// exp((k²−k)/(2σ²)). Every term is positive, so a shifted log-sum-exp is exact to rounding.
double poisson_log_a_int(double q, double sigma, int64_t alpha) {
  const double lq = std::log(q), l1q = std::log1p(-q), inv2s2 = 1.0 / (2.0 * sigma * sigma);
  std::vector<double> terms(static_cast<size_t>(alpha) + 1);
  double hi = kNegInf;
  for (int64_t k = 0; k <= alpha; ++k) {
    const double kd = static_cast<double>(k);
    const double t = log_binom(static_cast<double>(alpha), kd) + kd * lq +
                     static_cast<double>(alpha - k) * l1q + (kd * kd - kd) * inv2s2;
    terms[static_cast<size_t>(k)] = t;
    hi = std::max(hi, t);
  }
  double s = 0.0;
  for (double t : terms) s += std::exp(t - hi);
  return hi + std::log(s);
}

// log A_α for fractional α (Mironov, Talwar, Zhang 2019, §3.3): A_α = A_{α,0} + A_{α,1}, each an infinite
// series over i ≥ 0 of generalized binomials C(α,i) times a Gaussian tail probability, split at
// z₀ = σ² log(1/q − 1) + 1/2. C(α,i) is tracked as (log|C|, sign) through C(α,i+1) = C(α,i)(α−i)/(i+1), and
// a negative coefficient subtracts its term.
double poisson_log_a_frac(double q, double sigma, double alpha) {
  const double lq = std::log(q), l1q = std::log1p(-q);
  const double s2 = sigma * sigma, sqrt2s = std::sqrt(2.0) * sigma;
  const double z0 = s2 * std::log(1.0 / q - 1.0) + 0.5;
  const double log_half = std::log(0.5);
  double log_a0 = kNegInf, log_a1 = kNegInf;
  double log_coef = 0.0;  // log|C(α, 0)| = 0
  double sign = 1.0;
  for (int i = 0; i < kMaxSeriesTerms; ++i) {
    const double id = i, j = alpha - id;
    const double log_t0 = log_coef + id * lq + j * l1q;
    const double log_t1 = log_coef + j * lq + id * l1q;
    const double log_e0 = log_half + log_erfc((id - z0) / sqrt2s);
    const double log_e1 = log_half + log_erfc((z0 - j) / sqrt2s);
    const double log_s0 = log_t0 + (id * id - id) / (2.0 * s2) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2.0 * s2) + log_e1;
    if (sign > 0) {
      log_a0 = log_add(log_a0, log_s0);
      log_a1 = log_add(log_a1, log_s1);
    } else {
      log_a0 = log_sub(log_a0, log_s0);
      log_a1 = log_sub(log_a1, log_s1);
    }
    if (std::isnan(log_a0) || std::isnan(log_a1)) return kInf;
    if (std::max(log_s0, log_s1) < kSeriesTailLog) return log_add(log_a0, log_a1);
    const double ratio = alpha - id;  // never 0: α is not an integer here
    log_coef += std::log(std::fabs(ratio)) - std::log(id + 1.0);
    if (ratio < 0) sign = -sign;
  }
  return kInf;
}

// Cumulant (α−1)·ε'(α) of the WOR-subsampled Gaussian for integer α ≥ 1 (Wang, Balle, Kasiviswanathan
// 2019, Theorem 9, with ε(∞) = ∞ for the Gaussian so min{2, (e^{ε(∞)}−1)^j} = 2):
//   log(1 + q² C(α,2) min{4(e^{ε(2)}−1), 2e^{ε(2)}} + Σ_{j=3}^{α} 2 q^j C(α,j) e^{(j−1)ε(j)}),
// ε(j) = j/(2σ²) the base Gaussian's RDP. All terms positive: log-sum-exp.
double wor_log_a_int(double q, double sigma, int64_t alpha) {
  if (alpha <= 1) return 0.0;
  const double lq = std::log(q), inv2s2 = 1.0 / (2.0 * sigma * sigma);
  const double eps2 = 2.0 * inv2s2;
  const double log_expm1_eps2 = eps2 > 30.0 ? eps2 + std::log1p(-std::exp(-eps2)) : std::log(std::expm1(eps2));
  const double a = static_cast<double>(alpha);
  std::vector<double> terms;
  terms.reserve(static_cast<size_t>(alpha));
  terms.push_back(0.0);  // the leading 1
  terms.push_back(2.0 * lq + log_binom(a, 2.0) + std::min(std::log(4.0) + log_expm1_eps2, eps2 + std::log(2.0)));
  for (int64_t jj = 3; jj <= alpha; ++jj) {
    const double j = static_cast<double>(jj);
    terms.push_back(std::log(2.0) + (j - 1.0) * j * inv2s2 + j * lq + log_binom(a, j));
  }
  double hi = kNegInf;
  for (double t : terms) hi = std::max(hi, t);
  double s = 0.0;
  for (double t : terms) s += std::exp(t - hi);
  return hi + std::log(s);
}

bool is_integer(double x) { return std::floor(x) == x; }

}  // namespace

const char* sampling_name(Sampling s) { return s == Sampling::Poisson ? "poisson" : "fixed"; }

Sampling parse_sampling(std::string_view name, std::string_view key) {
  if (name == "poisson") return Sampling::Poisson;
  if (name == "fixed" || name == "fixed_size" || name == "wor") return Sampling::FixedSize;
  throw Error::config("{} = '{}' is not a sampler; use 'poisson' (each client joins with probability q) or "
                      "'fixed' (exactly m of M clients without replacement)",
                      key, name);
}

const char* conversion_name(Conversion c) { return c == Conversion::Tight ? "tight" : "classic"; }

Conversion parse_conversion(std::string_view name, std::string_view key) {
  if (name == "tight") return Conversion::Tight;
  if (name == "classic") return Conversion::Classic;
  throw Error::config("{} = '{}' is not a conversion; use 'tight' (Balle et al. 2020) or 'classic' (Mironov 2017)",
                      key, name);
}

std::vector<double> default_orders() {
  std::vector<double> o{1.01, 1.02, 1.05};
  for (int x = 1; x <= 99; ++x) o.push_back(1.0 + x / 10.0);
  for (int a = 11; a <= 63; ++a) o.push_back(a);
  for (double a : {128.0, 256.0, 512.0, 1024.0}) o.push_back(a);
  return o;
}

std::vector<double> parse_orders(std::string_view text) {
  if (text == "default" || text.empty()) return default_orders();
  auto num = [&](std::string_view s) {
    std::string str(s);
    try {
      size_t used = 0;
      double v = std::stod(str, &used);
      if (used != str.size()) throw std::invalid_argument("trailing");
      return v;
    } catch (const std::exception&) {
      throw Error::config("orders: '{}' in '{}' is not a number (use 'default', '2,4,8' or 'start:stop:step')", s,
                          text);
    }
  };
  std::vector<double> out;
  if (text.find(':') != std::string_view::npos) {
    std::vector<std::string_view> parts;
    size_t pos = 0;
    while (true) {
      size_t c = text.find(':', pos);
      parts.push_back(text.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos));
      if (c == std::string_view::npos) break;
      pos = c + 1;
    }
    if (parts.size() != 3) throw Error::config("orders: range '{}' must be 'start:stop:step'", text);
    const double a = num(parts[0]), b = num(parts[1]), st = num(parts[2]);
    if (!(st > 0) || !(b >= a)) throw Error::config("orders: range '{}' needs step > 0 and stop >= start", text);
    const auto n = static_cast<int64_t>(std::floor((b - a) / st + 1e-9)) + 1;
    if (n > 100000) throw Error::config("orders: range '{}' has {} orders; use at most 100000", text, n);
    for (int64_t i = 0; i < n; ++i) out.push_back(a + static_cast<double>(i) * st);
  } else {
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t c = text.find(',', pos);
      out.push_back(num(text.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos)));
      if (c == std::string_view::npos) break;
      pos = c + 1;
    }
  }
  for (double a : out)
    if (!(a > 1.0) || !std::isfinite(a)) throw Error::config("orders: every RDP order must be > 1 (got {})", a);
  return out;
}

double rdp_gaussian(double sigma, double alpha) {
  check_rdp_args(1.0, sigma, alpha);
  return alpha / (2.0 * sigma * sigma);
}

double rdp_poisson_gaussian(double q, double sigma, double alpha) {
  check_rdp_args(q, sigma, alpha);
  if (q == 0.0) return 0.0;
  if (q == 1.0) return alpha / (2.0 * sigma * sigma);
  const double log_a = is_integer(alpha) && alpha < 1e6 ? poisson_log_a_int(q, sigma, static_cast<int64_t>(alpha))
                                                        : poisson_log_a_frac(q, sigma, alpha);
  return log_a / (alpha - 1.0);
}

double rdp_wor_gaussian(double q, double sigma, double alpha) {
  check_rdp_args(q, sigma, alpha);
  if (q == 0.0) return 0.0;
  const double base = alpha / (2.0 * sigma * sigma);
  if (q == 1.0) return base;
  if (alpha > 1e6) return base;
  double cgf;
  if (is_integer(alpha)) {
    cgf = wor_log_a_int(q, sigma, static_cast<int64_t>(alpha));
  } else {
    // Corollary 10: the cumulant K(α) = (α−1)ε(α) is convex, so the chord between ⌊α⌋ and ⌈α⌉ bounds it.
    const double af = std::floor(alpha), ac = std::ceil(alpha), t = alpha - af;
    cgf = (1.0 - t) * wor_log_a_int(q, sigma, static_cast<int64_t>(af)) +
          t * wor_log_a_int(q, sigma, static_cast<int64_t>(ac));
  }
  // Subsampling never hurts: by joint convexity of exp((α−1)D_α), coupled samples that differ in one
  // element give at most the base mechanism's RDP.
  return std::min(cgf / (alpha - 1.0), base);
}

EpsilonResult rdp_to_epsilon(const std::vector<double>& orders, const std::vector<double>& rdp, double delta,
                             Conversion conversion, bool warn) {
  if (!(delta > 0.0 && delta < 1.0))
    throw Error::config("delta = {} must lie in (0, 1); a common choice is 1/(number of clients) or smaller", delta);
  PLEXUS_CHECK(orders.size() == rdp.size() && !orders.empty(), "orders ({}) and rdp ({}) lengths differ",
               orders.size(), rdp.size());
  const double log_delta = std::log(delta);
  EpsilonResult best{kInf, orders.front(), false};
  size_t best_i = 0;
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i], r = rdp[i];
    if (!std::isfinite(r)) continue;
    double eps;
    if (conversion == Conversion::Classic) {
      eps = r - log_delta / (a - 1.0);  // Mironov 2017, Prop. 3
    } else {
      eps = r + std::log1p(-1.0 / a) - (log_delta + std::log(a)) / (a - 1.0);  // Balle et al. 2020, Thm 21
    }
    if (eps < best.epsilon) {
      best.epsilon = eps;
      best.best_order = a;
      best_i = i;
    }
  }
  if (!std::isfinite(best.epsilon)) return best;
  best.epsilon = std::max(best.epsilon, 0.0);
  // The edge test is on the position in the order set, as Opacus does; orders are expected sorted.
  const auto [mn, mx] = std::minmax_element(orders.begin(), orders.end());
  best.at_edge = orders[best_i] == *mn || orders[best_i] == *mx;
  if (best.at_edge && warn)
    log_warn("privacy: the best RDP order {} is the {} of the order set [{}, {}]; epsilon may be loose — extend "
             "the orders (--orders)",
             best.best_order, orders[best_i] == *mn ? "smallest" : "largest", *mn, *mx);
  return best;
}

void validate_mechanism(double q, double noise_multiplier, int64_t steps) {
  if (!(q > 0.0 && q <= 1.0))
    throw Error::config("q = {} must lie in (0, 1] (the fraction of clients sampled per round, m/M)", q);
  if (!(noise_multiplier > 0.0) || !std::isfinite(noise_multiplier))
    throw Error::config("noise_multiplier = {} must be > 0 (sigma = noise std / clip norm)", noise_multiplier);
  if (steps < 1) throw Error::config("steps = {} must be >= 1 (number of rounds)", steps);
}

std::vector<double> rdp_curve(Sampling sampling, double q, double noise_multiplier, const std::vector<double>& orders) {
  std::vector<double> r(orders.size());
  for (size_t i = 0; i < orders.size(); ++i) {
    // Fixed size: replace-one sensitivity of the clipped sum is 2C, so σ relative to it is σ/2.
    r[i] = sampling == Sampling::Poisson ? rdp_poisson_gaussian(q, noise_multiplier, orders[i])
                                         : rdp_wor_gaussian(q, noise_multiplier / 2.0, orders[i]);
  }
  if (sampling == Sampling::FixedSize) {
    // The true RDP is non-decreasing in α (Rényi divergence is monotone in its order; van Erven & Harremoës
    // 2014, Thm 3), but the Theorem-9 bound is not: at large α and σ it decreases towards log(1+q)-like
    // values. So ε(α) ≤ min_{β ≥ α} bound(β) is also a valid bound, and tighter.
    std::vector<size_t> idx(orders.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return orders[a] < orders[b]; });
    double run = kInf;
    for (size_t k = idx.size(); k-- > 0;) {
      run = std::min(run, r[idx[k]]);
      r[idx[k]] = run;
    }
  }
  return r;
}

Accountant::Accountant(std::vector<double> orders) : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {
  if (orders_.empty()) throw Error::config("the accountant needs at least one RDP order");
  for (double a : orders_)
    if (!(a > 1.0) || !std::isfinite(a)) throw Error::config("every RDP order must be > 1 (got {})", a);
}

void Accountant::compose(Sampling sampling, double q, double noise_multiplier, int64_t steps) {
  validate_mechanism(q, noise_multiplier, steps);
  if (!ledger_.empty() && ledger_.front().sampling != sampling)
    throw Error::config("the privacy ledger already holds '{}' sampling and cannot compose '{}': the two are "
                        "analysed under different neighbouring relations (add/remove vs replace-one)",
                        sampling_name(ledger_.front().sampling), sampling_name(sampling));
  if (cached_curve_.empty() || cached_key_.sampling != sampling || cached_key_.q != q ||
      cached_key_.noise_multiplier != noise_multiplier) {
    cached_curve_ = rdp_curve(sampling, q, noise_multiplier, orders_);
    cached_key_ = {sampling, q, noise_multiplier, 0};
  }
  const auto& curve = cached_curve_;
  for (size_t i = 0; i < rdp_.size(); ++i) rdp_[i] += static_cast<double>(steps) * curve[i];
  if (!ledger_.empty() && ledger_.back().sampling == sampling && ledger_.back().q == q && ledger_.back().noise_multiplier == noise_multiplier) {
    ledger_.back().steps += steps;
  } else {
    ledger_.push_back({sampling, q, noise_multiplier, steps});
  }
}

EpsilonResult Accountant::epsilon(double delta, Conversion conversion, bool warn) const {
  if (ledger_.empty()) {
    if (!(delta > 0.0 && delta < 1.0)) throw Error::config("delta = {} must lie in (0, 1)", delta);
    return {0.0, orders_.front(), false};
  }
  return rdp_to_epsilon(orders_, rdp_, delta, conversion, warn);
}

int64_t Accountant::total_steps() const {
  int64_t s = 0;
  for (const auto& e : ledger_) s += e.steps;
  return s;
}

nlohmann::json Accountant::to_json() const {
  nlohmann::json led = nlohmann::json::array();
  for (const auto& e : ledger_)
    led.push_back({{"sampling", sampling_name(e.sampling)},
                   {"q", e.q},
                   {"noise_multiplier", e.noise_multiplier},
                   {"steps", e.steps}});
  return {{"orders", orders_}, {"ledger", led}};
}

Accountant Accountant::from_json(const nlohmann::json& j) {
  try {
    Accountant acc(j.at("orders").get<std::vector<double>>());
    for (const auto& e : j.at("ledger"))
      acc.compose(parse_sampling(e.at("sampling").get<std::string>(), "ledger.sampling"), e.at("q").get<double>(),
                  e.at("noise_multiplier").get<double>(), e.at("steps").get<int64_t>());
    return acc;
  } catch (const nlohmann::json::exception& ex) {
    throw Error::data("privacy ledger in the checkpoint is malformed ({}); the checkpoint may be corrupt", ex.what());
  } catch (const Error& ex) {
    throw Error::data("privacy ledger in the checkpoint is invalid: {}", ex.what());
  }
}

EpsilonResult compute_epsilon(Sampling sampling, double q, double noise_multiplier, int64_t steps, double delta,
                              Conversion conversion, const std::vector<double>& orders, bool warn) {
  validate_mechanism(q, noise_multiplier, steps);
  Accountant acc(orders);
  acc.compose(sampling, q, noise_multiplier, steps);
  return acc.epsilon(delta, conversion, warn);
}

double calibrate_noise(double target_epsilon, double delta, double q, int64_t steps, Sampling sampling,
                       Conversion conversion, const std::vector<double>& orders) {
  if (!(target_epsilon > 0.0) || !std::isfinite(target_epsilon))
    throw Error::config("target epsilon = {} must be > 0 and finite", target_epsilon);
  if (!(delta > 0.0 && delta < 1.0)) throw Error::config("delta = {} must lie in (0, 1)", delta);
  validate_mechanism(q, 1.0, steps);
  auto eps = [&](double sigma) {
    return compute_epsilon(sampling, q, sigma, steps, delta, conversion, orders, /*warn=*/false).epsilon;
  };
  constexpr double kSigmaMax = 1e6, kSigmaMin = 1e-6;
  double hi = 1.0;
  while (eps(hi) > target_epsilon) {
    hi *= 2.0;
    if (hi > kSigmaMax)
      throw Error::infeasible("target epsilon {} at delta {} is unreachable even with noise multiplier {:g} "
                              "(q = {}, {} steps, {} sampling): the (epsilon, delta) conversion has a floor at "
                              "the largest RDP order; raise the target epsilon or delta, or add larger orders",
                              target_epsilon, delta, kSigmaMax, q, steps, sampling_name(sampling));
  }
  double lo = hi / 2.0;
  while (lo > kSigmaMin && eps(lo) <= target_epsilon) {
    hi = lo;
    lo /= 2.0;
  }
  if (lo <= kSigmaMin) return hi;
  // Invariant: eps(lo) > target ≥ eps(hi). Return hi (the conservative side).
  while ((hi - lo) > 1e-6 * hi) {
    const double mid = 0.5 * (lo + hi);
    (eps(mid) > target_epsilon ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace plexus::privacy
