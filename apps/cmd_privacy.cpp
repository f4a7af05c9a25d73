// `plexus privacy …`: the RDP accountant from the command line.
//   plexus privacy epsilon   --sampling poisson|fixed (--q Q | --clients M --sampled m) --noise-multiplier σ
//                            --steps T --delta δ [--conversion tight|classic] [--orders SPEC] [--json]
//   plexus privacy calibrate --sampling … (--q | --clients --sampled) --target-epsilon ε --delta δ --steps T …
// Both print the result and the best RDP order; the sampler is required because the bound depends on it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "command_registry.h"
#include "plexus/core/error.h"
#include "plexus/privacy/rdp_accountant.h"

namespace {

using namespace plexus;
using namespace plexus::privacy;

struct PrivacyArgs {
  std::string sampling;
  double q = NAN;
  int64_t clients = 0, sampled = 0;
  double noise_multiplier = NAN, target_epsilon = NAN, delta = NAN;
  int64_t steps = 0;
  std::string conversion = "tight";
  std::string orders = "default";
  bool json = false;
};

void add_common(CLI::App* c, PrivacyArgs& a) {
  c->add_option("--sampling", a.sampling, "how clients are chosen each round: poisson | fixed (must match the run)")
      ->required();
  c->add_option("--q", a.q, "sampling rate (poisson) or m/M (fixed); or give --clients and --sampled");
  c->add_option("--clients", a.clients, "population size M");
  c->add_option("--sampled", a.sampled, "clients per round m (q = m/M)");
  c->add_option("--steps", a.steps, "number of rounds T")->required();
  c->add_option("--delta", a.delta, "target delta in (0,1)")->required();
  c->add_option("--conversion", a.conversion, "RDP -> (eps,delta): tight (Balle et al. 2020) | classic")
      ->capture_default_str();
  c->add_option("--orders", a.orders, "RDP orders: default | a,b,c | start:stop:step")->capture_default_str();
  c->add_flag("--json", a.json, "print one JSON object");
}

// q from --q or --clients/--sampled; consistent when both are given.
double resolve_q(const PrivacyArgs& a) {
  const bool have_q = !std::isnan(a.q), have_mM = a.clients != 0 || a.sampled != 0;
  if (have_mM) {
    if (a.clients < 1 || a.sampled < 1 || a.sampled > a.clients)
      throw Error::config("--clients {} --sampled {}: need 1 <= sampled <= clients", a.clients, a.sampled);
    const double q = static_cast<double>(a.sampled) / static_cast<double>(a.clients);
    if (have_q && std::fabs(q - a.q) > 1e-12)
      throw Error::config("--q {} disagrees with --sampled/--clients = {}/{} = {}; give one of them", a.q, a.sampled,
                          a.clients, q);
    return q;
  }
  if (!have_q) throw Error::config("give the sampling rate: --q Q, or --clients M --sampled m");
  return a.q;
}

const char* relation_name(Sampling s) { return s == Sampling::Poisson ? "add_remove" : "replace_one"; }

void print_result(const PrivacyArgs& a, Sampling s, double q, double sigma, const EpsilonResult& r,
                  const char* what) {
  if (a.json) {
    nlohmann::json j{{"epsilon", r.epsilon},       {"best_order", r.best_order},     {"delta", a.delta},
                     {"sampling", sampling_name(s)}, {"neighbouring", relation_name(s)}, {"q", q},
                     {"noise_multiplier", sigma},   {"steps", a.steps},              {"conversion", a.conversion},
                     {"orders", a.orders},          {"best_order_at_edge", r.at_edge}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  if (std::string(what) == "calibrate") std::printf("noise_multiplier %.6f\n", sigma);
  std::printf("epsilon %.4f at delta %g (best order %g)\n", r.epsilon, a.delta, r.best_order);
  std::printf("  %s sampling (%s neighbours), q %g, noise_multiplier %g, %lld steps, %s conversion\n",
              sampling_name(s), relation_name(s), q, sigma, static_cast<long long>(a.steps), a.conversion.c_str());
}

void setup(CLI::App& app) {
  auto& g = plexus::app::subcommand_group(app, "privacy", "RDP accountant: epsilon of a DP run, noise calibration");

  auto ea = std::make_shared<PrivacyArgs>();
  auto* eps = g.add_subcommand("epsilon", "epsilon spent after --steps rounds of the sampled Gaussian mechanism");
  add_common(eps, *ea);
  eps->add_option("--noise-multiplier", ea->noise_multiplier, "sigma = noise std on the sum / clip norm")
      ->required();
  eps->callback([ea] {
    const Sampling s = parse_sampling(ea->sampling, "--sampling");
    const Conversion conv = parse_conversion(ea->conversion, "--conversion");
    const double q = resolve_q(*ea);
    const auto orders = parse_orders(ea->orders);
    const auto r = compute_epsilon(s, q, ea->noise_multiplier, ea->steps, ea->delta, conv, orders);
    print_result(*ea, s, q, ea->noise_multiplier, r, "epsilon");
  });

  auto ca = std::make_shared<PrivacyArgs>();
  auto* cal = g.add_subcommand("calibrate", "smallest noise multiplier reaching --target-epsilon (bisection)");
  add_common(cal, *ca);
  cal->add_option("--target-epsilon", ca->target_epsilon, "privacy budget epsilon to reach")->required();
  cal->callback([ca] {
    const Sampling s = parse_sampling(ca->sampling, "--sampling");
    const Conversion conv = parse_conversion(ca->conversion, "--conversion");
    const double q = resolve_q(*ca);
    const auto orders = parse_orders(ca->orders);
    const double sigma = calibrate_noise(ca->target_epsilon, ca->delta, q, ca->steps, s, conv, orders);
    const auto r = compute_epsilon(s, q, sigma, ca->steps, ca->delta, conv, orders);
    print_result(*ca, s, q, sigma, r, "calibrate");
  });
}

plexus::app::CommandRegistrar reg("privacy", setup);

}  // namespace
