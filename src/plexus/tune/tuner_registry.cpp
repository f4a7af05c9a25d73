#include "plexus/tune/tuner_registry.h"

#include <fmt/ranges.h>  // fmt::join

#include <algorithm>

#include "plexus/core/error.h"

namespace plexus::tune {

namespace {
std::vector<TunerInfo>& mutable_registry() {
  static std::vector<TunerInfo> r;  // constructed on first use: safe from any static initializer
  return r;
}
}  // namespace

TunerRegistrar::TunerRegistrar(TunerInfo info) {
  auto& r = mutable_registry();
  PLEXUS_CHECK(std::none_of(r.begin(), r.end(), [&](const TunerInfo& t) { return t.name == info.name; }),
               "tuner '{}' registered twice", info.name);
  auto at = std::lower_bound(r.begin(), r.end(), info.name, [](const TunerInfo& t, const std::string& n) { return t.name < n; });
  r.insert(at, std::move(info));
}

const std::vector<TunerInfo>& tuner_registry() { return mutable_registry(); }

std::vector<std::string> tuner_names() {
  std::vector<std::string> n;
  for (const auto& t : tuner_registry()) n.push_back(t.name);
  return n;
}

const TunerInfo& find_tuner(const std::string& name) {
  for (const auto& t : tuner_registry())
    if (t.name == name) return t;
  std::string near = nearest_name(name, tuner_names());
  throw Error::config("[tuner] method = '{}' is unknown{} (registered: {})", name,
                      near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), fmt::join(tuner_names(), ", "));
}

std::vector<TunerVariant> tuner_variants() {
  std::vector<TunerVariant> v;
  for (const auto& t : tuner_registry())
    for (const auto& [label, overrides] : t.variants) v.push_back({label, &t, overrides});
  return v;
}

TunerVariant find_variant(const std::string& label) {
  std::vector<std::string> labels;
  for (const auto& v : tuner_variants()) {
    if (v.label == label) return v;
    labels.push_back(v.label);
  }
  std::string near = nearest_name(label, labels);
  throw Error::config("bench: unknown method '{}'{} (known: {})", label, near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near),
                      fmt::join(labels, ", "));
}

std::shared_ptr<const Tuner> make_tuner(const std::string& name, const std::string& section_toml) {
  const TunerInfo& info = find_tuner(name);
  toml::table tbl = parse_toml(section_toml, "[" + name + "]");
  ConfigTable t(&tbl, name);
  return info.make(t);
}

TuneResult run_tuner(Problem& p, const TunerInfo& info, const Tuner& tuner, const TunerOptions& opt,
                     const GuardOptions& guard, uint64_t seed, const IterationCallback& cb) {
  const bool guarded = info.importance_sampling && guard.enabled;
  const bool fresh = guarded && (guard.data == "fresh" || !tuner.archives_live_traffic());
  TunerOptions inner = opt;
  TuneContext ctx;
  ctx.seed = seed;
  ctx.cb = cb;
  ctx.holdout = guarded && !fresh ? guard.holdout : 0.0;
  // Fresh confirmation traffic is paid from the budget: the tuner runs on what is left after it.
  const int64_t reserve = fresh ? (guard.traffic > 0 ? guard.traffic : opt.traffic) : 0;
  if (reserve > 0) {
    if (opt.total_budget() <= reserve)
      throw Error::config("[guard] fresh confirmation traffic ({} requests) leaves nothing of the budget ({} replays) for the tuner; "
                          "raise tuner.budget or lower guard.traffic", reserve, opt.total_budget());
    inner.budget = opt.total_budget() - reserve;
  }
  TuneResult res = tuner.run(p, inner, ctx);
  if (guarded) apply_guard(p, res, opt, guard, seed, cb);
  return res;
}

}  // namespace plexus::tune
