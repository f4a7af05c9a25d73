// The [personalization] table of a personalized-FL run (fl.algorithm a personalized algorithm, docs/pfl.md).
// Every key, its default and its range are listed in docs/pfl.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plexus/core/options.h"

namespace plexus::fl {

struct PersonalizationOptions {
  /// Parameter-name prefixes of the personal head (e.g. ["output_layer"]); empty = the model's head_prefix()
  /// (the final linear layer). Everything else is the shared body.
  std::vector<std::string> head = {};
  int64_t head_epochs = 1;   ///< K_v: epochs of head training per round (body frozen); also fine-tuning epochs
  int64_t body_epochs = 5;   ///< K_u: epochs of body training per round (head frozen)
  double lr_head = 0.01;     ///< η_v at round 0 (decays with train.lr_decay)
  double lr_body = 0.1;      ///< η_u at round 0 (decays with train.lr_decay)
  /// DFedPGP communication: "push_sum" (SGP with weights μ, de-biased z = u/μ; the paper) or "uniform_pull"
  /// (each client averages itself and the clients it chose, no μ; the authors' released code).
  std::string push_sum = "push_sum";
  /// Computation heterogeneity: client i runs ⌈s_i · K⌉ of every step budget K, s_i ~ U[f, 1] drawn once per
  /// client from stream "compute_heterogeneity". f = 1 (default): every client runs the full budget.
  double steps_min_fraction = 1.0;
  /// Ditto's proximal weight λ >= 0: personal models minimize F_i(v) + (λ/2)||v − w||² (w = global model).
  double ditto_lambda = 0.1;

  /// Read [personalization]. Throws: Error(Config) on unknown keys, epochs < 0 (both 0), lr <= 0, f ∉ (0, 1].
  static PersonalizationOptions parse(ConfigTable& t);
  /// The declared keys of [personalization] (core/options.h).
  static const OptionSchema<PersonalizationOptions>& schema();
};

}  // namespace plexus::fl
