// Algorithms as parts with hooks, driven by one round loop (docs/algorithms.md "Algorithms as parts").
//
// An FL algorithm is a composition of three parts acting on the stacked state X [N,P] (row i = client i):
//   LocalRule     trains one client's row in a round: SGD, SAM/ASAM, one step (D-PSGD), alternating head/body
//                 (DFedAlt), Ditto's personal solve, FedProx's proximal term, SCAFFOLD's corrected step, ...
//   Communicator  chooses the round's participants and combines the rows after training: server averaging,
//                 gossip W^Q ("adapt then combine"), combine-first gossip (D-PSGD), push-sum with de-biasing,
//                 the column-restricted variants of personalized FL; wrappers take any communicator and add
//                 to it (client-level DP clips, sparsifies and noises the updates of a server communicator,
//                 as Flower's DP strategy wraps a strategy)
//   Evaluator     measures the models: the global model and the local models (server/gossip FL), or each
//                 client's personalized model before and after local training (personalized FL)
// One round of run_fl (runner.cpp) is, for every algorithm:
//   participants → local rule per participant → communicator → evaluation → metrics row → checkpoint
// Every part contributes its own metric columns, summary keys and checkpointed state through the Part hooks,
// so a new mechanism is a new part in its own file and the loop never branches on the algorithm.
//
// Letters: N clients, P parameters per client, t the round (0-based inside, 1-based in metrics).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plexus/core/checkpoint.h"
#include "plexus/data/federated.h"
#include "plexus/fl/batched_trainer.h"
#include "plexus/fl/eval_ranks.h"
#include "plexus/fl/federation.h"
#include "plexus/fl/fl_config.h"
#include "plexus/fl/local_trainer.h"

namespace plexus::fl {

using Row = nlohmann::ordered_json;
using Rows = std::vector<nlohmann::ordered_json>;

/// Everything the parts of a run read: the config, the data on the device, one LocalTrainer per worker
/// thread and the stacked state. Built once per run by open_session (run_support.h).
struct Session {
  const FlConfig& cfg;
  uint64_t seed = 0;                   ///< run.seed, root of every random stream
  torch::Device device;
  data::FederatedData data;            ///< train/test sets and each client's indices
  nn::ParamLayout layout;              ///< flat parameter layout; personal tags mark the head
  std::vector<LocalTrainer> trainers;  ///< trainers[w] is used by worker w only
  int64_t workers = 1;
  Federation fed;                      ///< X [N,P] models (push-sum: numerators U), M [N,P] momentum rows
  std::vector<int64_t> sizes;          ///< n_i: client i's training-sample count
  /// The batched engine (run.client_batching, docs/batching.md); null: clients train one by one on the workers.
  std::shared_ptr<BatchedTrainer> batched;
  /// How evaluators split their work over the ranks of a multi-process run (set by RankedRun, ranked.h);
  /// default: one process, everything evaluated here.
  EvalRanks eval_ranks;

  int64_t clients() const { return fed.clients(); }
};

/// Hooks every part may implement; the defaults do nothing.
class Part {
 public:
  virtual ~Part() = default;
  /// Add this part's state to a round checkpoint (tensors, meta), so `--resume` continues bit-identically.
  virtual void save(Checkpoint& ck) const {}
  /// Restore the state written by save() from `ck` (read from `path`). Throws: Error(Data) if it is missing.
  virtual void load(const Checkpoint& ck, const std::string& path) {}
  /// Append this part's metric columns for the round that just finished.
  virtual void columns(Row& row) const {}
  /// Append this part's summary keys; `rows` holds every metrics row of the run (resumed ones included).
  virtual void summary(Row& sum, const Rows& rows) const {}
  /// Text appended to the progress line of a round (`evaluated`: the round ran its evaluation).
  virtual std::string progress(bool evaluated) const { return {}; }
};

/// The local rule: how one client trains its row in a round.
class LocalRule : public Part {
 public:
  /// Train client `client`'s model row `x` [P] in place in round `round` with `trainer` (the worker's own);
  /// `m` [P] is the client's momentum row. Returns the client's mean training loss (nats).
  /// Called concurrently for different clients: touch only rows of `client`.
  /// Throws: Error(Infeasible) if training diverges.
  virtual double train(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor x, torch::Tensor m) = 0;
  /// The same training as data, for the batched engine: the StepPlans `client` runs in order from its row `x`
  /// [P] in `round`, each after a momentum restart, all drawing minibatches from stream ("batch", client,
  /// round) — exactly what `train` does. nullopt: this rule cannot be batched (a gradient correction such as
  /// FedProx's or SCAFFOLD's, Ditto's personal step), so the round trains client by client.
  virtual std::optional<std::vector<StepPlan>> plans(int64_t client, int64_t round, const torch::Tensor& x) const {
    return std::nullopt;
  }

  /// Per-client state the rule keeps besides X and M: [N,·] tensors whose row i only client i's training
  /// writes. A multi-rank run (ranked.h) moves the participants' rows after training: `to_all` rows to every
  /// rank (the communicator reads them for every participant, e.g. SCAFFOLD's Δc_i), `to_lead` rows to rank 0
  /// (it evaluates and checkpoints them, e.g. Ditto's personal models, SCAFFOLD's c_i).
  struct ClientState {
    std::vector<torch::Tensor> to_all, to_lead;
  };
  virtual ClientState client_state() const { return {}; }
};


/// How a communicator runs across the ranks of a multi-process run: which rows move before and after it
/// (ranked.h). Each communicator names its own; None (the default) means it has no multi-rank form and the run
/// is refused.
enum class RankExchange {
  None,
  Server,         ///< ServerAverage and its subclasses (FedProx, SCAFFOLD), DP-wrapped or not
  Gossip,         ///< Gossip: X ← W_t^Q X after training
  CombineFirst,   ///< CombineFirstGossip (D-PSGD): the same rows, before training
  Local,          ///< NoCommunication
  ServerColumns,  ///< server averaging of the communicated columns
  GossipColumns,  ///< gossip of the communicated columns
  PushSum,        ///< push-sum along P_t's directed edges
};

/// The communicator: who takes part in a round and how the rows are combined afterwards.
class Communicator : public Part {
 public:
  /// This communicator's multi-rank form (RankExchange; the class it names must be this object's class or a
  /// base of it, since the ranked communicator reads its mixing matrix through that class).
  virtual RankExchange rank_exchange() const { return RankExchange::None; }
  /// The participants of round `round`, ascending (default: every client).
  virtual std::vector<int64_t> participants(int64_t round) const;
  /// The clients' current models [N,P]: the rows local rules train and evaluators measure. X itself unless
  /// the communicator keeps a different representation (push-sum numerators).
  virtual torch::Tensor models() const = 0;
  /// Called after participants() and before local training (snapshots of the pre-training state).
  virtual void before_training(const std::vector<int64_t>& who, int64_t round) {}
  /// Combine the models after local training of `who` in round `round`.
  virtual void communicate(const std::vector<int64_t>& who, int64_t round) = 0;
  /// One line for the log.
  virtual std::string describe() const = 0;
};

/// The evaluator: what is measured, and when. `evaluate` is true in rounds that run the evaluation
/// (every fl.eval_every rounds and the last); the columns of other rounds are null. In a multi-process run
/// every rank calls the hooks: each measures its own clients through Session::eval_ranks, and rank 0 (the
/// only one whose columns are written) combines the results.
class Evaluator : public Part {
 public:
  virtual void before_training(int64_t round, bool evaluate) {}
  virtual void after_training(int64_t round, bool evaluate) {}
  virtual void after_communication(int64_t round, bool evaluate) {}
};

/// An algorithm built for one run. The metrics row of a round holds: round, lr, train_loss, then the columns
/// of the rule, the evaluator and the communicator, then the wall-clock seconds.
struct Parts {
  std::unique_ptr<LocalRule> rule;
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<Evaluator> eval;

  /// The parts in hook order: rule, evaluator, communicator.
  std::vector<Part*> all() const { return {rule.get(), eval.get(), comm.get()}; }
};

/// Best value of `key` over `rows` (first round on ties) and its round; -1 and 0 when no row has a number.
struct Best {
  double value = -1;
  int64_t round = 0;
};
Best best_of(const Rows& rows, const char* key);

}  // namespace plexus::fl
