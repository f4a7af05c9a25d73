// Models: output shapes, parameter counts against closed forms and published counts, no buffers,
// forward/backward, deterministic parameter order, errors on impossible shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/nn/models.h"

using plexus::nn::make_model;
using plexus::nn::ModelOptions;
using plexus::nn::parameter_count;

namespace {

ModelOptions opts(std::string name, int64_t width = 64, int64_t groups = 32) {
  ModelOptions o;
  o.name = std::move(name);
  o.width = width;
  o.groups = groups;
  return o;
}

// Forward a batch of 2 and backprop the sum of logits; every parameter must get a finite gradient.
void check_forward_backward(plexus::nn::Model& m, std::array<int64_t, 3> s, int64_t classes) {
  auto x = torch::randn({2, s[0], s[1], s[2]});
  auto y = m.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, classes}));
  torch::nn::functional::cross_entropy(y, torch::tensor({0, 1})).backward();
  for (const auto& p : m.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

}  // namespace

TEST(Models, CnnParameterCountFmnistClosedForm) {
  // conv 1·32·25+32, conv 32·64·25+64, FC 1024·512+512 (28→24→12→8→4: 64·4·4 = 1024), head 512·10+10.
  auto m = make_model(opts("cnn"), {1, 28, 28}, 10);
  EXPECT_EQ(parameter_count(*m), 832 + 51264 + 524800 + 5130);
  EXPECT_EQ(m->head_prefix(), "output_layer");
  EXPECT_EQ(m->named_parameters().size(), 8u);
  EXPECT_EQ(m->named_parameters()[0].key(), "conv2d_1.weight");
  EXPECT_EQ(m->named_parameters()[7].key(), "output_layer.bias");
}

TEST(Models, CnnParameterCountCifarClosedForm) {
  // 32→28→14→10→5: FC input 64·5·5 = 1600 as the reference's padded EMNIST CNN.
  auto m = make_model(opts("cnn"), {3, 32, 32}, 62);
  EXPECT_EQ(parameter_count(*m), (3 * 32 * 25 + 32) + 51264 + (1600 * 512 + 512) + (512 * 62 + 62));
}

TEST(Models, MlpParameterCountClosedForm) {
  auto m = make_model(opts("mlp"), {1, 28, 28}, 10);
  EXPECT_EQ(parameter_count(*m), (784 * 200 + 200) + (200 * 200 + 200) + (200 * 10 + 10));
  ModelOptions o = opts("mlp");
  o.hidden = {};  // logistic regression
  EXPECT_EQ(parameter_count(*make_model(o, {3, 32, 32}, 10)), 3072 * 10 + 10);
}

TEST(Models, Vgg11ParameterCountMatchesPublishedConvCount) {
  // VGG-11 (cfg A) convolutions on 3 channels have 9,220,480 weights+biases (torchvision vgg11 features);
  // GroupNorm adds 2 per channel: 2·(64+128+256+256+4·512) = 5,504; classifier 512·10+10.
  auto m = make_model(opts("vgg11"), {3, 32, 32}, 10);
  EXPECT_EQ(parameter_count(*m), 9220480 + 5504 + 5130);
  EXPECT_EQ(m->head_prefix(), "classifier");
  EXPECT_EQ(m->named_parameters()[0].key(), "features.0.weight");  // reference Sequential indices
  EXPECT_EQ(m->named_parameters()[2].key(), "features.1.weight");  // GroupNorm after the conv
  // 28×28 (ceil-mode pooling ends at 1×1): only the first conv changes (1 input channel).
  auto f = make_model(opts("vgg11"), {1, 28, 28}, 10);
  EXPECT_EQ(parameter_count(*f), 9220480 - 2 * 64 * 9 + 5504 + 5130);
}

TEST(Models, ResNet18ParameterCountMatchesPublished) {
  // kuangliu CIFAR ResNet-18 with BatchNorm has 11,173,962 parameters for 10 classes; GroupNorm has the same
  // affine parameters (weight+bias per channel), so the count is unchanged.
  auto m = make_model(opts("resnet18"), {3, 32, 32}, 10);
  EXPECT_EQ(parameter_count(*m), 11173962);
  EXPECT_EQ(m->head_prefix(), "linear");
  EXPECT_EQ(parameter_count(*make_model(opts("resnet18"), {3, 32, 32}, 100)), 11173962 - 5130 + 51300);
  EXPECT_EQ(parameter_count(*make_model(opts("resnet18"), {1, 28, 28}, 10)), 11173962 - 2 * 64 * 9);
  bool has_shortcut_norm = false;
  for (const auto& p : m->named_parameters()) has_shortcut_norm |= p.key() == "layer2.0.shortcut.1.weight";
  EXPECT_TRUE(has_shortcut_norm);
}

TEST(Models, NoBuffersInAnyModel) {
  for (const char* name : {"mlp", "cnn", "vgg11", "resnet18"}) {
    auto m = make_model(opts(name, 8, 4), {3, 32, 32}, 10);
    EXPECT_TRUE(m->buffers().empty()) << name;
  }
}

TEST(Models, ForwardBackwardShapesFmnistAndCifar) {
  torch::manual_seed(0);
  for (const char* name : {"mlp", "cnn", "vgg11", "resnet18"}) {
    for (std::array<int64_t, 3> s : {std::array<int64_t, 3>{1, 28, 28}, std::array<int64_t, 3>{3, 32, 32}}) {
      SCOPED_TRACE(std::string(name) + " C=" + std::to_string(s[0]));
      auto m = make_model(opts(name, 8, 4), s, 10);
      check_forward_backward(*m, s, 10);
      bool head_found = false;
      for (const auto& p : m->named_parameters()) head_found |= p.key().rfind(m->head_prefix() + ".", 0) == 0;
      EXPECT_TRUE(head_found);
    }
  }
}

TEST(Models, SameSeedSameParameters) {
  for (const char* name : {"cnn", "vgg11", "resnet18"}) {
    torch::manual_seed(7);
    auto a = make_model(opts(name, 8, 4), {3, 32, 32}, 10);
    torch::manual_seed(7);
    auto b = make_model(opts(name, 8, 4), {3, 32, 32}, 10);
    auto pa = a->named_parameters(), pb = b->named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
      EXPECT_EQ(pa[i].key(), pb[i].key());
      EXPECT_TRUE(torch::equal(pa[i].value(), pb[i].value())) << pa[i].key();
    }
  }
}

TEST(Models, VggInitMatchesReference) {
  // Linear N(0, 0.01) with zero bias; conv biases zero; Kaiming-normal fan_out: std = sqrt(2 / (out·9)).
  torch::manual_seed(1);
  auto m = make_model(opts("vgg11"), {3, 32, 32}, 10);
  auto params = m->named_parameters();
  EXPECT_EQ(params["classifier.bias"].abs().max().item<float>(), 0.0f);
  EXPECT_NEAR(params["classifier.weight"].std().item<double>(), 0.01, 0.001);  // 5120 samples: ±~1% rel. error
  EXPECT_EQ(params["features.0.bias"].abs().max().item<float>(), 0.0f);
  // features.25 = 512→512 conv: 2.36M samples, std estimate within 0.5%.
  EXPECT_NEAR(params["features.25.weight"].std().item<double>(), std::sqrt(2.0 / (512 * 9)), 1e-4);
}

TEST(Models, ErrorsOnBadInput) {
  auto expect_config = [](auto&& fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "no error";
    } catch (const plexus::Error& e) {
      EXPECT_EQ(e.kind(), plexus::ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_config([] { make_model(opts("cnn"), {1, 8, 8}, 10); }, "16x16");
  // 14x14 (LEAF-size crops): (14−4)/2 = 5, (5−4)/2 = 0 leaves no map, which once reached the init as fan_in 0.
  expect_config([] { make_model(opts("cnn"), {1, 14, 14}, 10); }, "16x16");
  expect_config([] { make_model(opts("vgg11", 8, 32), {3, 32, 32}, 10); }, "groups");
  expect_config([] { make_model(opts("lenet"), {3, 32, 32}, 10); }, "lenet");
  expect_config([] { make_model(opts("cnn"), {3, 32, 32}, 0); }, "classes");
}

TEST(Models, ParseOptions) {
  auto root = plexus::parse_toml("[model]\nname = \"resnet18\"\nwidth = 16\ngroups = 8\n");
  plexus::ConfigTable t(root["model"].as_table(), "model");
  auto o = ModelOptions::parse(t);
  EXPECT_EQ(o.name, "resnet18");
  EXPECT_EQ(o.width, 16);
  EXPECT_EQ(o.groups, 8);
  auto bad = plexus::parse_toml("[model]\nname = \"cnn\"\nwidht = 16\n");
  plexus::ConfigTable tb(bad["model"].as_table(), "model");
  EXPECT_THROW(ModelOptions::parse(tb), plexus::Error);
}
