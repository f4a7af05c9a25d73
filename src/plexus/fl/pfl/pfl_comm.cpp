#include "plexus/fl/pfl/pfl_comm.h"

#include <fmt/format.h>

#include "plexus/core/error.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/mixing.h"

namespace plexus::fl {

PflCommunicator::PflCommunicator(const PflSpec& spec, const PersonalizationOptions& p,
                                 const TopologyOptions& topology, int64_t n, uint64_t seed)
    : spec_(spec), mode_(p.push_sum), topology_(topology), n_(n), seed_(seed) {
  if (spec_.comm == PflComm::Gossip || spec_.comm == PflComm::PushSum) {
    // Build round 0's graph now: it validates k < N and static connectivity before any round runs.
    make_graph(topology_, n_, seed_, 0);
  }
}

torch::Tensor PflCommunicator::matrix(int64_t round) const {
  if (spec_.comm != PflComm::Gossip && spec_.comm != PflComm::PushSum) return {};
  Graph g = make_graph(topology_, n_, seed_, round);
  if (spec_.comm == PflComm::PushSum && mode_ == "push_sum") return push_sum_matrix(g);
  if (g.directed || spec_.comm == PflComm::PushSum) return uniform_pull_matrix(g.directed ? transpose(g) : g);
  return mixing_matrix(g, topology_.mixing);
}

PflCommStats PflCommunicator::communicate(torch::Tensor& X, torch::Tensor& mu,
                                          const std::vector<nn::ColumnRange>& columns,
                                          const std::vector<int64_t>& who, const std::vector<int64_t>& sizes,
                                          int64_t round) const {
  PflCommStats st;
  torch::NoGradGuard no_grad;
  switch (spec_.comm) {
    case PflComm::None:
      return st;
    case PflComm::Server: {
      if (who.empty()) return st;
      double total = 0;
      for (int64_t i : who) total += static_cast<double>(sizes[i]);
      for (auto [b, e] : columns) {
        auto cols = X.narrow(1, b, e - b);
        auto avg = torch::zeros({e - b}, X.options().dtype(torch::kFloat64));
        for (int64_t i : who) {
          double w = total > 0 ? sizes[i] / total : 1.0 / static_cast<double>(who.size());
          avg.add_(cols[i].to(torch::kFloat64), w);
        }
        cols.copy_(avg.to(X.scalar_type()).unsqueeze(0).expand_as(cols));
      }
      return st;
    }
    case PflComm::Gossip:
    case PflComm::PushSum: {
      Graph g = make_graph(topology_, n_, seed_, round);
      st.strongly_connected = is_connected(g);
      auto M = matrix(round);
      if (uses_weights()) {
        push_sum_step(X, mu, M, columns);
      } else {
        gossip(X, M, 1, columns);
      }
      return st;
    }
  }
  return st;
}

std::string PflCommunicator::describe() const {
  switch (spec_.comm) {
    case PflComm::None: return "none (local training only)";
    case PflComm::Server: return "server averaging of the communicated columns over the sampled clients";
    case PflComm::Gossip:
      return fmt::format("gossip on {} (k = {}, {})", topology_.kind, topology_.neighbors,
                         is_directed(topology_) ? "uniform pull" : topology_.mixing);
    case PflComm::PushSum:
      return fmt::format("{} on {} (k = {})", mode_, topology_.kind, topology_.neighbors);
  }
  return "";
}

}  // namespace plexus::fl
