// Options, factory, MLP and the papers' CNN. VGG-11 and ResNet-18 live in vgg_resnet.cpp.
#include "plexus/nn/models.h"

#include <numeric>

#include "plexus/core/error.h"
#include "plexus/nn/max_pool.h"

namespace plexus::nn {

const plexus::OptionSchema<ModelOptions>& ModelOptions::schema() {
  static const auto s =
      plexus::OptionSchema<ModelOptions>("model")
          .key("name", &ModelOptions::name,
               "`mlp`, `cnn` (conv5×5-32, pool, conv5×5-64, pool, FC-512, output), `vgg11`, `resnet18` (GroupNorm)",
               plexus::one_of({"mlp", "cnn", "vgg11", "resnet18"}))
          .key("hidden", &ModelOptions::hidden, "MLP hidden sizes (empty = multinomial logistic regression)",
               "[1, 65536]")
          .key("groups", &ModelOptions::groups, "GroupNorm groups (vgg11, resnet18); must divide every channel count",
               "[1, 4096]")
          .key("width", &ModelOptions::width, "base width of vgg11/resnet18 (64 = the papers)", "[1, 4096]");
  return s;
}

ModelOptions ModelOptions::parse(plexus::ConfigTable& t) { return schema().parse(t); }

int64_t parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// ---- MLP ------------------------------------------------------------------------------------------------

Mlp::Mlp(std::array<int64_t, 3> s, const std::vector<int64_t>& hidden, int64_t classes) {
  int64_t in = s[0] * s[1] * s[2];
  for (std::size_t i = 0; i < hidden.size(); ++i) {
    hidden_.push_back(register_module(fmt::format("fc{}", i + 1), torch::nn::Linear(in, hidden[i])));
    in = hidden[i];
  }
  output_layer_ = register_module("output_layer", torch::nn::Linear(in, classes));
}

torch::Tensor Mlp::forward(torch::Tensor x) {
  x = x.flatten(1);  // [B, C·H·W]
  for (auto& l : hidden_) x = torch::relu(l->forward(x));
  return output_layer_->forward(x);  // [B, K]
}

// ---- CNN ------------------------------------------------------------------------------------------------

namespace {
// Spatial size after conv5x5 (no padding) then maxpool2 (floor): (s − 4) / 2.
int64_t conv5_pool2(int64_t s) { return (s - 4) / 2; }
}  // namespace

Cnn::Cnn(std::array<int64_t, 3> s, int64_t classes) {
  const int64_t h = conv5_pool2(conv5_pool2(s[1])), w = conv5_pool2(conv5_pool2(s[2]));
  conv2d_1_ = register_module("conv2d_1", torch::nn::Conv2d(torch::nn::Conv2dOptions(s[0], 32, 5)));
  conv2d_2_ = register_module("conv2d_2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 5)));
  linear_1_ = register_module("linear_1", torch::nn::Linear(64 * h * w, 512));
  output_layer_ = register_module("output_layer", torch::nn::Linear(512, classes));
}

torch::Tensor Cnn::forward(torch::Tensor x) {
  // max_pool2x2 = torch::max_pool2d(·, 2, 2) bit for bit, faster on the CPU (nn/max_pool.h).
  x = torch::relu(max_pool2x2(conv2d_1_->forward(x)));  // [B,32,(H−4)/2,(W−4)/2]
  x = torch::relu(max_pool2x2(conv2d_2_->forward(x)));  // [B,64,h,w]
  x = torch::relu(linear_1_->forward(x.flatten(1)));                // [B,512]
  return output_layer_->forward(x);                                  // [B,K]
}

// ---- Factory --------------------------------------------------------------------------------------------

std::shared_ptr<Model> make_model(const ModelOptions& o, std::array<int64_t, 3> s, int64_t classes) {
  if (classes < 1) throw Error::config("[model] number of classes = {} must be >= 1 (check the dataset)", classes);
  if (s[0] < 1 || s[1] < 1 || s[2] < 1)
    throw Error::config("[model] input shape [{},{},{}] must have positive C, H, W", s[0], s[1], s[2]);
  if (o.name == "mlp") {
    for (int64_t h : o.hidden)
      if (h < 1) throw Error::config("[model] hidden size {} must be > 0 (set model.hidden)", h);
    return std::make_shared<Mlp>(s, o.hidden, classes);
  }
  if (o.name == "cnn") {
    // Two (conv5, pool2) stages need H, W >= 16 to leave at least a 1×1 map: (16−4)/2 = 6, (6−4)/2 = 1.
    if (conv5_pool2(conv5_pool2(s[1])) < 1 || conv5_pool2(conv5_pool2(s[2])) < 1)
      throw Error::config("[model] name = \"cnn\" needs images of at least 16x16, got {}x{} (use name = \"mlp\")",
                          s[1], s[2]);
    return std::make_shared<Cnn>(s, classes);
  }
  if (o.name == "vgg11" || o.name == "resnet18") {
    if (o.width < 1) throw Error::config("[model] width = {} must be > 0", o.width);
    if (o.groups < 1 || o.width % o.groups != 0)
      throw Error::config("[model] groups = {} must divide width = {} (GroupNorm splits every stage's channels; "
                          "e.g. set model.groups = {})",
                          o.groups, o.width, std::gcd(o.groups, o.width));
    if (o.name == "vgg11") return std::make_shared<Vgg11>(s, classes, o.width, o.groups);
    return std::make_shared<ResNet18>(s, classes, o.width, o.groups);
  }
  throw Error::config("[model] unknown name '{}' (choose mlp, cnn, vgg11 or resnet18)", o.name);
}

}  // namespace plexus::nn
