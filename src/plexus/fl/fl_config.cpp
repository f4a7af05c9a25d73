#include "plexus/fl/fl_config.h"

#include <cmath>

#include "plexus/fl/algorithm.h"

namespace plexus::fl {

const OptionSchema<RunOptions>& RunOptions::schema() {
  static const auto s =
      OptionSchema<RunOptions>("run")
          .include_base(plexus::RunOptions::schema())
          .key("checkpoint_every", &RunOptions::checkpoint_every,
               "write `checkpoints/round_<t>.pt` every this many rounds (0 = only after the last round)", ">= 0")
          .key("keep_checkpoints", &RunOptions::keep_checkpoints,
               "newest checkpoints kept; older ones are deleted only after a newer one is in place", ">= 1")
          .key("client_batching", &RunOptions::client_batching,
               "train and evaluate all clients of a round as one batched computation (docs/batching.md): \"on\", "
               "\"off\", or \"auto\" = on for CUDA with an mlp/cnn model",
               Allowed::choices({"auto", "on", "off"}))
          .key("cuda_graphs", &RunOptions::cuda_graphs,
               "run each batched local step as a captured CUDA graph (docs/batching.md): \"auto\" = when the "
               "batched engine runs on CUDA and plexus was built against a CUDA LibTorch, \"on\" (an error "
               "otherwise), \"off\" (eager launches; same results up to fp rounding)",
               Allowed::choices({"auto", "on", "off"}));
  return s;
}

RunOptions RunOptions::parse(ConfigTable& t) {
  auto o = schema().parse(t);
  plexus::RunOptions::check_name(t, o.name);
  return o;
}

const OptionSchema<FlOptions>& FlOptions::schema() {
  static const auto s =
      OptionSchema<FlOptions>("fl")
          .key("algorithm", &FlOptions::algorithm, "the FL algorithm (docs/algorithms.md, docs/pfl.md)",
               Allowed::choices([] { return algorithm_names(); }, "see `plexus fl algorithms`"))
          .key("clients", &FlOptions::clients, "N clients", "[2, 100000]")
          .key("rounds", &FlOptions::rounds, "T communication rounds (`--resume` may raise it)", "[1, 10000000]")
          .key("client_fraction", &FlOptions::client_fraction,
               "server FL: m = max(1, round(C·N)) sampled per round; Poisson DP sampling: the rate q", "(0, 1]")
          .key("gossip_steps", &FlOptions::gossip_steps, "Q gossip steps per round (dfedsam_mgs: ≥ 2)", "[1, 1000]")
          .key("eval_every", &FlOptions::eval_every, "evaluate every this many rounds and at the last round", ">= 1")
          .key("server_lr", &FlOptions::server_lr,
               "η_g: global step size of SCAFFOLD's server update x ← x + η_g·mean(Δy)", "(0, 100]");
  return s;
}

FlOptions FlOptions::parse(ConfigTable& t) { return schema().parse(t); }

std::vector<SectionDoc> config_docs() {
  return {section_doc("fl", RunOptions::schema()),       section_doc("fl", data::DataOptions::schema()),
          section_doc("fl", nn::ModelOptions::schema()),  section_doc("fl", FlOptions::schema()),
          section_doc("fl", TopologyOptions::schema()),   section_doc("fl", LocalOptions::schema()),
          section_doc("fl", PrivacyOptions::schema()),    section_doc("fl", PersonalizationOptions::schema()),
          section_doc("fl", BbptOptions::schema())};
}

FlConfig FlConfig::parse(const toml::table& root) {
  check_sections(root, {"run", "data", "model", "fl", "topology", "train", "privacy", "personalization", "bbpt"});
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
  // resolved keys are recorded only where they apply. The optional tables belong to one family each:
  // [privacy] to the private algorithms, [personalization] to the personalized ones.
  ConfigTable pt(section_table(root, "personalization"), "personalization");
  c.personalization = PersonalizationOptions::parse(pt);
  const Algorithm& algo = find_algorithm(c.fl.algorithm);
  if (algo.family == Family::Personalized) {
    c.resolved.insert_or_assign("personalization", pt.resolved());
  } else if (root.contains("personalization")) {
    throw Error::config("[personalization] is set but fl.algorithm = \"{}\" is not personalized; use one of {}, or "
                        "remove [personalization]", c.fl.algorithm, name_list(algorithm_names(Family::Personalized)));
  }
  ConfigTable bt(section_table(root, "bbpt"), "bbpt");  // parsed for every algorithm, as [personalization]
  c.bbpt = BbptOptions::parse(bt);
  if (algo.family == Family::BlackBox) {
    BbptOptions::check(bt, c.bbpt);
    c.resolved.insert_or_assign("bbpt", bt.resolved());
  } else if (root.contains("bbpt")) {
    throw Error::config("[bbpt] is set but fl.algorithm = \"{}\" is not a black-box prompt-tuning algorithm; use "
                        "one of {}, or remove [bbpt]", c.fl.algorithm, name_list(algorithm_names(Family::BlackBox)));
  }
  if (algo.family != Family::Private && root.contains("privacy")) {
    throw Error::config("[privacy] is set but fl.algorithm = \"{}\" is not private; use {}, or remove [privacy]",
                        c.fl.algorithm, name_list(algorithm_names(Family::Private)));
  }
  if (algo.check) algo.check(c);
  return c;
}

}  // namespace plexus::fl
