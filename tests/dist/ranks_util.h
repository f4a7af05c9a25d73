// Shared by the multi-rank FL tests (tests/dist/ranks_*_test.cpp): write a synthetic config, run the real
// binary in one process and with --ranks R, and compare the metrics rows as text (the shortest round-trip
// form of a double, so equal text is equal bits), timing and byte columns aside.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../cli_util.h"
#include "../fl/synthetic_config.h"

namespace plexus::test::ranks {

namespace fs = std::filesystem;

/// The synthetic FL config of tests/fl (6 clients, 6 rounds) plus `extra` TOML, written under the "dist"
/// temporary root as `file`.toml; returns its path.
inline std::string write_config(const std::string& algorithm, const std::string& file, const std::string& extra) {
  auto root = synthetic_config(algorithm, file, "dist", extra);
  const auto path = temp_root("dist") / (file + ".toml");
  std::ofstream out(path);
  out << root << "\n";
  return path.string();
}

inline std::vector<nlohmann::json> read_rows(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool is_timing(const std::string& key) { return key.rfind("seconds", 0) == 0; }

/// Every column of `want` (timing aside) has the same text in `got`, row by row.
inline void expect_rows_equal(const std::vector<nlohmann::json>& want, const std::vector<nlohmann::json>& got,
                              const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  ASSERT_FALSE(want.empty()) << what;
  for (std::size_t r = 0; r < want.size(); ++r) {
    for (const auto& [key, value] : want[r].items()) {
      if (is_timing(key)) continue;
      ASSERT_TRUE(got[r].contains(key)) << what << ": round " << r + 1 << " lacks " << key;
      EXPECT_EQ(value.dump(), got[r][key].dump()) << what << ": round " << r + 1 << " column " << key;
    }
  }
}

/// Runs `config` (with `sets`) in one process as `name`_r1 (once) and with `ranks` ranks as `name`_r<ranks>:
/// the rows must be equal and the last checkpoint (round `rounds`) byte-identical.
inline void expect_same_run(const std::string& config, const std::string& name, int ranks,
                            const std::string& sets = "", int rounds = 6) {
  const auto root = temp_root("dist");
  const auto one = name + "_r1", many = name + "_r" + std::to_string(ranks);
  if (!fs::exists(root / one / "summary.json")) {
    auto r1 = run_plexus(fmt::format("fl run --config {} {} --set run.name={}", config, sets, one));
    ASSERT_EQ(r1.code, 0) << r1.out;
  }
  auto rn = run_plexus(fmt::format("fl run --config {} {} --set run.name={} --ranks {}", config, sets, many, ranks));
  ASSERT_EQ(rn.code, 0) << rn.out;
  const auto a = read_rows(root / one), b = read_rows(root / many);
  expect_rows_equal(a, b, fmt::format("{} with {} ranks", name, ranks));
  for (const auto& row : b) {
    for (int k = 0; k < ranks; ++k) EXPECT_TRUE(row.contains(fmt::format("comm_bytes_rank{}", k)));
  }
  const auto ckpt = fs::path("checkpoints") / fmt::format("round_{}.pt", rounds);
  EXPECT_EQ(slurp(root / one / ckpt), slurp(root / many / ckpt))
      << name << ": the checkpoint of " << ranks << " ranks must equal one process's";
}

}  // namespace plexus::test::ranks
