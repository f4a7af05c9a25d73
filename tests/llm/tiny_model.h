// The tiny DeepSeek-V3 model of configs/dsv3_tiny.toml (every feature on, milliseconds per step), for tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "plexus/core/config.h"
#include "plexus/llm/config.h"
#include "plexus/llm/model.h"

namespace plexus::test {

inline std::string tiny_config_path() { return std::string(PLEXUS_SOURCE_DIR) + "/configs/dsv3_tiny.toml"; }

/// ModelArgs of the tiny model.
inline llm::ModelArgs tiny_model() { return llm::load_model_args(tiny_config_path()); }

/// Its [model] table as TOML text, to paste into a test config; `max_seq_len` > 0 replaces the file's.
inline std::string tiny_model_toml(int64_t max_seq_len = 0) {
  auto root = load_toml(tiny_config_path());
  toml::table t;
  t.insert("model", *root["model"].as_table());
  if (max_seq_len > 0) t["model"].as_table()->insert_or_assign("max_seq_len", max_seq_len);
  return to_toml_string(t);
}

/// A model's parameters as the (name, tensor) pairs AdamW takes.
inline std::vector<std::pair<std::string, torch::Tensor>> named(llm::Transformer& m) {
  std::vector<std::pair<std::string, torch::Tensor>> ps;
  for (auto& p : m->named_parameters()) ps.emplace_back(p.key(), p.value());
  return ps;
}

}  // namespace plexus::test
