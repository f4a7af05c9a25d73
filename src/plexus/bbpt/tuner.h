// How one Fed-BBPT client tunes its prompt in a round: the local rule of black-box prompt tuning
// (docs/bbpt.md). A tuner owns no model: SPSA-GC reaches the frozen model only through the client's API key;
// the white-box baseline holds a local copy of it (the upper bound the paper compares with).
//
// Letters: P prompt-generator parameters, B batch size, K local steps per round, q SPSA perturbations.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "plexus/bbpt/prompt_generator.h"
#include "plexus/data/dataset.h"
#include "plexus/fl/fl_config.h"
#include "plexus/nn/models.h"
#include "plexus/serve/api_client.h"

namespace plexus::bbpt {

/// What a client did in one round.
struct TuneStats {
  double loss = 0;             ///< mean training loss over the steps (nats; from the API for black-box tuners)
  int64_t steps = 0;           ///< steps taken (fewer than K when the query budget ran out)
  bool out_of_budget = false;  ///< stopped because the key's remaining calls could not pay for a step
};

/// The queries a client may still make: its key's budget minus what it used (persisted across resumes).
struct QueryAccount {
  int64_t budget = 0;  ///< calls allowed over the run
  int64_t used = 0;    ///< calls made so far
  int64_t left() const { return budget - used; }
};

/// The local rule of black-box prompt tuning.
class PromptTuner {
 public:
  virtual ~PromptTuner() = default;
  /// Tune client `client`'s prompt θ = `theta` [P] in place in round `round` (0-based) on its training
  /// examples `idx` of the session's training set; `m` [P] is the client's correction/momentum row (zeroed by
  /// the caller at the start of the round). `api` is the client's own connection (its own key) and `account`
  /// its query budget; a tuner that needs no API ignores both. Called concurrently for different clients.
  /// Throws: Error(Infeasible) if the loss becomes non-finite; Error(Io|Data) from the API.
  virtual TuneStats tune(int64_t client, int64_t round, torch::Tensor theta, torch::Tensor m,
                         const std::vector<int64_t>& idx, serve::ApiClient& api, QueryAccount& account) = 0;
};

/// SPSA with gradient correction through the API (BlackVIP, Oh et al. 2023, arXiv 2303.14773, §3.3): per step
/// k = t·K + s + 1 the minibatch loss L(θ') = mean cross-entropy that the API returns for the prompted images
/// x + prompt(θ'; x), ĝ = SPSA estimate over q perturbations (2q calls), m ← βm + ĝ, θ ← θ − a_k(ĝ + βm).
/// Streams: minibatches ("batch", client, round), perturbations ("spsa", client, round).
std::unique_ptr<PromptTuner> spsa_gc_tuner(const fl::FlConfig& cfg, std::shared_ptr<const PromptGenerator> gen,
                                           const data::Dataset& train);

/// The white-box upper bound: the same generator trained with true gradients through a local copy of the
/// frozen model, SGD with train.lr (decayed per round), train.momentum and train.weight_decay; no API calls.
std::unique_ptr<PromptTuner> white_box_tuner(const fl::FlConfig& cfg, std::shared_ptr<const PromptGenerator> gen,
                                             const data::Dataset& train, std::shared_ptr<nn::Model> model);

/// The K minibatches (index lists of at most B) a client draws in a round: a fresh shuffle of `idx` per pass,
/// from `rng`. Shapes: idx [n] → K lists. K = train.local_steps, else train.local_epochs · ⌈n/B⌉.
std::vector<std::vector<int64_t>> round_batches(const fl::LocalOptions& o, const std::vector<int64_t>& idx, Rng& rng);

/// The examples `idx` of `split`, in that order: a minibatch or an evaluation chunk.
/// Shapes: split.x [n,C,H,W], split.y [n], idx [B] → {x [B,C,H,W], y [B]}.
std::pair<torch::Tensor, torch::Tensor> select_examples(const data::Dataset& split, std::span<const int64_t> idx);

}  // namespace plexus::bbpt
