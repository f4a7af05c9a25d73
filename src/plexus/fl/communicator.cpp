#include "plexus/fl/communicator.h"

#include "plexus/core/error.h"
#include "plexus/fl/device_copy.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/run_support.h"

namespace plexus::fl {

std::vector<int64_t> Communicator::participants(int64_t round) const {
  std::vector<int64_t> all(static_cast<std::size_t>(models().size(0)));
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  return all;
}

std::vector<int64_t> ServerAverage::participants(int64_t round) const { return sample_clients(s_.cfg, round); }

void ServerAverage::communicate(const std::vector<int64_t>& who, int64_t round) {
  torch::NoGradGuard no_grad;
  participants_ = static_cast<int64_t>(who.size());
  if (who.empty()) return;  // nobody took part: the model stays as it was (averaging nothing would zero it)
  auto& X = s_.fed.X;
  // Sample-size weights n_i / n_S (equal sizes give 1/m), as FedAvg and the reference code.
  const std::vector<double> w = averaging_weights(s_.sizes, who);
  auto idx = to_device_async(torch::tensor(who, torch::kInt64), X.device(), torch::kInt64);  // no host sync
  auto weights = to_device_async(torch::tensor(w, torch::kFloat64), X.device(), X.scalar_type());
  auto x = torch::matmul(weights.unsqueeze(0), X.index_select(0, idx));  // [1,P]
  X.copy_(x.expand_as(X));
}

std::string ServerAverage::describe() const {
  return fmt::format("server averaging over max(1, round({}·{})) sampled clients per round",
                     s_.cfg.fl.client_fraction, s_.clients());
}

Gossip::Gossip(Session& s) : s_(s) {
  const auto& topo = s_.cfg.topology;
  // make_graph rejects a disconnected static graph (or k >= N) with an error naming the fix; round 0 of a
  // time-varying topology is built here too so such errors come before any round runs.
  auto w0 = mixing_matrix(make_graph(topo, s_.clients(), s_.seed, 0), topo.mixing);
  if (!is_time_varying(topo)) static_w_ = w0;
}

torch::Tensor Gossip::mixing(int64_t round) const {
  if (static_w_.defined()) return static_w_;
  return mixing_matrix(make_graph(s_.cfg.topology, s_.clients(), s_.seed, round), s_.cfg.topology.mixing);
}

void Gossip::communicate(const std::vector<int64_t>& who, int64_t round) {
  torch::NoGradGuard no_grad;
  gossip(s_.fed.X, mixing(round), s_.cfg.fl.gossip_steps);
}

std::string Gossip::describe() const {
  const auto& topo = s_.cfg.topology;
  auto g = make_graph(topo, s_.clients(), s_.seed, 0);
  auto rep = analyze(mixing_matrix(g, topo.mixing), g);
  double deg = 0;
  for (const auto& nb : g.out) deg += static_cast<double>(nb.size());
  return fmt::format("gossip on {} ({} mixing{}), mean degree {:.1f}, spectral gap {:.4f}{}, Q = {}", topo.kind,
                     topo.mixing, is_time_varying(topo) ? ", redrawn every round" : "",
                     deg / std::max<int64_t>(1, s_.clients()), rep.spectral_gap,
                     is_time_varying(topo) ? " (round 1)" : "", s_.cfg.fl.gossip_steps);
}

void CombineFirstGossip::communicate(const std::vector<int64_t>& who, int64_t round) {
  torch::NoGradGuard no_grad;
  auto& X = s_.fed.X;
  auto step = X - x_old_;  // Y − X_old = −η g(X_old)
  X.copy_(x_old_);
  gossip(X, mixing(round), s_.cfg.fl.gossip_steps);
  X.add_(step);
}

}  // namespace plexus::fl
