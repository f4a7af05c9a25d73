// The evaluator of personalized FL: each client's own model on its own local test set, measured twice in an
// evaluated round (the personalized-FL protocol of pfl-research and the DFedPGP reference code):
//   before: z_i after aggregation, before local training (the number the DFedPGP reference code reports)
//   after:  z_i' after local training; with fine-tuning (FedAvg-FT, FedBABU) a copy is first fine-tuned on the
//           client's training examples (head or all columns, K_v = head_epochs epochs at η_v = lr_head·decay^t,
//           stream ("finetune", client, round)), the personalized model of those algorithms
//   consensus distance (1/N) Σ_i ||z_i − z̄||² of the communicated columns, every round
// z_i are the rows of `models()`: the communicator's models (push-sum: de-biased), or Ditto's personal models.
// Columns: lr_head, lr_body (the personalized step sizes of the round), local_acc_mean, local_acc_std ("after"),
// before_acc_mean, before_acc_std, consensus_distance.
// Summary: personal_parameters, final_/best_ values of both accuracies, final_consensus_distance.
#pragma once

#include <cmath>
#include <functional>
#include <optional>

#include "plexus/fl/parts.h"
#include "plexus/fl/run_support.h"

namespace plexus::fl {

class PersonalizedEvaluator : public Evaluator {
 public:
  /// `models`: the [N,P] models to measure; `communicated`: columns of the consensus distance;
  /// `finetune`: columns fine-tuned before the "after" measurement (nullopt: none; empty: every column).
  PersonalizedEvaluator(Session& s, std::function<torch::Tensor()> models, std::vector<ColumnRange> communicated,
                        std::optional<std::vector<ColumnRange>> finetune = std::nullopt);
  void before_training(int64_t round, bool evaluate) override;
  void after_training(int64_t round, bool evaluate) override;
  void columns(Row& row) const override;
  void summary(Row& sum, const Rows& rows) const override;
  std::string progress(bool evaluated) const override;

  /// Accuracy of row `x` [P] of `client` on its test set, fine-tuned first when `finetune` (see above).
  EvalStats evaluate_client(LocalTrainer& trainer, int64_t client, int64_t round, const torch::Tensor& x,
                            bool finetune) const;

 private:
  MeanStd measure(int64_t round, bool finetune) const;

  Session& s_;
  std::function<torch::Tensor()> models_;
  std::vector<ColumnRange> communicated_;
  std::optional<std::vector<ColumnRange>> finetune_;
  int64_t round_ = 0;
  MeanStd before_, after_;
};

}  // namespace plexus::fl
