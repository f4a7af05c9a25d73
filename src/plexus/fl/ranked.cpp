#include "plexus/fl/ranked.h"

#include <algorithm>
#include <typeinfo>

#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/dist/group.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/communicator.h"
#include "plexus/fl/dp_wrapper.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/step_rule.h"
#include "plexus/fl/topology.h"

namespace plexus::fl {

const std::vector<std::string>& ranked_algorithms() {
  // StepRule + ServerAverage (DP-wrapped or not) or Gossip / CombineFirstGossip + GlobalEvaluator.
  static const std::vector<std::string> names = {"fedavg",   "fedsam",      "dp_fedavg", "dp_fedsam",
                                                 "dp_fedsam_topk", "fed_smp_randk", "fed_smp_topk", "dfedavg",
                                                 "dfedavgm", "dfedsam",     "dfedsam_mgs", "dpsgd"};
  return names;
}

void check_ranked(const FlConfig& cfg, int ranks) {
  if (ranks <= 1) return;
  const auto& names = ranked_algorithms();
  if (std::find(names.begin(), names.end(), cfg.fl.algorithm) == names.end())
    throw Error::config("fl.algorithm = \"{}\" does not run across ranks yet ({} ranks); these do: {}; run it in "
                        "one process (no --ranks, no RANK/WORLD_SIZE)",
                        cfg.fl.algorithm, ranks, name_list(names));
  if (cfg.fl.clients < ranks)
    throw Error::config("fl.clients = {} is fewer than the {} ranks: every rank needs at least one client; use "
                        "fewer ranks", cfg.fl.clients, ranks);
}

RankedRun::RankedRun(const Session& s, dist::Group* group) : group_(group) {
  blocks_.clients = s.clients();
  blocks_.ranks = group ? group->size() : 1;
  if (group_) {
    log_info("dist: rank {} of {} trains clients {}..{}", group_->rank(), group_->size(), blocks_.begin(rank()),
             blocks_.end(rank()) - 1);
  }
}

bool RankedRun::lead() const { return group_ == nullptr || group_->rank() == 0; }
int RankedRun::rank() const { return group_ ? group_->rank() : 0; }

std::vector<int64_t> RankedRun::own(const std::vector<int64_t>& who) const {
  return group_ ? blocks_.owned(who, group_->rank()) : who;
}

double RankedRun::mean_loss(const std::vector<int64_t>& who, const std::vector<int64_t>& mine,
                            const std::vector<double>& losses) {
  std::vector<double> all = losses;
  if (group_ && !who.empty()) {  // `who` is the same on every rank, so all skip an empty round together
    // Each entry of `who` is trained by exactly one rank; the others contribute 0.0, and x + 0.0 == x.
    auto t = torch::zeros({static_cast<int64_t>(who.size())}, torch::kFloat64);
    auto* p = t.data_ptr<double>();
    std::size_t m = 0;
    for (std::size_t i = 0; i < who.size() && m < mine.size(); ++i) {
      if (who[i] == mine[m]) p[i] = losses[m++];
    }
    group_->allreduce_sum(t, "gathering the training losses");
    all.assign(p, p + who.size());
  }
  // The single-process arithmetic (train_round's): a sum in `who`'s order, then one division.
  double sum = 0;
  for (double l : all) sum += l;
  return who.empty() ? 0.0 : sum / static_cast<double>(who.size());
}

void RankedRun::before_checkpoint(Federation& fed) {
  if (group_) exchange_rows(*group_, fed.M, gather_plan(blocks_), "gathering momentum rows for the checkpoint");
}

std::string RankedRun::share(const std::string& key, const std::string& value) {
  return group_ ? group_->share_from_rank0(key, value) : value;
}

std::unique_ptr<Communicator> RankedRun::wrap(Session& s, std::unique_ptr<Communicator> comm) {
  if (!group_) return comm;
  const Communicator& c = *comm;
  RankedCommunicator::Kind kind;
  if (typeid(c) == typeid(ServerAverage) || typeid(c) == typeid(DpWrapper)) {
    kind = RankedCommunicator::Kind::Server;  // DpWrapper wraps ServerAverage only (compose.h)
  } else if (typeid(c) == typeid(Gossip)) {
    kind = RankedCommunicator::Kind::Gossip;
  } else if (typeid(c) == typeid(CombineFirstGossip)) {
    kind = RankedCommunicator::Kind::CombineFirst;
  } else {
    throw Error::internal("fl.algorithm = \"{}\": its communicator ({}) has no multi-rank form",
                          s.cfg.fl.algorithm, typeid(c).name());
  }
  return std::make_unique<RankedCommunicator>(s, std::move(comm), kind, *group_, blocks_);
}

RankedCommunicator::RankedCommunicator(Session& s, std::unique_ptr<Communicator> inner, Kind kind,
                                       dist::Group& group, const RankBlocks& blocks)
    : s_(s), inner_(std::move(inner)), kind_(kind), group_(group), blocks_(blocks),
      comm_bytes_(static_cast<std::size_t>(group.size()), 0) {}

RowPlan RankedCommunicator::gossip_rows(int64_t round) const {
  const auto& topo = s_.cfg.topology;
  if (!is_time_varying(topo) && !static_plan_.empty()) return static_plan_;
  auto plan = gossip_plan(blocks_, static_cast<const Gossip&>(*inner_).mixing(round), s_.cfg.fl.gossip_steps);
  if (!is_time_varying(topo)) static_plan_ = plan;
  return plan;
}

void RankedCommunicator::before_training(const std::vector<int64_t>& who, int64_t round) {
  round_start_bytes_ = group_.bytes_sent();
  // D-PSGD mixes the pre-training models: fetch the neighbours' rows before inner_ snapshots X.
  if (kind_ == Kind::CombineFirst && s_.cfg.fl.gossip_steps > 0)
    exchange_rows(group_, s_.fed.X, gossip_rows(round), "gossip row exchange");
  inner_->before_training(who, round);
}

void RankedCommunicator::communicate(const std::vector<int64_t>& who, int64_t round) {
  torch::Tensor X = inner_->models();
  if (kind_ == Kind::Server) {
    exchange_rows(group_, X, participants_plan(blocks_, who), "all-gather of the trained rows");
  } else if (kind_ == Kind::Gossip && s_.cfg.fl.gossip_steps > 0) {
    exchange_rows(group_, X, gossip_rows(round), "gossip row exchange");
  }
  const int64_t algorithm_bytes = group_.bytes_sent() - round_start_bytes_;
  inner_->communicate(who, round);  // unchanged: full-size X, this rank's rows exact
  int64_t gathered = 0;
  if (kind_ != Kind::Server) {  // server FL leaves every row equal on every rank: nothing to gather
    const int64_t before = group_.bytes_sent();
    exchange_rows(group_, X, gather_plan(blocks_), "gathering the models on rank 0");
    gathered = group_.bytes_sent() - before;
  }
  // The byte counters of every rank, for rank 0's metrics row: [R] algorithm bytes, then the gathered total.
  const int R = group_.size();
  auto t = torch::zeros({R + 1}, torch::kInt64);
  t[group_.rank()] = algorithm_bytes;
  t[R] = gathered;
  group_.allreduce_sum(t, "summing the byte counters");
  for (int k = 0; k < R; ++k) comm_bytes_[static_cast<std::size_t>(k)] = t[k].item<int64_t>();
  gather_bytes_ = t[R].item<int64_t>();
}

std::string RankedCommunicator::describe() const {
  const char* how = kind_ == Kind::Server ? "all-gather of the trained participants' rows"
                                          : "neighbour rows of W^Q by send/recv, blocks gathered on rank 0";
  return fmt::format("{}; across {} ranks ({})", inner_->describe(), group_.size(), how);
}

void RankedCommunicator::columns(Row& row) const {
  inner_->columns(row);
  for (std::size_t k = 0; k < comm_bytes_.size(); ++k) row[fmt::format("comm_bytes_rank{}", k)] = comm_bytes_[k];
  row["gather_bytes"] = gather_bytes_;
}

}  // namespace plexus::fl
