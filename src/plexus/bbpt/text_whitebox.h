// The text task's white-box bound: the same BDPL prompt distribution p [L,V] and the same AdamW-on-the-simplex
// update, but the gradient is the true gradient of a relaxed prompt through a local copy of the LLM instead of
// BDPL's policy-gradient estimate from API losses (docs/bbpt.md, "Text").
//   prompt position l enters the model as the expected embedding  e_l = Σ_v p_{l,v} E[tok(cand_v)]   [C]
//   loss(p) = mean over the batch of CE(logits of the label words after passage ⊕ e_1..e_L, genre)
//   g = ∂loss/∂p (autograd);  p ← proj_simplex(AdamW(p, clip(g)))    (BdplOptimizer, as the black-box tuner)
// With a one-hot p the relaxed input is exactly the black box's text (when every candidate word is one token),
// so evaluation through the API of the argmax prompt measures what the relaxation learned.
#pragma once

#include <memory>

#include "plexus/bbpt/bdpl.h"
#include "plexus/bbpt/text_corpus.h"
#include "plexus/bbpt/tuner.h"
#include "plexus/fl/fl_config.h"

namespace plexus::bbpt {

/// The white-box tuner of the text task: loads the LLM of `cfg.bbpt.model` (CPU, f32, frozen) and tunes θ = p
/// flattened [L·V] with the relaxed prompt's true gradient. Makes no API queries.
/// Throws (constructor): Error(Io|Data) if bbpt.model is not a loadable LLM run; Error(Config) if a label word
/// or a candidate word encodes to no token. Source: the continuous relaxation of a discrete prompt (the
/// expected embedding), as the white-box reference BDPL compares against (Diao et al. 2023, §4).
std::unique_ptr<PromptTuner> text_white_box_tuner(const fl::FlConfig& cfg, std::shared_ptr<const TextCorpus> corpus,
                                                  const BdplOptions& opt);

}  // namespace plexus::bbpt
