// The [bbpt] config table: federated black-box prompt tuning (Fed-BBPT, Lin et al. 2023, arXiv 2310.03123;
// docs/bbpt.md). It lives in plexus_fl so FlConfig can parse it; the algorithms are in src/plexus/bbpt/.
#pragma once

#include <string>

#include "plexus/core/options.h"

namespace plexus::fl {

/// Options of [bbpt]. The SPSA-GC values are BlackVIP's (Oh et al. 2023, arXiv 2303.14773, code defaults), the
/// BDPL values BDPL's (Diao et al. 2023, arXiv 2201.08531, code defaults); Fed-BBPT does not publish its own.
struct BbptOptions {
  // --- the black box ---
  std::string model = "";          ///< run directory of the frozen model to serve (an FL run of the source task)
  std::string api_url = "";        ///< "" = start `plexus serve` as a child on a free loopback port; else its URL
  std::string api_keys = "";       ///< with api_url: that server's keys file (clients: limited keys in file order;
                                   ///< evaluation: the first unlimited key)
  int64_t query_budget = 100000;   ///< API calls allowed per client key over the whole run
  int64_t max_batch = 1024;        ///< the served model's largest batch per call
  // --- the downstream task ---
  std::string task = "image";      ///< "image": the [data] set under `shift`, a visual prompt generator;
                                   ///< "text": Brown-corpus genre classification, a discrete prompt (BDPL)
  std::string shift = "invert";    ///< domain shift of the downstream images: none | invert | low_contrast |
                                   ///< rotate | relabel
  int64_t eval_size = 2000;        ///< test images for the global accuracy (0 = the whole test split)
  // --- SPSA-GC (BlackVIP) ---
  double spsa_a = 0.01;            ///< a of the gain a_k = a/(k + o)^α
  double spsa_c = 0.01;            ///< c of the perturbation radius c_k = c/k^γ
  double spsa_alpha = 0.4;         ///< α
  double spsa_gamma = 0.1;         ///< γ
  double spsa_o = 1.0;             ///< o (stability constant)
  int64_t spsa_perturbations = 5;  ///< q perturbations averaged per gradient estimate (2q API calls per step)
  double spsa_momentum = 0.9;      ///< β of the gradient correction m ← βm + ĝ, step ĝ + βm
  // --- the visual prompt generator (BlackVIP's coordinator, small) ---
  int64_t generator_features = 8;  ///< frozen encoder filters
  int64_t generator_hidden = 8;    ///< decoder hidden channels
  int64_t generator_trigger = 7;   ///< side of the learnable trigger pattern (upsampled to the image size)
  // --- BDPL (text) ---
  int64_t prompt_length = 10;      ///< L prompt tokens (BDPL run.sh 10)
  int64_t candidates = 200;        ///< V candidate words per position (BDPL run.sh 200)
  int64_t samples = 20;            ///< I prompts sampled per step, one API call each (BDPL run.sh 20)
  double bdpl_lr = 1e-4;           ///< AdamW learning rate on the probabilities (BDPL run.sh 1e-4)
  double bdpl_clip = 3.0;          ///< gradient-norm clip (BDPL's training loop: 3)
  double bdpl_weight_decay = 0.1;  ///< AdamW weight decay (BDPL run.sh 0.1)
  int64_t passage_words = 40;      ///< text: words per Brown passage (one example)
  std::string prompt_position = "suffix";  ///< text: "suffix" = passage + prompt (next to the label slot of a
                                           ///< causal LM), "prefix" = prompt + passage (BDPL's MLM template)

  static const OptionSchema<BbptOptions>& schema();
  /// Read [bbpt] (for every algorithm, so a typo is reported as one). Throws: Error(Config) on a wrong type, an
  /// out-of-range value or an unknown key.
  static BbptOptions parse(ConfigTable& t);
  /// What a black-box run needs: a model (or an API URL with its keys file). Throws: Error(Config) naming the key.
  static void check(const ConfigTable& t, const BbptOptions& o);
};

}  // namespace plexus::fl
