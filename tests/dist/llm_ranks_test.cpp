// LLM data parallel over c10d/Gloo (docs/distributed.md, "LLM data parallel"): `plexus llm pretrain --ranks 2`
// on the tiny DeepSeek-V3 model (configs/dsv3_tiny.toml, every feature on: MLA, MoE with aux-loss-free bias,
// MTP) must log the same loss curve as one process with the same global batch and end with the same weights,
// up to float summation order (tolerance below; the gradient all-reduce runs overlapped with backward); a resume
// on 2 ranks, or on another rank count (2 → 1, 1 → 2), continues that curve, and a batch not divisible by the
// rank count is a one-line error before any rank starts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "../cli_util.h"
#include "../fl/synthetic_config.h"
#include "plexus/core/checkpoint.h"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

// Relative tolerance per logged value and per weight. Why not bit-identical: each rank's losses and gradients
// are means over B/R sequences, averaged after an all-reduce, so the floats are added in another order than
// one process's mean over B (f32 on the CPU: a few ulp per step, which AdamW carries forward).
constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-6;

std::string pretrain_args(const std::string& name, const std::string& extra = "") {
  return fmt::format("llm pretrain --config {}/configs/dsv3_tiny.toml --set 'run.out_dir=\"{}\"' --set run.name={} "
                     "--set train.steps=6 --set train.batch_size=4 --set train.eval_every=3 "
                     "--set train.checkpoint_every=3 {}",
                     PLEXUS_SOURCE_DIR, test::temp_root("dist_llm").string(), name, extra);
}

std::vector<nlohmann::json> rows_of(const std::string& name) {
  std::ifstream in(test::temp_root("dist_llm") / name / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

bool close(double a, double b) { return std::abs(a - b) <= kAbsTol + kRelTol * std::abs(a); }

// Every numeric training column of `one` (single process) against `many`, step by step.
void expect_same_curve(const std::vector<nlohmann::json>& one, const std::vector<nlohmann::json>& many) {
  ASSERT_EQ(one.size(), many.size());
  ASSERT_FALSE(one.empty());
  for (std::size_t s = 0; s < one.size(); ++s) {
    for (const auto& [key, value] : one[s].items()) {
      if (key == "tokens_per_s" || key == "mfu") continue;  // timing
      ASSERT_TRUE(many[s].contains(key)) << "step " << s + 1 << " lacks " << key;
      if (!value.is_number()) {
        EXPECT_EQ(value.dump(), many[s][key].dump()) << "step " << s + 1 << " " << key;
        continue;
      }
      EXPECT_TRUE(close(value.get<double>(), many[s][key].get<double>()))
          << "step " << s + 1 << " " << key << ": one process " << value << ", 2 ranks " << many[s][key];
    }
  }
}

// Every tensor of two checkpoints (weights, gate biases, AdamW moments) within the tolerance.
void expect_same_checkpoint(const fs::path& a, const fs::path& b) {
  auto x = load_checkpoint(a), y = load_checkpoint(b);
  ASSERT_EQ(x.tensors.size(), y.tensors.size());
  for (const auto& [key, t] : x.tensors) {
    ASSERT_TRUE(y.tensors.count(key)) << key;
    const auto& u = y.tensors.at(key);
    ASSERT_EQ(t.sizes(), u.sizes()) << key;
    EXPECT_TRUE(torch::allclose(t.to(torch::kFloat64), u.to(torch::kFloat64), kRelTol, kAbsTol))
        << key << ": max |Δ| " << (t.to(torch::kFloat64) - u.to(torch::kFloat64)).abs().max().item<double>();
  }
  EXPECT_EQ(x.meta.dump(), y.meta.dump());
}

const std::vector<nlohmann::json>& single_process_rows() {
  static const auto rows = [] {
    auto r = test::run_plexus(pretrain_args("llm_r1"));
    EXPECT_EQ(r.code, 0) << r.out;
    return rows_of("llm_r1");
  }();
  return rows;
}

}  // namespace

TEST(LlmRanks, TwoRanksFollowTheSingleProcessCurveAndEndWithItsWeights) {
  const auto& one = single_process_rows();
  auto r = test::run_plexus(pretrain_args("llm_r2", "--ranks 2"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("[rank 1] "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("data parallel over 2 ranks (Gloo), 2 sequences per rank"), std::string::npos) << r.out;
  expect_same_curve(one, rows_of("llm_r2"));
  const auto root = test::temp_root("dist_llm");
  EXPECT_TRUE(fs::exists(root / "llm_r2" / "summary.json"));
  expect_same_checkpoint(root / "llm_r1" / "checkpoints" / "round_6.pt", root / "llm_r2" / "checkpoints" / "round_6.pt");
}

TEST(LlmRanks, ResumeOnTwoRanksContinuesTheCurve) {
  const auto& one = single_process_rows();
  auto a = test::run_plexus(pretrain_args("llm_resume2", "--set train.stop_at=3 --ranks 2"));
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(rows_of("llm_resume2").size(), 3u);
  auto b = test::run_plexus(pretrain_args("llm_resume2", "--ranks 2 --resume"));
  ASSERT_EQ(b.code, 0) << b.out;
  expect_same_curve(one, rows_of("llm_resume2"));
  const auto root = test::temp_root("dist_llm");
  expect_same_checkpoint(root / "llm_r1" / "checkpoints" / "round_6.pt",
                         root / "llm_resume2" / "checkpoints" / "round_6.pt");
}

// The checkpoint is the whole model and AdamW state, whatever the rank count that wrote it; only the split of
// each global batch changes. So a run stopped on 2 ranks resumes in one process, and one stopped in one process
// resumes on 2 ranks, each continuing the uninterrupted curve.
TEST(LlmRanks, ResumeOnAnotherRankCountContinuesTheCurve) {
  const auto& one = single_process_rows();
  const auto root = test::temp_root("dist_llm");
  for (const auto& [name, first, second] :
       {std::tuple{"llm_resume_2to1", "--ranks 2", ""}, std::tuple{"llm_resume_1to2", "", "--ranks 2"}}) {
    SCOPED_TRACE(name);
    auto a = test::run_plexus(pretrain_args(name, fmt::format("--set train.stop_at=3 {}", first)));
    ASSERT_EQ(a.code, 0) << a.out;
    ASSERT_EQ(rows_of(name).size(), 3u);
    auto b = test::run_plexus(pretrain_args(name, fmt::format("--resume {}", second)));
    ASSERT_EQ(b.code, 0) << b.out;
    EXPECT_NE(b.out.find("resumed from"), std::string::npos) << b.out;
    expect_same_curve(one, rows_of(name));
    expect_same_checkpoint(root / "llm_r1" / "checkpoints" / "round_6.pt", root / name / "checkpoints" / "round_6.pt");
  }
}

TEST(LlmRanks, BatchNotDivisibleByRanksIsAOneLineError) {
  auto r = test::run_plexus(pretrain_args("llm_odd", "--set train.batch_size=3 --ranks 2"));
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("train.batch_size = 3 is not divisible by the 2 ranks"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line, no rank started:\n" << r.out;
}
