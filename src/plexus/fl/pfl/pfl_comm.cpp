#include "plexus/fl/pfl/pfl_comm.h"

#include <fmt/format.h>

#include "plexus/core/error.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/run_support.h"

namespace plexus::fl {

ColumnCommunicator::ColumnCommunicator(Session& s, std::vector<ColumnRange> columns)
    : s_(s), columns_(std::move(columns)),
      mu_(torch::ones({s.clients()}, torch::TensorOptions().dtype(torch::kFloat64).device(s.device))) {}

void ColumnCommunicator::load(const Checkpoint& ck, const std::string& path) {
  auto it = ck.tensors.find("mu");
  if (it == ck.tensors.end() || it->second.sizes() != mu_.sizes()) {
    throw Error::data("checkpoint '{}' lacks the push-sum weights mu [{}]", path, s_.clients());
  }
  mu_.copy_(it->second);
}

void ColumnCommunicator::columns(Row& row) const {
  row["mu_min"] = mu_.min().item<double>();
  row["mu_max"] = mu_.max().item<double>();
  row["strongly_connected"] = strongly_connected_;
  row["participants"] = participants_;
}

std::vector<int64_t> ServerColumns::participants(int64_t round) const { return sample_clients(s_.cfg, round); }

void ServerColumns::communicate(const std::vector<int64_t>& who, int64_t round) {
  participants_ = static_cast<int64_t>(who.size());
  if (who.empty()) return;
  torch::NoGradGuard no_grad;
  auto& X = s_.fed.X;
  const std::vector<double> w = averaging_weights(s_.sizes, who);
  for (auto [b, e] : columns_) {
    auto cols = X.narrow(1, b, e - b);
    auto avg = torch::zeros({e - b}, X.options().dtype(torch::kFloat64));
    for (std::size_t k = 0; k < who.size(); ++k) avg.add_(cols[who[k]].to(torch::kFloat64), w[k]);
    cols.copy_(avg.to(X.scalar_type()).unsqueeze(0).expand_as(cols));
  }
}

std::string ServerColumns::describe() const {
  return "server averaging of the communicated columns over the sampled clients";
}

GossipColumns::GossipColumns(Session& s, std::vector<ColumnRange> columns, bool always_pull)
    : ColumnCommunicator(s, std::move(columns)), always_pull_(always_pull) {
  make_graph(s_.cfg.topology, s_.clients(), s_.seed, 0);  // validates k < N and static connectivity now
}

torch::Tensor GossipColumns::matrix(const Graph& g) const {
  if (g.directed || always_pull_) return uniform_pull_matrix(g.directed ? transpose(g) : g);
  return mixing_matrix(g, s_.cfg.topology.mixing);
}

void GossipColumns::communicate(const std::vector<int64_t>& who, int64_t round) {
  participants_ = static_cast<int64_t>(who.size());
  torch::NoGradGuard no_grad;
  Graph g = make_graph(s_.cfg.topology, s_.clients(), s_.seed, round);
  strongly_connected_ = is_connected(g);
  gossip(s_.fed.X, matrix(g), 1, columns_);
}

std::string GossipColumns::describe() const {
  const auto& t = s_.cfg.topology;
  if (always_pull_) return fmt::format("uniform_pull on {} (k = {})", t.kind, t.neighbors);
  return fmt::format("gossip on {} (k = {}, {})", t.kind, t.neighbors, is_directed(t) ? "uniform pull" : t.mixing);
}

PushSum::PushSum(Session& s, std::vector<ColumnRange> columns) : ColumnCommunicator(s, std::move(columns)) {
  make_graph(s_.cfg.topology, s_.clients(), s_.seed, 0);  // validates k < N and static connectivity now
  z_ = push_sum_debias(s_.fed.X, mu_, columns_);
}

void PushSum::load(const Checkpoint& ck, const std::string& path) {
  ColumnCommunicator::load(ck, path);
  z_ = push_sum_debias(s_.fed.X, mu_, columns_);
}

void PushSum::absorb(const std::vector<int64_t>& who) {
  participants_ = static_cast<int64_t>(who.size());
  torch::NoGradGuard no_grad;
  auto& U = s_.fed.X;
  // SGP: the local change goes to the numerator, u_i ← u_i + (z_i' − z_i); on the personal columns u_i = z_i,
  // so this also stores the trained head.
  for (int64_t i : who) U[i].add_(z_[i] - z0_[i]);
}

torch::Tensor PushSum::matrix(int64_t round) const {
  return push_sum_matrix(make_graph(s_.cfg.topology, s_.clients(), s_.seed, round));
}

void PushSum::push(int64_t round) {
  torch::NoGradGuard no_grad;
  Graph g = make_graph(s_.cfg.topology, s_.clients(), s_.seed, round);
  strongly_connected_ = is_connected(g);
  push_sum_step(s_.fed.X, mu_, push_sum_matrix(g), columns_);
  refresh();
}

std::string PushSum::describe() const {
  const auto& t = s_.cfg.topology;
  return fmt::format("push_sum on {} (k = {})", t.kind, t.neighbors);
}

}  // namespace plexus::fl
