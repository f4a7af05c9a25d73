#include "plexus/fl/pfl/pfl_config.h"

namespace plexus::fl {

PersonalizationOptions PersonalizationOptions::parse(ConfigTable& t) {
  PersonalizationOptions o;
  t.get("head", o.head);
  t.get("head_epochs", o.head_epochs);
  t.get("body_epochs", o.body_epochs);
  t.get("lr_head", o.lr_head);
  t.get("lr_body", o.lr_body);
  t.get_choice("push_sum", o.push_sum, {"push_sum", "uniform_pull"});
  t.get("steps_min_fraction", o.steps_min_fraction);
  t.get("ditto_lambda", o.ditto_lambda);
  t.require(o.ditto_lambda >= 0, "ditto_lambda", "must be >= 0");
  t.require(o.head_epochs >= 0, "head_epochs", "must be >= 0");
  t.require(o.body_epochs >= 0, "body_epochs", "must be >= 0");
  t.require(o.head_epochs + o.body_epochs >= 1, "body_epochs", "head_epochs + body_epochs must be >= 1");
  t.require(o.lr_head > 0, "lr_head", "must be > 0");
  t.require(o.lr_body > 0, "lr_body", "must be > 0");
  t.require(o.steps_min_fraction > 0 && o.steps_min_fraction <= 1, "steps_min_fraction", "must be in (0, 1]");
  for (const auto& h : o.head) t.require(!h.empty(), "head", "prefixes must be non-empty parameter-name prefixes");
  t.finish();
  return o;
}

}  // namespace plexus::fl
