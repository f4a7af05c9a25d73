#include "plexus/core/run_lifecycle.h"

#include <fmt/ranges.h>  // fmt::join (not in fmt/format.h on fmt >= 11)

#include <algorithm>
#include <sstream>

#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/options.h"

namespace plexus {

namespace fs = std::filesystem;

// ---- data fingerprint ----

nlohmann::ordered_json DataFingerprint::to_json() const {
  nlohmann::ordered_json j;
  j["source"] = source;
  j["sizes"] = sizes;
  j["digest"] = digest;
  return j;
}

DataFingerprint DataFingerprint::from_json(const nlohmann::json& j) {
  DataFingerprint f;
  try {
    f.source = j.at("source").get<std::string>();
    f.sizes = j.at("sizes");
    f.digest = j.at("digest").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error::data("data fingerprint lacks a field: {}", e.what());
  }
  return f;
}

FingerprintBuilder::FingerprintBuilder(std::string source) { fp_.source = std::move(source); }

void FingerprintBuilder::add(const std::string& name, const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU).contiguous();
  std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
  fp_.sizes[name] = shape;
  std::string head = fmt::format("{}|{}|{}|", name, c10::toString(c.scalar_type()), fmt::join(shape, "x"));
  h_.update(head);
  h_.update(c.data_ptr(), c.numel() * c.element_size());
}

void FingerprintBuilder::add(const std::string& name, std::string_view bytes, int64_t count) {
  fp_.sizes[name] = fp_.sizes.value(name, int64_t{0}) + count;
  h_.update(fmt::format("{}|{}|", name, bytes.size()));
  h_.update(bytes);
}

DataFingerprint FingerprintBuilder::finish() const {
  DataFingerprint f = fp_;
  f.digest = digest_text(h_.value());
  return f;
}

// ---- config comparison ----

namespace {

bool listed(const std::vector<std::string>& keys, const std::string& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string node_text(const toml::node* n) {
  if (!n) return "<absent>";
  if (auto f = n->as_floating_point()) return toml_literal(f->get());  // 0.9, not 0.90000000000000002
  std::stringstream ss;
  n->visit([&](auto&& v) { ss << v; });
  return ss.str();
}

// A path as the file system sees it: absolute, ".", ".." and symlinks resolved, no trailing slash.
std::string canonical_text(const toml::node* n) {
  if (!n || !n->is_string()) return node_text(n);
  std::string p = n->as_string()->get();
  if (p.empty()) return "''";
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  if (ec) return p;
  std::string s = c.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

void compare_tables(const toml::table* was, const toml::table* now, const std::string& prefix,
                    const ResumeRules& rules) {
  std::vector<std::string> keys;
  if (now) for (const auto& [k, v] : *now) keys.emplace_back(k.str());
  if (was) for (const auto& [k, v] : *was) if (!now || !now->contains(k.str())) keys.emplace_back(k.str());
  for (const auto& key : keys) {
    const std::string full = prefix.empty() ? key : prefix + "." + key;
    if (listed(rules.harmless, full) || listed(rules.extendable, full)) continue;
    const toml::node* a = was ? was->get(key) : nullptr;
    const toml::node* b = now ? now->get(key) : nullptr;
    if ((a && a->is_table()) || (b && b->is_table())) {
      compare_tables(a ? a->as_table() : nullptr, b ? b->as_table() : nullptr, full, rules);
      continue;
    }
    const bool path = listed(rules.paths, full);
    std::string ta = path ? canonical_text(a) : node_text(a), tb = path ? canonical_text(b) : node_text(b);
    if (ta != tb) {
      std::string may;
      for (const auto& k : rules.extendable) may += (may.empty() ? "" : ", ") + k + " (raise only)";
      for (const auto& k : rules.harmless) may += (may.empty() ? "" : ", ") + k;
      throw Error::config("--resume: {} = {} but the run was started with {}; resume with the same config (a resume "
                          "may change only {}) or start a new run.name",
                          full, node_text(b), node_text(a), may.empty() ? "nothing" : may);
    }
  }
}

void check_data(const RunDir& dir, const DataFingerprint& now) {
  const fs::path file = dir.path() / "data.json";
  if (!fs::exists(file)) {
    log_warn("{} is missing (a run from an older plexus?): the data cannot be checked; recording the current data",
             file.string());
    return;
  }
  DataFingerprint was;
  try {
    was = DataFingerprint::from_json(nlohmann::json::parse(read_file(file)));
  } catch (const nlohmann::json::exception& e) {
    throw Error::data("'{}' is unreadable ({}); restore it or start a new run.name", file.string(), e.what());
  }
  // Sizes are compared as unordered objects: data.json is read back with its keys sorted.
  if (was.digest != now.digest || nlohmann::json(was.sizes) != nlohmann::json(now.sizes)) {
    throw Error::data("--resume: the data differ from the run's: now {} (sizes {}, {}) but the run was trained on {} "
                      "(sizes {}, {}); point the data path ({}) back at the original data or start a new run.name",
                      now.source, now.sizes.dump(), now.digest, was.source, was.sizes.dump(), was.digest,
                      "data.path, data.brown_dir or the PLEXUS_* variable");
  }
  if (was.source != now.source) {
    log_info("resume: the data moved from {} to {} (same content, {})", was.source, now.source, now.digest);
  }
}

}  // namespace

void check_resume_config(const toml::table& saved, const toml::table& now, const ResumeRules& rules) {
  compare_tables(&saved, &now, "", rules);
}

ResumePoint start_run(RunDir& dir, const RunSpec& spec, bool resume) {
  PLEXUS_CHECK(spec.config != nullptr, "RunSpec.config is required");
  ResumePoint point;
  if (resume) {
    const fs::path saved = dir.path() / "config.toml";
    if (!fs::exists(saved)) {
      throw Error::data("--resume: '{}' is missing, so the resume cannot be checked; restore it or start a new "
                        "run.name", saved.string());
    }
    check_resume_config(load_toml(saved), *spec.config, spec.rules);
    point.checkpoint = newest_intact_checkpoint(dir.checkpoints());
    if (point.checkpoint.empty()) {
      throw Error::config("--resume: no checkpoint in '{}' (the run stopped before its first one); start it again "
                          "without --resume", dir.checkpoints().string());
    }
    for (const auto& [n, p] : list_checkpoints(dir.checkpoints())) {
      if (p == point.checkpoint) point.done = n;
    }
    if (spec.target < point.done) {
      throw Error::config("--resume: {} = {} but {} {}s are already done ({}); a resume cannot undo work: set {} >= {} "
                          "or start a new run.name",
                          spec.target_key, spec.target, point.done, spec.rules.unit, point.checkpoint.filename().string(),
                          spec.target_key, point.done);
    }
    if (!spec.data.empty()) check_data(dir, spec.data);
    dir.metrics().check_history(spec.rules.unit, point.done);
  }
  dir.write_config(*spec.config);
  if (!spec.data.empty()) atomic_write(dir.path() / "data.json", spec.data.to_json().dump(2) + "\n");
  return point;
}

}  // namespace plexus
