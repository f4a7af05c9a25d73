// Classifiers used by the FL papers (DisPFL / DP-FedSAM / DFedPGP reference code, spec fl_algorithms.md §0):
// an MLP, the papers' small CNN (`cnn_emnist`), VGG-11 and a CIFAR ResNet-18, the latter two with every
// BatchNorm replaced by GroupNorm so a model holds parameters only (no running buffers to gossip or average).
//
// Letters: B batch, C channels, H×W image size, K classes. Every model maps images [B,C,H,W] → logits [B,K].
// Parameter order (named_parameters()) is fixed by construction order and identical across builds, so a
// model can be flattened into one row of the stacked federation state X [N,P].
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plexus/core/options.h"

namespace plexus::nn {

/// Base of every classifier: forward maps images [B,C,H,W] → logits [B, classes].
class Model : public torch::nn::Module {
 public:
  /// Shapes: x [B,C,H,W] f32 → logits [B,K] f32 (un-normalized; apply cross-entropy on top).
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  /// Name prefix (as in named_parameters()) of the final linear layer: the default personal "head"
  /// (`output_layer` for the MLP/CNN, `classifier` for VGG-11, `linear` for ResNet-18; docs/models.md).
  virtual std::string head_prefix() const = 0;
};

/// `[model]` config table.
struct ModelOptions {
  /// Architecture: "mlp" | "cnn" | "vgg11" | "resnet18". Default "cnn".
  std::string name = "cnn";
  /// MLP hidden layer sizes (each > 0; may be empty = multinomial logistic regression). Default {200, 200}.
  std::vector<int64_t> hidden = {200, 200};
  /// GroupNorm groups for vgg11/resnet18; must divide every channel count (width, 2·width, 4·width, 8·width).
  /// Default 32 (as the reference code).
  int64_t groups = 32;
  /// Base width of vgg11/resnet18 (channels of the first stage). 64 = the papers; smaller for CPU tests.
  int64_t width = 64;

  /// Read the `[model]` table. Throws: Error(Config) on unknown keys, unknown names, non-positive sizes.
  static ModelOptions parse(plexus::ConfigTable& t);
  /// The declared keys of [model] (core/options.h).
  static const plexus::OptionSchema<ModelOptions>& schema();
};

/// Build a model for inputs [C,H,W] with `classes` outputs. Parameters are initialised from torch's global
/// generator (the caller seeds it, e.g. torch::manual_seed).
/// Shapes: input_shape = {C,H,W}; the model maps [B,C,H,W] → [B,classes].
/// Throws: Error(Config) on an unknown name, classes < 1, non-positive input dims, an input too small for
/// the architecture (e.g. < 12×12 for the CNN), or GroupNorm groups that do not divide a channel count.
/// Source: DisPFL / DP-FedSAM / DFedPGP `fedml_api/model/cv/{cnn,vgg,resnet}.py` (docs/models.md).
std::shared_ptr<Model> make_model(const ModelOptions& o, std::array<int64_t, 3> input_shape, int64_t classes);

/// Number of scalar parameters of a model (Σ numel over parameters()).
int64_t parameter_count(const torch::nn::Module& m);

// ---- The architectures (exposed for tests and for code that needs a concrete type) ----------------------

/// Fully connected classifier: flatten → [Linear(h) → ReLU]* → Linear(K) named `output_layer`.
/// Hidden layers are named fc1, fc2, … . Init: LibTorch defaults (Kaiming-uniform, as PyTorch).
class Mlp : public Model {
 public:
  Mlp(std::array<int64_t, 3> input_shape, const std::vector<int64_t>& hidden, int64_t classes);
  torch::Tensor forward(torch::Tensor x) override;
  std::string head_prefix() const override { return "output_layer"; }

 private:
  std::vector<torch::nn::Linear> hidden_;
  torch::nn::Linear output_layer_{nullptr};
};

/// The papers' CNN (`cnn_emnist`): conv5x5(C→32)-maxpool2-ReLU, conv5x5(32→64)-maxpool2-ReLU, flatten,
/// Linear(64·h·w → 512)-ReLU, Linear(512 → K) named `output_layer`. No padding: 28×28 → 64·4·4 = 1024 into the
/// FC, 32×32 → 64·5·5 = 1600 (the reference's padded EMNIST input). Layer names as the reference:
/// conv2d_1, conv2d_2, linear_1, output_layer.
class Cnn : public Model {
 public:
  Cnn(std::array<int64_t, 3> input_shape, int64_t classes);
  torch::Tensor forward(torch::Tensor x) override;
  std::string head_prefix() const override { return "output_layer"; }

 private:
  torch::nn::Conv2d conv2d_1_{nullptr}, conv2d_2_{nullptr};
  torch::nn::Linear linear_1_{nullptr}, output_layer_{nullptr};
};

/// VGG-11 (cfg A: w,M,2w,M,4w,4w,M,8w,8w,M,8w,8w,M with w = width) where each conv is 3×3 pad 1 + GroupNorm +
/// ReLU, then `classifier` = one Linear(8w·h·w → K). Max-pools use ceil mode so that 28×28 inputs survive five
/// poolings (28→14→7→4→2→1); for 32×32 this equals the reference's floor mode (32→…→1, classifier 512→K).
/// Parameter names: features.<i>.weight/bias (i = index in the Sequential as the reference), classifier.*.
/// Init as the reference: conv Kaiming-normal (fan_out, ReLU), bias 0; GroupNorm 1/0; Linear N(0, 0.01), bias 0.
class Vgg11 : public Model {
 public:
  Vgg11(std::array<int64_t, 3> input_shape, int64_t classes, int64_t width, int64_t groups);
  torch::Tensor forward(torch::Tensor x) override;
  std::string head_prefix() const override { return "classifier"; }

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};

/// CIFAR ResNet-18 (He et al. 2016; kuangliu-style as the reference): conv3x3(C→w) stride 1 + GN + ReLU (no
/// max-pool), BasicBlock stages [2,2,2,2] with widths w,2w,4w,8w and strides 1,2,2,2, global average pool,
/// `linear` 8w → K. BatchNorm → GroupNorm(groups) everywhere, names kept (bn1, bn2, shortcut.0/1).
/// The reference pools with avg_pool2d(4) on a 4×4 map (32×32 input); we pool adaptively to 1×1, which is the
/// same on 32×32 and 28×28 inputs (both end at 4×4) and also accepts other sizes.
class ResNet18 : public Model {
 public:
  ResNet18(std::array<int64_t, 3> input_shape, int64_t classes, int64_t width, int64_t groups);
  torch::Tensor forward(torch::Tensor x) override;
  std::string head_prefix() const override { return "linear"; }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::GroupNorm bn1_{nullptr};
  torch::nn::Sequential layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr}, layer4_{nullptr};
  torch::nn::Linear linear_{nullptr};
};

}  // namespace plexus::nn
