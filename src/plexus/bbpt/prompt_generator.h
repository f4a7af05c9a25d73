// The visual prompt generator of Fed-BBPT's image clients: a small BlackVIP-style "coordinator" (Oh et al.,
// CVPR 2023, arXiv 2303.14773, §3.2; trainers/visual_prompters.py), written as a function of one flat parameter
// vector θ [P] so θ can be a row of the FL engine's state X [N,P] and be optimised by SPSA-GC (spsa.h).
//
//   z      = ReLU(conv3x3(x; E))                     frozen encoder E [F,C,3,3], padding 1, no bias   [B,F,H,W]
//   h      = tanh(W1 · [x ; z] + b1)                 1×1 conv, W1 [Hd, C+F], b1 [Hd]                  [B,Hd,H,W]
//   d      = W2 · h + b2                             1×1 conv, W2 [C, Hd],   b2 [C]                   [B,C,H,W]
//   prompt = d + bilinear_up(T → H×W) + G ⊙ x        trigger T [C,t,t], align_corners = false;         [B,C,H,W]
//                                                    skip gain G [C] per channel
//   prompted image = x + prompt
//
// θ layout (row-major, in this order): W1 [Hd·(C+F)], b1 [Hd], W2 [C·Hd], b2 [C], T [C·t·t], G [C];
// P = Hd(C+F) + Hd + C·Hd + 2C + C·t². Example: C = 1, F = 8, Hd = 8, t = 7 → 72 + 8 + 8 + 1 + 49 + 1 = 139.
//
// As in BlackVIP, the decoder (here W1, b1, W2, b2) is learned and the encoder is fixed
// (BlackVIP: a frozen self-supervised ViT; here: random 3×3 filters drawn once from Rng(seed, "bbpt_encoder")
// with Kaiming scale √(2/(9C)), never trained or sent). The trigger T, an input-independent additive pattern in
// the style of plain visual prompting, and the skip gain G (prompt += G ⊙ x, so a per-channel affine map of the
// pixels such as undoing an inversion is one step away instead of a product of small decoder weights) are this
// design's additions to the coordinator. θ0 (initial()) has W2 = 0,
// b2 = 0, T = 0, G = 0, so the initial prompt is exactly 0: training starts from the zero-shot model. W1 is
// 0.1·N(0, 1/(C+F)) so that ∂prompt/∂W2 ≠ 0 at θ0.
// Departure: BlackVIP scales the prompt by p_eps and clips the prompted image to the backbone's input range;
// prompted() adds the raw prompt and leaves any scaling or clipping to the caller.
// Letters: B images, C channels, H×W image size, F encoder features, Hd hidden channels, t trigger side, P |θ|.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace plexus::bbpt {

/// Sizes of the generator (the [bbpt] generator_* keys mirror them).
struct GeneratorOptions {
  int64_t features = 8;  ///< F: frozen 3×3 encoder filters; >= 1
  int64_t hidden = 8;    ///< Hd: hidden channels of the decoder; >= 1
  int64_t trigger = 7;   ///< t: side of the learnable trigger pattern, upsampled to H×W; >= 1
};

class PromptGenerator {
 public:
  /// Builds the layout for C×H×W images and draws the frozen encoder from Rng(seed, "bbpt_encoder")
  /// (E_{f,c,i,j} = √(2/(9C))·N(0,1), drawn in row-major order; on CPU, f32).
  /// Throws: Error(Config) if a size is < 1.
  PromptGenerator(int64_t channels, int64_t height, int64_t width, GeneratorOptions options, uint64_t seed);

  /// P, the number of trainable parameters (the length of θ).
  int64_t size() const { return size_; }

  /// θ0: W1 = 0.1·N(0, 1/(C+F)) from Rng(seed, "bbpt_generator_init"), b1 = W2 = b2 = T = 0, so
  /// prompt(θ0, x) = 0 exactly. Shapes: → [P] f32 on CPU.
  torch::Tensor initial(uint64_t seed) const;

  /// [x ; ReLU(conv3x3(x; E))], the decoder input: computed with the frozen encoder only, so a caller that
  /// evaluates several θ on one batch (SPSA: 2q evaluations) can compute it once and use prompt_from_encoded.
  /// Shapes: images [B,C,H,W] → [B,C+F,H,W] in the dtype and on the device given (f32 on images' device by
  /// default). Throws: Error(Data) if images is not [B,C,H,W] with this generator's C, H, W.
  torch::Tensor encode(const torch::Tensor& images) const;
  torch::Tensor encode(const torch::Tensor& images, const torch::TensorOptions& like) const;

  /// The prompt from an encode() result; differentiable w.r.t. θ (slices of θ are views).
  /// Shapes: theta [P] (f32 or f64, any device), encoded [B,C+F,H,W] → [B,C,H,W] in θ's dtype and device.
  /// Throws: Error(Internal) if theta is not [P]; Error(Data) if encoded has the wrong shape.
  /// Source: BlackVIP §3.2 (coordinator = frozen encoder + trainable decoder), trainers/visual_prompters.py.
  torch::Tensor prompt_from_encoded(const torch::Tensor& theta, const torch::Tensor& encoded) const;

  /// prompt_from_encoded(θ, encode(images)): the additive visual prompt, differentiable w.r.t. θ.
  /// Shapes: theta [P], images [B,C,H,W] (moved to θ's device and dtype) → [B,C,H,W].
  /// Throws: as encode and prompt_from_encoded.
  torch::Tensor prompt(const torch::Tensor& theta, const torch::Tensor& images) const;

  /// images + prompt(θ, images), unclipped. Shapes: as prompt. Throws: as prompt.
  torch::Tensor prompted(const torch::Tensor& theta, const torch::Tensor& images) const;

  /// The frozen encoder filters E [F,C,3,3] f32 on CPU.
  const torch::Tensor& encoder() const { return encoder_; }
  const GeneratorOptions& options() const { return options_; }

 private:
  int64_t C_, H_, W_;
  GeneratorOptions options_;
  torch::Tensor encoder_;  // [F,C,3,3] f32 CPU, frozen
  // Offsets of the θ blocks (see the layout above) and the total P.
  int64_t off_w1_ = 0, off_b1_ = 0, off_w2_ = 0, off_b2_ = 0, off_trigger_ = 0, off_gain_ = 0, size_ = 0;
};

}  // namespace plexus::bbpt
