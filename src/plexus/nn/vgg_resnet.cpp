// VGG-11 and CIFAR ResNet-18 with GroupNorm (spec fl_algorithms.md §0: DP-FedSAM / DFedPGP
// fedml_api/model/cv/{vgg,resnet}.py, where every BatchNorm is replaced by GroupNorm(32)).
#include "plexus/nn/models.h"

namespace plexus::nn {

namespace {

// Ceil-mode 2×2 max-pool output size: ceil(s/2).
int64_t pool2_ceil(int64_t s) { return (s + 1) / 2; }

// torch.nn.init defaults for a GroupNorm (weight 1, bias 0) are LibTorch's too; nothing to do there.

}  // namespace

// ---- VGG-11 ---------------------------------------------------------------------------------------------

Vgg11::Vgg11(std::array<int64_t, 3> s, int64_t classes, int64_t width, int64_t groups) {
  // cfg 'A' in units of the base width; 0 marks a max-pool ('M').
  const int64_t cfg[] = {1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0};
  features_ = torch::nn::Sequential();
  int64_t in = s[0], h = s[1], w = s[2];
  for (int64_t c : cfg) {
    if (c == 0) {
      features_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2).ceil_mode(true)));
      h = pool2_ceil(h);
      w = pool2_ceil(w);
      continue;
    }
    const int64_t out = c * width;
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, 3).padding(1));
    torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    torch::nn::init::zeros_(conv->bias);
    features_->push_back(conv);
    features_->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, out)));
    features_->push_back(torch::nn::ReLU());
    in = out;
  }
  register_module("features", features_);
  classifier_ = register_module("classifier", torch::nn::Linear(in * h * w, classes));
  torch::nn::init::normal_(classifier_->weight, 0.0, 0.01);
  torch::nn::init::zeros_(classifier_->bias);
}

torch::Tensor Vgg11::forward(torch::Tensor x) {
  x = features_->forward(x);                   // [B, 8w, ceil(H/32), ceil(W/32)]
  return classifier_->forward(x.flatten(1));   // [B, K]
}

// ---- ResNet-18 ------------------------------------------------------------------------------------------

namespace {

/// BasicBlock: conv3x3(stride)-GN-ReLU-conv3x3-GN, plus identity or (conv1x1(stride)-GN) shortcut, then ReLU.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride, int64_t groups) {
    conv1 = register_module(
        "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, planes, 3).stride(stride).padding(1).bias(false)));
    bn1 = register_module("bn1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, planes)));
    conv2 = register_module(
        "conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(planes, planes, 3).stride(1).padding(1).bias(false)));
    bn2 = register_module("bn2", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, planes)));
    shortcut = torch::nn::Sequential();
    if (stride != 1 || in != planes) {
      shortcut->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, planes, 1).stride(stride).bias(false)));
      shortcut->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, planes)));
    }
    register_module("shortcut", shortcut);
  }
  torch::Tensor forward(torch::Tensor x) {
    auto out = torch::relu(bn1->forward(conv1->forward(x)));
    out = bn2->forward(conv2->forward(out));
    out = out + (shortcut->is_empty() ? x : shortcut->forward(x));
    return torch::relu(out);
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::GroupNorm bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential shortcut{nullptr};
};
TORCH_MODULE(BasicBlock);

torch::nn::Sequential make_stage(int64_t& in, int64_t planes, int64_t stride, int64_t groups) {
  torch::nn::Sequential stage;
  for (int64_t s : {stride, int64_t{1}}) {  // two BasicBlocks per stage ([2,2,2,2])
    stage->push_back(BasicBlock(in, planes, s, groups));
    in = planes;
  }
  return stage;
}

}  // namespace

ResNet18::ResNet18(std::array<int64_t, 3> s, int64_t classes, int64_t width, int64_t groups) {
  conv1_ = register_module(
      "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(s[0], width, 3).stride(1).padding(1).bias(false)));
  bn1_ = register_module("bn1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, width)));
  int64_t in = width;
  layer1_ = register_module("layer1", make_stage(in, width, 1, groups));
  layer2_ = register_module("layer2", make_stage(in, 2 * width, 2, groups));
  layer3_ = register_module("layer3", make_stage(in, 4 * width, 2, groups));
  layer4_ = register_module("layer4", make_stage(in, 8 * width, 2, groups));
  linear_ = register_module("linear", torch::nn::Linear(8 * width, classes));
}

torch::Tensor ResNet18::forward(torch::Tensor x) {
  x = torch::relu(bn1_->forward(conv1_->forward(x)));  // [B,w,H,W]
  x = layer1_->forward(x);                              // [B,w,H,W]
  x = layer2_->forward(x);                              // [B,2w,H/2,W/2]
  x = layer3_->forward(x);                              // [B,4w,H/4,W/4]
  x = layer4_->forward(x);                              // [B,8w,H/8,W/8] (4×4 for 28 or 32)
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1); // [B,8w]
  return linear_->forward(x);                           // [B,K]
}

}  // namespace plexus::nn
