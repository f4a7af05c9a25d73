// Rényi-DP accountant for the sampled Gaussian mechanism (client-level DP in FL, or DP-SGD).
//
// One round of DP-FedAvg / DP-FedSAM releases  Σ_{i∈S} clip_C(Δ_i) + N(0, σ²C² I)  (noise added on the
// clients as N(0, σ²C²/m) each; the sum of m such draws has variance σ²C²). S is a random subset of the
// M clients. The accountant tracks the RDP curve ε(α) of every round at a fixed set of orders α, adds
// the curves (RDP composes additively, Mironov 2017 Prop. 1) and converts to (ε, δ)-DP at the end.
//
// Two samplers, each with the bound that is valid for it — using the Poisson bound for a fixed-size
// sampler is the frequent silent error this module exists to avoid:
//   Sampling::Poisson    each client joins independently with probability q. Neighbouring relation:
//                        add/remove one client (sensitivity of the sum = C). RDP from Mironov, Talwar,
//                        Zhang 2019 ("Rényi DP of the Sampled Gaussian Mechanism", arXiv 1908.10530):
//                        exact binomial sum (§3.3, eq. for integer α) and the two-sided series for
//                        fractional α.
//   Sampling::FixedSize  exactly m of M clients without replacement, q = m/M. Neighbouring relation:
//                        replace one client (the only relation for which the analysis exists); replacing
//                        a client moves the sum by up to 2C, so the base Gaussian has RDP
//                        α·(2C)²/(2σ²C²) = 2α/σ². RDP from Wang, Balle, Kasiviswanathan 2019
//                        ("Subsampled Rényi DP and Analytical Moments Accountant", AISTATS, arXiv
//                        1808.00087) Theorem 9 for integer α ≥ 2, with non-integer α bounded by linear
//                        interpolation of the cumulant (α−1)ε(α) between ⌊α⌋ and ⌈α⌉ (their Corollary 10,
//                        valid because the CGF is convex), capped by the unsampled mechanism's RDP.
// Conversions RDP → (ε, δ): Conversion::Classic (Mironov 2017 Prop. 3) and Conversion::Tight (Balle et
// al. 2020 "Hypothesis testing interpretations and RDP", Thm 21 / Canonne–Kamath–Steinke 2020 Prop. 12),
// the one Opacus and dp_accounting use. See docs/privacy.md for the formulas.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::privacy {

/// How the clients of a round were chosen. Must be what the runner actually did.
enum class Sampling { Poisson, FixedSize };
/// RDP → (ε, δ) conversion.
enum class Conversion { Tight, Classic };

/// "poisson" / "fixed".
const char* sampling_name(Sampling s);
/// Parses "poisson" or "fixed" (also "fixed_size", "wor"). Throws: Error(Config) naming `key`.
Sampling parse_sampling(std::string_view name, std::string_view key = "sampling");
/// "tight" / "classic".
const char* conversion_name(Conversion c);
/// Parses "tight" or "classic". Throws: Error(Config) naming `key`.
Conversion parse_conversion(std::string_view name, std::string_view key = "conversion");

/// The default RDP orders: 1.01, 1.02, 1.05, 1.1, 1.2, …, 10.9 (step 0.1), 11, 12, …, 63, 128, 256, 512,
/// 1024 — dp_accounting's DEFAULT_RDP_ORDERS plus three orders below 1.1 for large-ε regimes.
std::vector<double> default_orders();

/// Parses an order list: "default", a comma list "2,4,8.5", or a range "start:stop:step" (inclusive,
/// e.g. "1.01:99.96:0.05", the DP-FedSAM eps_computer orders). Units: orders α > 1.
/// Throws: Error(Config) if malformed or any α ≤ 1.
std::vector<double> parse_orders(std::string_view text);

/// RDP of the (unsampled) Gaussian mechanism with noise multiplier σ: α/(2σ²).
/// Units: nats, per release. Source: Mironov 2017, Table II.
double rdp_gaussian(double sigma, double alpha);

/// RDP at order α of one step of the Poisson-subsampled Gaussian mechanism (rate q, noise multiplier σ
/// relative to the add/remove sensitivity). q = 1 gives α/(2σ²) exactly. Can be +inf (series did not
/// converge; the order is then ignored by the conversion).
/// Units: nats per step. Throws: Error(Config) for q ∉ [0,1], σ ≤ 0, α ≤ 1.
/// Source: Mironov, Talwar, Zhang 2019, §3.3 (integer α: binomial expansion of A_α; fractional α: the
/// two-sided series with erfc terms), evaluated in log space.
double rdp_poisson_gaussian(double q, double sigma, double alpha);

/// RDP at order α of one step of the Gaussian mechanism on a fixed-size sample without replacement
/// (q = m/M), σ relative to the *replace-one* sensitivity (TF-Privacy / dp_accounting convention:
/// the base mechanism has RDP α/(2σ²)). q = 1 gives α/(2σ²) exactly.
/// Units: nats per step. Throws: Error(Config) for q ∉ [0,1], σ ≤ 0, α ≤ 1.
/// Source: Wang, Balle, Kasiviswanathan 2019, Theorem 9 (integer α ≥ 2) and Corollary 10 (interpolation).
double rdp_wor_gaussian(double q, double sigma, double alpha);

/// Result of a conversion: ε at the requested δ and the order that attains it.
struct EpsilonResult {
  double epsilon = 0.0;     ///< ε (nats) at the given δ; +inf if every order is infinite
  double best_order = 0.0;  ///< α minimising the bound
  bool at_edge = false;     ///< the best α is the smallest or largest order (extend the orders)
};

/// Converts an RDP curve to (ε, δ)-DP, minimising over the orders. Classic: ε = r − log δ/(α−1).
/// Tight: ε = r + log((α−1)/α) − (log δ + log α)/(α−1). ε is clamped at 0. Logs a warning when the best
/// order lies on the edge of the set (if `warn`).
/// Throws: Error(Config) for δ ∉ (0,1) or mismatched lengths.
/// Source: Mironov 2017 Prop. 3; Balle et al. 2020 Thm 21; Canonne, Kamath, Steinke 2020 Prop. 12.
EpsilonResult rdp_to_epsilon(const std::vector<double>& orders, const std::vector<double>& rdp, double delta,
                             Conversion conversion = Conversion::Tight, bool warn = true);

/// One ledger line: `steps` consecutive releases with the same sampler, rate and noise multiplier.
struct LedgerEntry {
  Sampling sampling = Sampling::Poisson;
  double q = 0.0;                 ///< sampling rate (Poisson) or m/M (fixed size)
  double noise_multiplier = 0.0;  ///< σ = noise std on the sum / clip norm C
  int64_t steps = 0;              ///< number of rounds
};

/// Checks user-facing accountant inputs: q ∈ (0,1], σ > 0, steps ≥ 1 (δ checked by rdp_to_epsilon).
/// Throws: Error(Config) with the offending flag/key named.
void validate_mechanism(double q, double noise_multiplier, int64_t steps);

/// The run's privacy ledger. `noise_multiplier` is always σ = (std of the noise on the sum) / C, with C the
/// clip norm of one client's contribution; the accountant applies the neighbouring relation that goes with
/// the sampler (see the file comment). All entries of one ledger must use the same sampler, because the
/// two samplers are analysed under different neighbouring relations and their ε are not composable.
///
/// Usage: `Accountant acc; acc.step(Sampling::FixedSize, m/double(M), sigma);  acc.epsilon(1e-5)`.
class Accountant {
 public:
  explicit Accountant(std::vector<double> orders = default_orders());

  /// Adds `steps` releases. Merges with the last entry when sampler, q and σ are equal.
  /// Throws: Error(Config) on bad q/σ/steps or when the sampler differs from earlier entries.
  void compose(Sampling sampling, double q, double noise_multiplier, int64_t steps = 1);
  /// compose(sampling, q, σ, 1): one round.
  void step(Sampling sampling, double q, double noise_multiplier) { compose(sampling, q, noise_multiplier, 1); }

  /// ε spent so far at δ, with the best order. ε = 0 for an empty ledger. Units: ε in nats at the stated δ.
  /// Throws: Error(Config) for δ ∉ (0,1).
  EpsilonResult epsilon(double delta, Conversion conversion = Conversion::Tight, bool warn = true) const;

  const std::vector<double>& orders() const { return orders_; }
  /// Accumulated RDP at each order (same length as orders()).
  const std::vector<double>& rdp() const { return rdp_; }
  const std::vector<LedgerEntry>& ledger() const { return ledger_; }
  int64_t total_steps() const;

  /// {"orders": [...], "ledger": [{"sampling","q","noise_multiplier","steps"}, ...]} — for checkpoints.
  nlohmann::json to_json() const;
  /// Rebuilds the accountant (RDP recomputed from the ledger). Throws: Error(Data) if malformed.
  static Accountant from_json(const nlohmann::json& j);

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  std::vector<LedgerEntry> ledger_;
  // The last per-step curve, reused while (sampling, q, σ) stay the same (the common case: one call per
  // round with fixed parameters), so a round costs one vector addition.
  LedgerEntry cached_key_{};
  std::vector<double> cached_curve_;
};

/// RDP curve of one step of `sampling` with rate q and noise multiplier σ (relative to the clip norm),
/// at each order, with the neighbouring relation of that sampler (fixed size uses σ/2 against the
/// replace-one bound, then takes the running minimum over larger orders, valid because true RDP is
/// non-decreasing in α). Units: nats per step.
std::vector<double> rdp_curve(Sampling sampling, double q, double noise_multiplier, const std::vector<double>& orders);

/// ε after `steps` rounds of one mechanism: a one-entry ledger. Throws: Error(Config) on bad input.
EpsilonResult compute_epsilon(Sampling sampling, double q, double noise_multiplier, int64_t steps, double delta,
                              Conversion conversion = Conversion::Tight,
                              const std::vector<double>& orders = default_orders(), bool warn = true);

/// Smallest noise multiplier σ (to relative precision 1e-6, rounded up) with ε(σ) ≤ target_epsilon after
/// `steps` rounds, by bracketing and bisection (ε is decreasing in σ).
/// Throws: Error(Config) on bad input; Error(Infeasible) if even σ = 1e6 cannot reach the target (the
/// conversion's floor at the largest order exceeds it — raise δ or target ε).
double calibrate_noise(double target_epsilon, double delta, double q, int64_t steps, Sampling sampling,
                       Conversion conversion = Conversion::Tight,
                       const std::vector<double>& orders = default_orders());

}  // namespace plexus::privacy
