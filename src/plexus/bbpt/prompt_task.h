// What a black-box prompt-tuning run tunes, on which data, and how it is measured: the part of Fed-BBPT that
// differs between its instantiations (docs/bbpt.md). The round loop (bbpt_runner.h) is the same for both:
//   image  a visual prompt generator θ [P] (prompt_generator.h) on a shifted image data set, tuned by SPSA-GC
//          (BlackVIP) or, as the white-box bound, by true gradients through a local copy of the model
//   text   a discrete prompt: L categorical distributions over V candidate words, θ = the L×V probabilities
//          flattened, tuned by BDPL's policy gradient (text_task.cpp)
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "plexus/bbpt/tuner.h"
#include "plexus/data/federated.h"
#include "plexus/fl/fl_config.h"
#include "plexus/serve/api_client.h"

namespace plexus::bbpt {

class PromptTask {
 public:
  virtual ~PromptTask() = default;
  /// The downstream data: client_train / client_test index the train / test examples.
  virtual const data::FederatedData& data() const = 0;
  /// P, the length of a client's row θ.
  virtual int64_t size() const = 0;
  /// θ0 [P]: the prompt every client starts from (the zero-shot model for images; uniform probabilities for text).
  virtual torch::Tensor initial() const = 0;
  /// Throws Error(Config) if the served model (its /v1/info) cannot answer this task's queries.
  virtual void check_fits(const nlohmann::json& info) const = 0;
  /// Accuracy and loss of prompt θ [P] on test examples `idx`, through `api` in calls of ≤ bbpt.max_batch.
  virtual fl::EvalStats evaluate(const torch::Tensor& theta, const std::vector<int64_t>& idx,
                                 serve::ApiClient& api) const = 0;
  /// The task's black-box tuner (SPSA-GC for images, BDPL for text).
  virtual std::unique_ptr<PromptTuner> zeroth_order_tuner() const = 0;
  /// The white-box bound's tuner. Throws: Error(Config) where the task has none.
  virtual std::unique_ptr<PromptTuner> white_box_tuner() const = 0;
  /// Extra `plexus serve` arguments the task's black box needs (text: its label words); none for images.
  virtual std::vector<std::string> serve_args() const { return {}; }
  /// One line for the log, e.g. "visual prompt generator".
  virtual std::string describe() const = 0;
};

/// Who answers the queries, for messages: "[bbpt] model" or "the server at bbpt.api_url = <url>".
inline std::string served_by(const fl::FlConfig& cfg) {
  return cfg.bbpt.api_url.empty() ? std::string("[bbpt] model") : "the server at bbpt.api_url = " + cfg.bbpt.api_url;
}

/// The task of `cfg`: "image" (data from [data], shifted by bbpt.shift) or "text" (bbpt.task = "text").
/// Throws: Error(Config|Data) as the data loaders.
std::unique_ptr<PromptTask> make_prompt_task(const fl::FlConfig& cfg);

/// The image task: `cfg`'s data set under bbpt.shift with a PromptGenerator sized for its images.
std::unique_ptr<PromptTask> image_task(const fl::FlConfig& cfg);

/// The text task: Brown-corpus genre classification with a BDPL discrete prompt (text_task.cpp).
std::unique_ptr<PromptTask> text_task(const fl::FlConfig& cfg);

}  // namespace plexus::bbpt
