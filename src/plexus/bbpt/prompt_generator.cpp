// BlackVIP-style visual prompt generator over a flat θ. See prompt_generator.h for the equations and θ layout.
#include "plexus/bbpt/prompt_generator.h"

#include <cmath>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::bbpt {

namespace F = torch::nn::functional;

PromptGenerator::PromptGenerator(int64_t channels, int64_t height, int64_t width, GeneratorOptions options,
                                 uint64_t seed)
    : C_(channels), H_(height), W_(width), options_(options) {
  if (C_ < 1 || H_ < 1 || W_ < 1)
    throw Error::config("prompt generator: image shape C×H×W = {}×{}×{} must be positive", C_, H_, W_);
  if (options_.features < 1) throw Error::config("[bbpt] generator_features = {} must be >= 1", options_.features);
  if (options_.hidden < 1) throw Error::config("[bbpt] generator_hidden = {} must be >= 1", options_.hidden);
  if (options_.trigger < 1) throw Error::config("[bbpt] generator_trigger = {} must be >= 1", options_.trigger);
  const int64_t Fe = options_.features, Hd = options_.hidden, t = options_.trigger;

  off_w1_ = 0;                            // W1 [Hd, C+F]
  off_b1_ = off_w1_ + Hd * (C_ + Fe);     // b1 [Hd]
  off_w2_ = off_b1_ + Hd;                 // W2 [C, Hd]
  off_b2_ = off_w2_ + C_ * Hd;            // b2 [C]
  off_trigger_ = off_b2_ + C_;            // T  [C, t, t]
  off_gain_ = off_trigger_ + C_ * t * t;  // G  [C]
  size_ = off_gain_ + C_;

  // Frozen encoder: Kaiming-normal (fan_in = 9C, ReLU gain √2), drawn once in row-major order.
  encoder_ = torch::empty({Fe, C_, 3, 3}, torch::kFloat32);
  Rng rng(seed, "bbpt_encoder");
  const double scale = std::sqrt(2.0 / (9.0 * static_cast<double>(C_)));
  float* e = encoder_.data_ptr<float>();
  for (int64_t i = 0; i < encoder_.numel(); ++i) e[i] = static_cast<float>(scale * rng.normal());
}

torch::Tensor PromptGenerator::initial(uint64_t seed) const {
  torch::Tensor theta = torch::zeros({size_}, torch::kFloat32);  // b1, W2, b2, T, G stay 0 → prompt(θ0) = 0
  Rng rng(seed, "bbpt_generator_init");
  const int64_t n_w1 = off_b1_ - off_w1_;
  const double scale = 0.1 / std::sqrt(static_cast<double>(C_ + options_.features));  // 0.1·N(0, 1/fan_in)
  float* th = theta.data_ptr<float>();
  for (int64_t i = 0; i < n_w1; ++i) th[off_w1_ + i] = static_cast<float>(scale * rng.normal());
  return theta;
}

torch::Tensor PromptGenerator::encode(const torch::Tensor& images) const {
  return encode(images, torch::TensorOptions().device(images.device()).dtype(torch::kFloat32));
}

torch::Tensor PromptGenerator::encode(const torch::Tensor& images, const torch::TensorOptions& like) const {
  if (images.dim() != 4 || images.size(1) != C_ || images.size(2) != H_ || images.size(3) != W_)
    throw Error::data("prompt generator: images must be [B,{},{},{}], got {} dims{}", C_, H_, W_, images.dim(),
                      images.dim() == 4 ? fmt::format(" [{},{},{},{}]", images.size(0), images.size(1),
                                                      images.size(2), images.size(3))
                                        : std::string());
  const auto dtype = torch::typeMetaToScalarType(like.dtype());
  const torch::Tensor x = images.to(like.device(), dtype);                              // [B,C,H,W]
  const torch::Tensor E = encoder_.to(like.device(), dtype);                            // [F,C,3,3]
  const torch::Tensor z = torch::relu(F::conv2d(x, E, F::Conv2dFuncOptions().padding(1)));  // [B,F,H,W]
  return torch::cat({x, z}, 1);                                                         // [B,C+F,H,W]
}

torch::Tensor PromptGenerator::prompt_from_encoded(const torch::Tensor& theta, const torch::Tensor& encoded) const {
  PLEXUS_CHECK(theta.dim() == 1 && theta.size(0) == size_, "generator θ must be [P = {}], got {} dims, {} elements",
               size_, theta.dim(), theta.numel());
  const int64_t Fe = options_.features, Hd = options_.hidden, t = options_.trigger;
  if (encoded.dim() != 4 || encoded.size(1) != C_ + Fe || encoded.size(2) != H_ || encoded.size(3) != W_)
    throw Error::data("prompt generator: encoded input must be [B,{},{},{}] (encode() output)", C_ + Fe, H_, W_);
  const torch::Tensor x = encoded.to(theta.device(), theta.scalar_type());
  // Views into θ: gradients flow back to the right slice.
  const torch::Tensor w1 = theta.narrow(0, off_w1_, Hd * (C_ + Fe)).view({Hd, C_ + Fe, 1, 1});
  const torch::Tensor b1 = theta.narrow(0, off_b1_, Hd);
  const torch::Tensor w2 = theta.narrow(0, off_w2_, C_ * Hd).view({C_, Hd, 1, 1});
  const torch::Tensor b2 = theta.narrow(0, off_b2_, C_);
  const torch::Tensor trig = theta.narrow(0, off_trigger_, C_ * t * t).view({1, C_, t, t});
  const torch::Tensor gain = theta.narrow(0, off_gain_, C_).view({1, C_, 1, 1});

  const torch::Tensor h = torch::tanh(F::conv2d(x, w1, F::Conv2dFuncOptions().bias(b1)));  // [B,Hd,H,W]
  const torch::Tensor d = F::conv2d(h, w2, F::Conv2dFuncOptions().bias(b2));               // [B,C,H,W]
  const torch::Tensor up = F::interpolate(trig, F::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{H_, W_})
                                                    .mode(torch::kBilinear)
                                                    .align_corners(false));                // [1,C,H,W]
  return d + up + gain * x.narrow(1, 0, C_);  // the skip gain: an affine pixel map (e.g. undoing 1 − v) is in reach
}

torch::Tensor PromptGenerator::prompt(const torch::Tensor& theta, const torch::Tensor& images) const {
  return prompt_from_encoded(theta, encode(images, theta.options()));
}

torch::Tensor PromptGenerator::prompted(const torch::Tensor& theta, const torch::Tensor& images) const {
  return images.to(theta.device(), theta.scalar_type()) + prompt(theta, images);
}

}  // namespace plexus::bbpt
