#include "plexus/fl/bbpt_options.h"

namespace plexus::fl {

const OptionSchema<BbptOptions>& BbptOptions::schema() {
  using B = BbptOptions;
  static const auto s =
      OptionSchema<B>("bbpt")
          .key("model", &B::model,
               "run directory of the frozen black-box model: an FL run of the source task for images (e.g. "
               "configs/bbpt_source.toml), an LLM run for text (configs/bbpt_text_source.toml); required")
          .key("api_url", &B::api_url,
               "\"\" = start `plexus serve` on a free loopback port for the run; else the URL of a running server")
          .key("api_keys", &B::api_keys,
               "with api_url: the server's keys file (clients take its limited keys in file order, evaluation its "
               "first unlimited key)")
          .key("query_budget", &B::query_budget,
               "API calls allowed per client key over the run (with api_url: each key's budget on that server "
               "applies instead)", "[1, 1000000000]")
          .key("max_batch", &B::max_batch, "largest batch per API call (the served model's limit)", "[1, 100000]")
          .key("task", &B::task,
               "\"image\": the [data] set under bbpt.shift with a visual prompt generator; \"text\": Brown genre "
               "classification with a discrete prompt (BDPL)", one_of({"image", "text"}))
          .key("shift", &B::shift, "domain shift of the downstream task's images",
               one_of({"none", "invert", "low_contrast", "rotate", "relabel"}))
          .key("eval_size", &B::eval_size, "test images for the global accuracy (0 = the whole test split)",
               "[0, 10000000]")
          .key("spsa_a", &B::spsa_a, "SPSA-GC gain a_k = a/(k + o)^α: a (BlackVIP 0.01)", "(0, 1000]")
          .key("spsa_c", &B::spsa_c, "SPSA-GC perturbation radius c_k = c/k^γ: c (BlackVIP 0.01)", "(0, 1000]")
          .key("spsa_alpha", &B::spsa_alpha, "α of the gain (BlackVIP 0.4)", "[0, 10]")
          .key("spsa_gamma", &B::spsa_gamma, "γ of the radius (BlackVIP 0.1)", "[0, 10]")
          .key("spsa_o", &B::spsa_o, "o of the gain (BlackVIP 1.0)", "[0, 1e6]")
          .key("spsa_perturbations", &B::spsa_perturbations,
               "q perturbations averaged per estimate, 2q API calls per step (BlackVIP 5)", "[1, 1000]")
          .key("spsa_momentum", &B::spsa_momentum, "β of the gradient correction (BlackVIP 0.9)", "[0, 1)")
          .key("generator_features", &B::generator_features, "filters of the generator's frozen encoder",
               "[1, 256]")
          .key("generator_hidden", &B::generator_hidden, "hidden channels of the generator's decoder", "[1, 256]")
          .key("generator_trigger", &B::generator_trigger, "side of the learnable trigger pattern", "[1, 256]")
          .key("prompt_length", &B::prompt_length, "L discrete prompt tokens (text; BDPL 10)", "[1, 256]")
          .key("candidates", &B::candidates, "V candidate words per prompt position (text; BDPL 200)", "[2, 100000]")
          .key("samples", &B::samples, "I prompts sampled per step, one API call each (text; BDPL 20)", "[2, 10000]")
          .key("bdpl_lr", &B::bdpl_lr, "AdamW learning rate on the prompt probabilities (text; BDPL 1e-4)",
               "(0, 100]")
          .key("bdpl_clip", &B::bdpl_clip, "gradient-norm clip of BDPL's estimate (text; BDPL 3)", "(0, 1e6]")
          .key("bdpl_weight_decay", &B::bdpl_weight_decay, "AdamW weight decay (text; BDPL 0.1)", "[0, 10]")
          .key("passage_words", &B::passage_words, "words per Brown passage, one text example (text)",
               "[4, 100000]")
          .key("prompt_position", &B::prompt_position,
               "where the discrete prompt goes (text): \"suffix\" = passage + prompt, right before the label word "
               "a causal LM predicts; \"prefix\" = prompt + passage (BDPL's masked-LM template)",
               one_of({"suffix", "prefix"}));
  return s;
}

BbptOptions BbptOptions::parse(ConfigTable& t) { return schema().parse(t); }

void BbptOptions::check(const ConfigTable& t, const BbptOptions& o) {
  t.require(!o.api_url.empty() || !o.model.empty(), "model",
            "is required: the run directory of the black-box model (train one with configs/bbpt_source.toml, or configs/bbpt_text_source.toml for bbpt.task = \"text\")");
  t.require(o.api_url.empty() || !o.api_keys.empty(), "api_keys", "is required with api_url (that server's keys file)");
  t.require(o.api_keys.empty() || !o.api_url.empty(), "api_keys",
            "is used only with api_url (a run that starts its own server makes its own keys): set bbpt.api_url or "
            "remove bbpt.api_keys");
}

}  // namespace plexus::fl
