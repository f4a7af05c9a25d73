#include "plexus/fl/pfl/pfl_config.h"

namespace plexus::fl {

const OptionSchema<PersonalizationOptions>& PersonalizationOptions::schema() {
  using P = PersonalizationOptions;
  static const auto s =
      OptionSchema<P>("personalization")
          .key("head", &P::head,
               "parameter-name prefixes of the personal head; empty = the model's final linear layer")
          .key("head_epochs", &P::head_epochs, "K_v: head epochs per round (body frozen); also fine-tuning epochs",
               "[0, 10000]")
          .key("body_epochs", &P::body_epochs, "K_u: body epochs per round (head frozen)", "[0, 10000]")
          .key("lr_head", &P::lr_head, "η_v at round 0 (decays with train.lr_decay)", "(0, 100]")
          .key("lr_body", &P::lr_body, "η_u at round 0 (decays with train.lr_decay)", "(0, 100]")
          .key("push_sum", &P::push_sum,
               "DFedPGP communication: `push_sum` (SGP with de-biasing; the paper) or `uniform_pull` (the authors' code)",
               one_of({"push_sum", "uniform_pull"}))
          .key("steps_min_fraction", &P::steps_min_fraction,
               "client i runs ⌈s_i·K⌉ of each step budget K, s_i ~ U[f, 1] (1 = every client runs all)", "(0, 1]")
          .key("ditto_lambda", &P::ditto_lambda, "Ditto's proximal weight λ: min F_i(v) + (λ/2)‖v − w‖²", "[0, 1e6]");
  return s;
}

PersonalizationOptions PersonalizationOptions::parse(ConfigTable& t) {
  PersonalizationOptions o = schema().parse(t);
  t.require(o.head_epochs + o.body_epochs >= 1, "body_epochs", "head_epochs + body_epochs must be >= 1");
  for (const auto& h : o.head) t.require(!h.empty(), "head", "prefixes must be non-empty parameter-name prefixes");
  return o;
}

}  // namespace plexus::fl
