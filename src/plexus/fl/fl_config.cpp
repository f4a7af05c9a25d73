#include "plexus/fl/fl_config.h"

#include <cmath>

#include "plexus/fl/algorithm.h"

namespace plexus::fl {

RunOptions RunOptions::parse(ConfigTable& t) {
  RunOptions o;
  t.get("name", o.name);
  t.get("out_dir", o.out_dir);
  t.get("seed", o.seed);
  t.get("device", o.device);
  t.get("threads", o.threads);
  t.get("checkpoint_every", o.checkpoint_every);
  t.get("keep_checkpoints", o.keep_checkpoints);
  bool tensorboard = false;  // read by RunDir::write_config from the resolved config (docs/experiments.md)
  t.get("tensorboard", tensorboard);
  t.require(o.seed >= 0, "seed", "must be >= 0");
  t.require(o.threads >= 0, "threads", "must be >= 0 (0 = all cores)");
  t.require(o.checkpoint_every >= 0, "checkpoint_every", "must be >= 0 (0 = only at the end)");
  t.require(o.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1");
  t.finish();
  return o;
}

FlOptions FlOptions::parse(ConfigTable& t) {
  FlOptions o;
  t.get_choice("algorithm", o.algorithm, algorithm_names());
  t.get("clients", o.clients);
  t.get("rounds", o.rounds);
  t.get("client_fraction", o.client_fraction);
  t.get("gossip_steps", o.gossip_steps);
  t.get("eval_every", o.eval_every);
  t.get("server_lr", o.server_lr);
  t.require(o.clients >= 2, "clients", "must be >= 2");
  t.require(o.rounds >= 1, "rounds", "must be >= 1");
  t.require(o.client_fraction > 0 && o.client_fraction <= 1, "client_fraction", "must be in (0, 1]");
  t.require(o.gossip_steps >= 1, "gossip_steps", "must be >= 1");
  t.require(o.eval_every >= 1, "eval_every", "must be >= 1");
  t.require(o.server_lr > 0 && std::isfinite(o.server_lr), "server_lr", "must be > 0");
  t.finish();
  return o;
}

FlConfig FlConfig::parse(const toml::table& root) {
  static const std::vector<std::string> kSections = {"run", "data", "model", "fl", "topology", "train", "privacy",
                                                     "personalization"};
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (std::find(kSections.begin(), kSections.end(), key) == kSections.end()) {
      std::string near = nearest_name(key, kSections);
      throw Error::config("unknown table [{}]{}", key,
                          near.empty() ? " (valid: run, data, model, fl, topology, train, privacy, personalization)"
                                       : fmt::format(" (did you mean [{}]?)", near));
    }
    if (!v.is_table()) throw Error::config("'{}' must be a table ([{}])", key, key);
  }
  FlConfig c;
  auto section = [&](const std::string& name, auto&& parse_fn) {
    ConfigTable t(root[name].as_table(), name);
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
  // The optional tables belong to one family each: [privacy] to the private algorithms, [personalization] to
  // the personalized ones.
  const Algorithm& algo = find_algorithm(c.fl.algorithm);
  if (algo.family == Family::Personalized) {
    section("personalization", [&](ConfigTable& t) { c.personalization = PersonalizationOptions::parse(t); });
  } else if (root.contains("personalization")) {
    throw Error::config("[personalization] is set but fl.algorithm = \"{}\" is not personalized; use one of {}, or "
                        "remove [personalization]", c.fl.algorithm, name_list(algorithm_names(Family::Personalized)));
  }
  if (algo.family != Family::Private && root.contains("privacy")) {
    throw Error::config("[privacy] is set but fl.algorithm = \"{}\" is not private; use {}, or remove [privacy]",
                        c.fl.algorithm, name_list(algorithm_names(Family::Private)));
  }
  if (algo.check) algo.check(c);
  return c;
}

}  // namespace plexus::fl
