// Accuracy of a visual prompt measured through the black-box API (the only way a Fed-BBPT participant, or its
// server, can measure it). Evaluation uses its own key, whose calls are reported apart from the clients' budgets.
#pragma once

#include <vector>

#include "plexus/bbpt/prompt_generator.h"
#include "plexus/data/dataset.h"
#include "plexus/fl/local_trainer.h"
#include "plexus/serve/api_client.h"

namespace plexus::bbpt {

/// Accuracy and mean cross-entropy of prompt θ on examples `idx` of `split`: the API classifies the prompted
/// images x + prompt(θ; x) in calls of at most `batch` images. Shapes: theta [P]; split.x [n,C,H,W].
/// Throws: Error(Io|Data) from the API.
fl::EvalStats api_evaluate(const PromptGenerator& gen, const torch::Tensor& theta, const data::Dataset& split,
                           const std::vector<int64_t>& idx, serve::ApiClient& api, int64_t batch);

}  // namespace plexus::bbpt
