// Reading a finished run directory in the Fed-BBPT CLI tests: metrics rows, summary, final prompts.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "plexus/core/checkpoint.h"

namespace plexus::test {

/// Every row of `<dir>/metrics.jsonl`.
inline std::vector<nlohmann::json> read_metrics(const std::filesystem::path& dir) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

/// `<dir>/summary.json`.
inline nlohmann::json read_summary(const std::filesystem::path& dir) {
  std::ifstream in(dir / "summary.json");
  return nlohmann::json::parse(in);
}

/// The prompts X [N,P] of the newest checkpoint under `<dir>/checkpoints`.
inline torch::Tensor final_prompts(const std::filesystem::path& dir) {
  return load_checkpoint(latest_checkpoint(dir / "checkpoints")).tensors.at("X");
}

}  // namespace plexus::test
