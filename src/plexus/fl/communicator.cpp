#include "plexus/fl/communicator.h"

#include "plexus/core/error.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/mixing.h"

namespace plexus::fl {

Communicator::Communicator(Communication kind, const TopologyOptions& topology, int64_t n, uint64_t seed,
                           int64_t gossip_steps)
    : kind_(kind), topology_(topology), n_(n), seed_(seed), gossip_steps_(gossip_steps) {
  if (kind_ == Communication::Server) return;
  // make_graph rejects a disconnected static graph (or k >= N) with an error naming the fix; round 0 of a
  // time-varying topology is built here too so such errors come before any round runs.
  auto w0 = mixing_matrix(make_graph(topology_, n_, seed_, 0), topology_.mixing);
  if (!is_time_varying(topology_)) static_w_ = w0;
}

torch::Tensor Communicator::mixing(int64_t round) const {
  if (static_w_.defined()) return static_w_;
  return mixing_matrix(make_graph(topology_, n_, seed_, round), topology_.mixing);
}

std::string Communicator::describe() const {
  auto g = make_graph(topology_, n_, seed_, 0);
  auto rep = analyze(mixing_matrix(g, topology_.mixing), g);
  double deg = 0;
  for (const auto& nb : g.out) deg += static_cast<double>(nb.size());
  return fmt::format("{} ({} mixing{}), mean degree {:.1f}, spectral gap {:.4f}{}, Q = {}", topology_.kind,
                     topology_.mixing, is_time_varying(topology_) ? ", redrawn every round" : "",
                     deg / std::max<int64_t>(1, n_), rep.spectral_gap,
                     is_time_varying(topology_) ? " (round 1)" : "", gossip_steps_);
}

void Communicator::communicate(Federation& fed, const std::vector<int64_t>& who,
                               const std::vector<std::vector<int64_t>>& train_sets, int64_t round,
                               const torch::Tensor& x_old) const {
  torch::NoGradGuard no_grad;
  switch (kind_) {
    case Communication::Server: {
      // Sample-size weights n_i / n_S (equal sizes give 1/m), as FedAvg and the reference code.
      std::vector<double> w;
      double total = 0;
      for (int64_t i : who) total += static_cast<double>(train_sets[i].size());
      for (int64_t i : who) w.push_back(static_cast<double>(train_sets[i].size()) / total);
      auto idx = torch::tensor(who, torch::kInt64).to(fed.X.device());
      auto weights = torch::tensor(w, torch::kFloat64).to(fed.X.device(), fed.X.scalar_type());
      auto x = torch::matmul(weights.unsqueeze(0), fed.X.index_select(0, idx));  // [1,P]
      fed.X.copy_(x.expand_as(fed.X));
      return;
    }
    case Communication::Gossip:
      gossip(fed.X, mixing(round), gossip_steps_);
      return;
    case Communication::GossipCombineFirst: {
      PLEXUS_CHECK(x_old.defined(), "D-PSGD needs the pre-training state");
      auto step = fed.X - x_old;  // Y − X_old = −η g(X_old)
      fed.X.copy_(x_old);
      gossip(fed.X, mixing(round), gossip_steps_);
      fed.X.add_(step);
      return;
    }
  }
}

}  // namespace plexus::fl
