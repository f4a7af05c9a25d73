// Algorithms as compositions of shared parts (DESIGN.md "Algorithms are compositions").
//
// A round of every algorithm is: choose participants → local training (a LocalTrainer rule on some columns)
// → optional privatization of the updates → communication. An AlgorithmSpec names the parts; each file in
// fl/algorithms/ defines one spec with the update equations and paper in its header comment. Siblings
// differ in one field (DFedSAM-MGS is DFedSAM with Q > 1 gossip steps).
#pragma once

#include <string>
#include <vector>

#include "plexus/fl/dp_aggregator.h"

namespace plexus::fl {

/// How models are combined after local training.
enum class Communication {
  Server,          ///< x ← Σ_{i∈S} (n_i/n_S) x_i over the sampled set S, broadcast to all (FedAvg)
  Gossip,          ///< X ← W^Q X after training ("adapt then combine"; DFedAvg, DFedSAM, MGS)
  GossipCombineFirst,  ///< X ← W X_old + (X_trained − X_old) ("combine then adapt"; D-PSGD, Lian et al. 2017)
};

struct AlgorithmSpec {
  std::string name;        ///< config value of fl.algorithm
  std::string title;       ///< display name, e.g. "DFedSAM-MGS"
  std::string source;      ///< paper and arXiv id
  Communication communication = Communication::Gossip;
  bool sam = false;             ///< local rule: SAM/ASAM (else SGD)
  bool single_step = false;     ///< exactly one local minibatch step per round (D-PSGD)
  bool requires_momentum = false;  ///< train.momentum must be > 0 (DFedAvgM)
  int64_t min_gossip_steps = 1;    ///< lower bound on fl.gossip_steps (DFedSAM-MGS: 2)
  bool dp = false;                 ///< client-level DP aggregation (DpAggregator, [privacy] table)
  Sparsifier sparsifier = Sparsifier::None;  ///< update sparsification before clipping (DP only)
};

/// All algorithms known to the FL runner, in documentation order.
const std::vector<AlgorithmSpec>& algorithms();

/// The spec named `name`. Throws: Error(Config) naming the valid algorithms and the nearest match.
const AlgorithmSpec& find_algorithm(const std::string& name);

// One function per file in fl/algorithms/.
AlgorithmSpec fedavg_spec();
AlgorithmSpec fedsam_spec();
AlgorithmSpec dpsgd_spec();
AlgorithmSpec dfedavg_spec();
AlgorithmSpec dfedavgm_spec();
AlgorithmSpec dfedsam_spec();
AlgorithmSpec dfedsam_mgs_spec();
AlgorithmSpec dp_fedavg_spec();
AlgorithmSpec dp_fedsam_spec();
AlgorithmSpec dp_fedsam_topk_spec();
AlgorithmSpec fed_smp_randk_spec();
AlgorithmSpec fed_smp_topk_spec();

}  // namespace plexus::fl
