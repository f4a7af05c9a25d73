// A black-box model: what the model service (api_server.h) exposes of a trained plexus model. A caller sees
// the task description (info) and the logits of its own inputs, never parameters, gradients or activations.
// Two boxes: an image classifier loaded from an FL run directory (the row mean of the federation state X),
// and a causal LLM read as a text classifier through label words (a verbalizer).
//
// Letters (fixed for serve/): B batch, C channels, H×W image size, K classes, T tokens, V vocabulary, N
// clients, P parameters.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plexus/nn/models.h"
#include "plexus/serve/wire.h"

namespace plexus::serve {

class BlackBox {
 public:
  virtual ~BlackBox() = default;

  /// The task as a client needs it: {"task": "image_classification", "input_shape": [C,H,W],
  /// "dtype": "float32", "classes": K, "class_names": [...]} or {"task": "text_classification", "classes": K,
  /// "label_words": [...], "max_seq_len": T}. Holds nothing about the parameters.
  virtual nlohmann::json info() const = 0;

  /// K, the number of classes (columns of logits()).
  virtual int64_t classes() const = 0;

  /// Examples in a request, read without decoding the payload (the server checks its batch limit first).
  /// Throws: RequestError(400) if the request has no readable batch size.
  virtual int64_t batch_size(const nlohmann::json& request) const = 0;

  /// Validate the request and run the model. Thread-safe (forwards are serialized inside).
  /// Shapes: request of B examples → logits [B,K] f32 CPU.
  /// Throws: RequestError(400) for anything malformed (see the box's request format).
  virtual torch::Tensor logits(const nlohmann::json& request) const = 0;
};

/// Image classifier over [B,C,H,W] float32 batches, in the input space the model was trained in (plexus's
/// normalized data: the client normalizes, as it does for its own training).
/// Request: {"shape":[B,C,H,W], "dtype":"float32", "data":"<base64 f32 LE>", "labels":[...] optional}.
class ImageClassifierBox : public BlackBox {
 public:
  /// Serve `model` (put in eval mode, parameters frozen) for inputs [C,H,W] = `input_shape` with `classes`
  /// outputs. `class_names` may be empty (then "0".."K-1").
  /// Throws: Error(Config) if classes < 1, input dims are not positive, or class_names has another length.
  ImageClassifierBox(std::shared_ptr<nn::Model> model, std::array<int64_t, 3> input_shape, int64_t classes,
                     std::vector<std::string> class_names = {});

  nlohmann::json info() const override;
  int64_t classes() const override { return classes_; }
  int64_t batch_size(const nlohmann::json& request) const override;
  /// Shapes: request [B,C,H,W] → [B,K] f32. Throws: RequestError(400) as images_from_wire.
  torch::Tensor logits(const nlohmann::json& request) const override;

  const std::array<int64_t, 3>& input_shape() const { return input_shape_; }
  /// The served model (the white-box baseline trains through a local copy of it; never sent by the server).
  std::shared_ptr<nn::Model> model() const { return model_; }

 private:
  std::shared_ptr<nn::Model> model_;
  std::array<int64_t, 3> input_shape_;
  int64_t classes_;
  std::vector<std::string> class_names_;
  mutable std::mutex forward_mutex_;
};

/// The image box of a plexus FL run directory: config.toml's [model] and [data] tables, the input shape from
/// data.json (else derived from [data]), the class count from the checkpoint's width P, and the newest
/// checkpoints/round_<n>.pt whose X [N,P] rows are the clients' models; the served model is x̄ = mean_i X[i].
/// Shapes: X [N,P] f32 → x̄ [P] bound into the model (nn::ParamLayout).
/// Throws: Error(Io) if the directory, config.toml or a checkpoint is missing; Error(Data) if the checkpoint
/// does not fit the configured model; Error(Config) if config.toml is not an FL run's.
std::shared_ptr<ImageClassifierBox> load_image_box(const std::filesystem::path& run_dir);

/// Which kind of run a directory holds: "image" (config.toml has [fl]), "llm" (an LLM [model] table or a
/// tokenizer.model), else throws. Throws: Error(Io) if there is no config.toml; Error(Config) if neither.
std::string run_kind(const std::filesystem::path& run_dir);

/// A causal LLM read as a text classifier: the logit of label word k is the next-token logit, after the last
/// token of the text, of the first non-blank token of " <word k>". Texts are cut to their last max_seq_len
/// tokens; each text runs on its own (no padding).
/// Request: {"texts": ["...", ...], "labels": [...] optional}.
/// Source: verbalizers as in PET (Schick & Schütze 2021, arXiv:2001.07676 §3) and BBT (Sun et al. 2022,
/// arXiv:2201.03514 §3.1).
class TextVerbalizerBox : public BlackBox {
 public:
  /// Load the LLM run `run_dir` (llm::load_policy, on the CPU) with one label word per class.
  /// Throws: Error(Config) if fewer than two label words are given or two map to the same token;
  /// Error(Io|Data) as load_policy.
  TextVerbalizerBox(const std::filesystem::path& run_dir, std::vector<std::string> label_words);
  ~TextVerbalizerBox() override;

  nlohmann::json info() const override;
  int64_t classes() const override { return static_cast<int64_t>(label_words_.size()); }
  int64_t batch_size(const nlohmann::json& request) const override;
  /// Shapes: request of B texts → [B,K] f32. Throws: RequestError(400) if "texts" is not a non-empty array of
  /// strings or a text encodes to no token.
  torch::Tensor logits(const nlohmann::json& request) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> label_words_;
  mutable std::mutex forward_mutex_;
};

}  // namespace plexus::serve
