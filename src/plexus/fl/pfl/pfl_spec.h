// Personalized decentralized FL algorithms as compositions of parts (DESIGN.md "Algorithms are compositions").
//
// Partial personalization splits a client's row x_i = (u_i, v_i) of the stacked state X [N,P] into the shared
// body u_i (communicated) and the personal head v_i (never leaves client i). A round of every personalized
// algorithm is: measure "before" → local training (PflTraining on some columns) → measure "after" →
// communication (PflComm) of the communicated columns only. Each file in fl/pfl/ named after an algorithm
// defines one PflSpec with its update equations and paper in its header comment; docs/pfl.md has the table.
#pragma once

#include <string>
#include <vector>

namespace plexus::fl {

/// How clients combine their communicated columns after local training.
enum class PflComm {
  None,     ///< no communication (Local)
  Gossip,   ///< u_i ← Σ_j w_ij u_j: doubly stochastic W (undirected) or uniform pull (directed graphs)
  PushSum,  ///< SGP: U ← P U, μ ← P μ (column-stochastic P), z_i = u_i/μ_i; or "uniform_pull" (reference code)
  Server,   ///< u ← Σ_{i∈S} (n_i/n_S) u_i over the sampled clients S, broadcast to all clients
};

/// Which columns local training moves.
enum class PflTraining {
  Alternating,  ///< head v for K_v epochs (body frozen), then body u for K_u epochs (head frozen)
  Joint,        ///< all columns together for train.local_steps / train.local_epochs at train.lr
  BodyOnly,     ///< body only; the head stays at its (shared) initialization (FedBABU)
};

/// Columns fine-tuned on a copy of the model before the "after" measurement.
enum class PflFinetune { None, Head, All };

struct PflSpec {
  std::string name;    ///< config value of fl.algorithm
  std::string title;   ///< display name
  std::string source;  ///< paper and arXiv id
  PflComm comm = PflComm::Gossip;
  PflTraining training = PflTraining::Alternating;
  bool personal_head = true;     ///< head columns are personal (never communicated); false: all columns shared
  bool body_sam = false;         ///< SAM (radius train.rho) on the body step only (DFedSalt)
  PflFinetune finetune = PflFinetune::None;  ///< fine-tune a copy before the "after" measurement
  bool requires_momentum = false;            ///< train.momentum must be > 0 (DFedAvgM)
  bool ditto = false;  ///< keep a second, personal model V trained with a proximal term to the global model
};

/// All personalized algorithms, in documentation order.
const std::vector<PflSpec>& pfl_algorithms();
/// True if `name` is a personalized algorithm (run by run_pfl, configured by [personalization]).
bool is_personalized(const std::string& name);
/// The spec named `name`. Throws: Error(Internal) if there is none (callers check is_personalized first).
const PflSpec& find_pfl_algorithm(const std::string& name);

// One function per file in fl/pfl/.
PflSpec dfedalt_spec();
PflSpec dfedsalt_spec();
PflSpec dfedpgp_spec();
PflSpec local_spec();
PflSpec fedavg_ft_spec();
PflSpec fedper_spec();
PflSpec fedrep_spec();
PflSpec fedbabu_spec();
PflSpec pfl_dfedavgm_spec();
PflSpec ditto_spec();

}  // namespace plexus::fl
