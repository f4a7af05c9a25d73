#include "plexus/fl/ranked.h"

#include <algorithm>

#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/dist/group.h"
#include "plexus/fl/algorithm.h"
#include "plexus/fl/communicator.h"
#include "plexus/fl/gossip.h"
#include "plexus/fl/mixing.h"
#include "plexus/fl/pfl/pfl_comm.h"
#include "plexus/fl/step_rule.h"
#include "plexus/fl/topology.h"

namespace plexus::fl {

const std::vector<std::string>& ranked_algorithms() {
  // Every algorithm built from parts (fl/algorithms, fl/pfl); the black-box family runs its own loop.
  static const std::vector<std::string> names = {
      "fedavg", "fedprox", "fedsam", "scaffold", "dfedavg", "dfedavgm", "dfedsam", "dfedsam_mgs", "dpsgd",
      "dp_fedavg", "dp_fedsam", "dp_fedsam_topk", "fed_smp_randk", "fed_smp_topk",
      "dfedalt", "dfedpgp", "dfedsalt", "ditto", "fedavg_ft", "fedbabu", "fedper", "fedrep", "local", "pfl_dfedavgm"};
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

RankedRun::RankedRun(Session& s, dist::Group* group) : group_(group) {
  blocks_.clients = s.clients();
  blocks_.ranks = group ? group->size() : 1;
  if (group_) {
    s.eval_ranks = EvalRanks(*group_, blocks_);
    // Gloo moves host memory: rows of a CUDA X go through a host copy each way (exchange_rows).
    log_info("dist: rank {} of {} trains clients {}..{} on {} (Gloo{})", group_->rank(), group_->size(),
             blocks_.begin(rank()), blocks_.end(rank()) - 1, s.device.str(),
             s.device.is_cuda() ? "; rows staged through host memory" : "");
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

std::unique_ptr<Communicator> RankedRun::wrap(Session& s, std::unique_ptr<Communicator> comm,
                                              const LocalRule& rule) {
  if (!group_) return comm;
  const RankExchange kind = comm->rank_exchange();  // each communicator names its multi-rank form (parts.h)
  if (kind == RankExchange::None)
    throw Error::internal("fl.algorithm = \"{}\": its communicator ({}) has no multi-rank form", s.cfg.fl.algorithm,
                          comm->describe());
  auto ranked = std::make_unique<RankedCommunicator>(s, std::move(comm), kind, rule, *group_, blocks_);
  comm_ = ranked.get();
  return ranked;
}

void RankedRun::after_training(const std::vector<int64_t>& who, int64_t round) {
  if (comm_) comm_->after_training(who, round);
}

RankedCommunicator::RankedCommunicator(Session& s, std::unique_ptr<Communicator> inner, Kind kind,
                                       const LocalRule& rule, dist::Group& group, const RankBlocks& blocks)
    : s_(s), inner_(std::move(inner)), kind_(kind), rule_(rule), group_(group), blocks_(blocks),
      comm_bytes_(static_cast<std::size_t>(group.size()), 0) {
  // The kinds that read a mixing matrix do so through the class they name (parts.h, RankExchange).
  gossip_ = dynamic_cast<const Gossip*>(inner_.get());
  gossip_columns_ = dynamic_cast<const GossipColumns*>(inner_.get());
  push_sum_ = dynamic_cast<PushSum*>(inner_.get());
  PLEXUS_CHECK((kind != Kind::Gossip && kind != Kind::CombineFirst) || gossip_, "{} claims gossip but is no Gossip",
               inner_->describe());
  PLEXUS_CHECK(kind != Kind::GossipColumns || gossip_columns_, "{} claims column gossip but is no GossipColumns",
               inner_->describe());
  PLEXUS_CHECK(kind != Kind::PushSum || push_sum_, "{} claims push-sum but is no PushSum", inner_->describe());
  if (const auto* cc = dynamic_cast<const ColumnCommunicator*>(inner_.get())) {
    communicated_ = normalize_columns(cc->communicated(), s.layout.size());
    personal_ = complement_columns(communicated_, s.layout.size());
    if (personal_.empty()) communicated_.clear();  // every column: the plain (faster) row exchange
  }
}

RowPlan RankedCommunicator::gossip_rows(int64_t round) const {
  const auto& topo = s_.cfg.topology;
  if (!is_time_varying(topo) && !static_plan_.empty()) return static_plan_;
  RowPlan plan;
  if (kind_ == Kind::PushSum) {
    plan = gossip_plan(blocks_, push_sum_->matrix(round), 1);  // p_ij ≠ 0: j → i
  } else if (kind_ == Kind::GossipColumns) {
    plan = gossip_plan(blocks_, gossip_columns_->matrix(make_graph(topo, s_.clients(), s_.seed, round)), 1);
  } else {
    plan = gossip_plan(blocks_, gossip_->mixing(round), s_.cfg.fl.gossip_steps);
  }
  if (!is_time_varying(topo)) static_plan_ = plan;
  return plan;
}

void RankedCommunicator::transfer(torch::Tensor T, const RowPlan& plan, const std::string& what, bool algorithm,
                              const RowColumns& columns) {
  const int64_t before = group_.bytes_sent();
  exchange_rows(group_, T, plan, what, columns);
  (algorithm ? algorithm_sent_ : gather_sent_) += group_.bytes_sent() - before;
}

void RankedCommunicator::before_training(const std::vector<int64_t>& who, int64_t round) {
  algorithm_sent_ = gather_sent_ = 0;
  // D-PSGD mixes the pre-training models: fetch the neighbours' rows before inner_ snapshots X.
  if (kind_ == Kind::CombineFirst && s_.cfg.fl.gossip_steps > 0)
    transfer(s_.fed.X, gossip_rows(round), "gossip row exchange", true);
  inner_->before_training(who, round);
}

void RankedCommunicator::after_training(const std::vector<int64_t>& who, int64_t round) {
  const auto state = rule_.client_state();
  for (const auto& T : state.to_all) transfer(T, participants_plan(blocks_, who), "all-gather of the rule's rows", true);
  for (const auto& T : state.to_lead) transfer(T, lead_plan(blocks_, who), "the rule's rows to rank 0", false);
  // Evaluation needs nothing here: each rank measures its own trained rows (eval_ranks.h). Rank 0 needs the
  // rows the communicator will not bring it, for the consensus distance and the checkpoint.
  const auto lead = lead_plan(blocks_, who);
  switch (kind_) {
    case Kind::Local:  // no communication: the trained rows themselves
      transfer(models(), lead, "trained rows to rank 0", false);
      break;
    case Kind::ServerColumns:  // every rank averages C; rank 0 also keeps the trained heads
      transfer(models(), participants_plan(blocks_, who), "all-gather of the trained shared columns", true, communicated_);
      if (!personal_.empty()) transfer(models(), lead, "trained heads to rank 0", false, personal_);
      break;
    case Kind::GossipColumns:  // C comes to rank 0 after gossip; the trained heads now
      if (!personal_.empty()) transfer(models(), lead, "trained heads to rank 0", false, personal_);
      break;
    default:
      break;  // global FL and push-sum (U, heads included, and μ are gathered after communication)
  }
}

void RankedCommunicator::communicate(const std::vector<int64_t>& who, int64_t round) {
  torch::Tensor X = inner_->models();
  switch (kind_) {
    case Kind::Server:
      transfer(X, participants_plan(blocks_, who), "all-gather of the trained rows", true);
      break;
    case Kind::Gossip:
      if (s_.cfg.fl.gossip_steps > 0) transfer(X, gossip_rows(round), "gossip row exchange", true);
      break;
    case Kind::GossipColumns:
      transfer(X, gossip_rows(round), "gossip row exchange", true, communicated_);
      break;
    default:
      break;
  }
  if (kind_ == Kind::PushSum) {
    // SGP across ranks: each rank adds its own clients' local changes to their numerators, receives the
    // (u_j, μ_j) of the clients j that push to one of its clients (p_ij ≠ 0), then pushes; its own rows of U,
    // μ and z come out exactly as in one process.
    auto& ps = *push_sum_;
    ps.absorb(who);
    const auto plan = gossip_rows(round);
    transfer(s_.fed.X, plan, "push-sum numerators", true, communicated_);
    transfer(ps.mu().unsqueeze(1), plan, "push-sum weights", true);
    ps.push(round);
  } else {
    inner_->communicate(who, round);  // unchanged: full-size X, this rank's rows exact
  }
  // Rank 0 gathers what changed for every row (server FL leaves every row equal on every rank already).
  switch (kind_) {
    case Kind::Gossip:
    case Kind::CombineFirst:
      transfer(X, gather_plan(blocks_), "gathering the models on rank 0", false);
      break;
    case Kind::GossipColumns:
      transfer(X, gather_plan(blocks_), "gathering the shared columns on rank 0", false, communicated_);
      break;
    case Kind::PushSum: {
      auto& ps = *push_sum_;
      transfer(s_.fed.X, gather_plan(blocks_), "gathering the numerators on rank 0", false);
      transfer(ps.mu().unsqueeze(1), gather_plan(blocks_), "gathering the push-sum weights on rank 0", false);
      if (group_.rank() == 0) ps.refresh();
      break;
    }
    default:
      break;
  }
  // The byte counters of every rank, for rank 0's metrics row: [R] algorithm bytes, then the gathered total.
  const int R = group_.size();
  auto t = torch::zeros({R + 1}, torch::kInt64);
  t[group_.rank()] = algorithm_sent_;
  t[R] = gather_sent_;
  group_.allreduce_sum(t, "summing the byte counters");
  for (int k = 0; k < R; ++k) comm_bytes_[static_cast<std::size_t>(k)] = t[k].item<int64_t>();
  gather_bytes_ = t[R].item<int64_t>();
}

std::string RankedCommunicator::describe() const {
  const char* how = "";
  switch (kind_) {
    case Kind::Server: how = "all-gather of the trained participants' rows"; break;
    case Kind::Gossip:
    case Kind::CombineFirst: how = "neighbour rows of W^Q by send/recv, blocks gathered on rank 0"; break;
    case Kind::Local: how = "trained rows to rank 0"; break;
    case Kind::None: break;  // refused by RankedRun::wrap
    case Kind::ServerColumns: how = "all-gather of the participants' shared columns, heads to rank 0"; break;
    case Kind::GossipColumns: how = "neighbour rows of W_t (shared columns) by send/recv, gathered on rank 0"; break;
    case Kind::PushSum: how = "(u, mu) along the directed edges of P_t by send/recv, gathered on rank 0"; break;
  }
  return fmt::format("{}; across {} ranks ({})", inner_->describe(), group_.size(), how);
}

void RankedCommunicator::columns(Row& row) const {
  inner_->columns(row);
  for (std::size_t k = 0; k < comm_bytes_.size(); ++k) row[fmt::format("comm_bytes_rank{}", k)] = comm_bytes_[k];
  row["gather_bytes"] = gather_bytes_;
}

}  // namespace plexus::fl
