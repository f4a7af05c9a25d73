#include "plexus/fl/fl_config.h"

#include <cmath>

#include "plexus/fl/algorithm.h"
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

const OptionSchema<RunOptions>& RunOptions::schema() {
  static const auto s =
      OptionSchema<RunOptions>("run")
          .include_base(plexus::RunOptions::schema())
          .key("checkpoint_every", &RunOptions::checkpoint_every,
               "write `checkpoints/round_<t>.pt` every this many rounds (0 = only after the last round)", ">= 0")
          .key("keep_checkpoints", &RunOptions::keep_checkpoints,
               "newest checkpoints kept; older ones are deleted only after a newer one is in place", ">= 1");
  return s;
}

RunOptions RunOptions::parse(ConfigTable& t) {
  auto o = schema().parse(t);
  plexus::RunOptions::check_name(t, o.name);
  return o;
}

static std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const auto& a : algorithms()) names.push_back(a.name);
  for (const auto& a : pfl_algorithms()) names.push_back(a.name);
  return names;
}

const OptionSchema<FlOptions>& FlOptions::schema() {
  static const auto s =
      OptionSchema<FlOptions>("fl")
          .key("algorithm", &FlOptions::algorithm, "the FL algorithm (docs/algorithms.md, docs/pfl.md)",
               Allowed::choices(algorithm_names, "see `plexus fl algorithms`"))
          .key("clients", &FlOptions::clients, "N clients", "[2, 100000]")
          .key("rounds", &FlOptions::rounds, "T communication rounds (`--resume` may raise it)", "[1, 10000000]")
          .key("client_fraction", &FlOptions::client_fraction,
               "server FL: m = max(1, round(C·N)) sampled per round; Poisson DP sampling: the rate q", "(0, 1]")
          .key("gossip_steps", &FlOptions::gossip_steps, "Q gossip steps per round (dfedsam_mgs: ≥ 2)", "[1, 1000]")
          .key("eval_every", &FlOptions::eval_every, "evaluate every this many rounds and at the last round", ">= 1");
  return s;
}

FlOptions FlOptions::parse(ConfigTable& t) {
  FlOptions o = schema().parse(t);
  if (is_personalized(o.algorithm)) return o;
  const auto& spec = find_algorithm(o.algorithm);
  t.require(o.gossip_steps >= spec.min_gossip_steps, "gossip_steps",
            fmt::format("{} needs at least {} gossip steps (use dfedsam for Q = 1)", spec.title, spec.min_gossip_steps));
  return o;
}

std::vector<SectionDoc> config_docs() {
  return {section_doc("fl", RunOptions::schema()),       section_doc("fl", data::DataOptions::schema()),
          section_doc("fl", nn::ModelOptions::schema()),  section_doc("fl", FlOptions::schema()),
          section_doc("fl", TopologyOptions::schema()),   section_doc("fl", LocalOptions::schema()),
          section_doc("fl", PrivacyOptions::schema()),    section_doc("fl", PersonalizationOptions::schema())};
}

FlConfig FlConfig::parse(const toml::table& root) {
  check_sections(root, {"run", "data", "model", "fl", "topology", "train", "privacy", "personalization"});
  FlConfig c;
  auto section = [&](const std::string& name, auto&& parse_fn) {
    ConfigTable t(section_table(root, name), name);
    parse_fn(t);
    c.resolved.insert_or_assign(name, t.resolved());
  };
  section("run", [&](ConfigTable& t) { c.run = RunOptions::parse(t); });
  section("data", [&](ConfigTable& t) { c.data = data::DataOptions::parse(t); });
  section("model", [&](ConfigTable& t) { c.model = nn::ModelOptions::parse(t); });
  section("fl", [&](ConfigTable& t) { c.fl = FlOptions::parse(t); });
  section("topology", [&](ConfigTable& t) { c.topology = TopologyOptions::parse(t); });
  section("train", [&](ConfigTable& t) { c.train = LocalOptions::parse(t); });
  section("privacy", [&](ConfigTable& t) { c.privacy = PrivacyOptions::parse(t); });
  // Parsed for every algorithm, so a typo in it is reported as such before the "is set but" check below; its
  // resolved keys are recorded only where they apply.
  ConfigTable pt(section_table(root, "personalization"), "personalization");
  c.personalization = PersonalizationOptions::parse(pt);
  if (is_personalized(c.fl.algorithm)) {
    c.resolved.insert_or_assign("personalization", pt.resolved());
    if (root.contains("privacy")) {
      throw Error::config("[privacy] is set but fl.algorithm = \"{}\" is a personalized algorithm without DP; "
                          "remove [privacy]", c.fl.algorithm);
    }
    if (find_pfl_algorithm(c.fl.algorithm).requires_momentum && c.train.momentum <= 0) {
      throw Error::config("[train] momentum = {}: {} needs heavy-ball momentum > 0 (set train.momentum=0.9)",
                          c.train.momentum, c.fl.algorithm);
    }
    return c;
  }
  if (root.contains("personalization")) {
    throw Error::config("[personalization] is set but fl.algorithm = \"{}\" is not personalized; use one of "
                        "dfedalt, dfedsalt, dfedpgp, local, fedavg_ft, fedper, fedrep, fedbabu, pfl_dfedavgm, ditto, or "
                        "remove [personalization]", c.fl.algorithm);
  }

  const auto& spec = find_algorithm(c.fl.algorithm);
  if (!spec.dp && root.contains("privacy")) {
    throw Error::config("[privacy] is set but fl.algorithm = \"{}\" is not private; use dp_fedavg, dp_fedsam, "
                        "dp_fedsam_topk, fed_smp_randk or fed_smp_topk, or remove [privacy]", c.fl.algorithm);
  }
  if (spec.requires_momentum && c.train.momentum <= 0) {
    throw Error::config("[train] momentum = {}: {} needs heavy-ball momentum > 0 (set train.momentum=0.9, or use "
                        "fl.algorithm=dfedavg)", c.train.momentum, spec.title);
  }
  return c;
}

}  // namespace plexus::fl
