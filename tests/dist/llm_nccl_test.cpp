// LLM data parallel over NCCL (docs/distributed.md, "NCCL"): one rank on the GPU through an NCCL process group
// (`plexus llm pretrain --ranks 1` with run.device = "cuda": the overlapped bucket all-reduce, the loss and
// expert-load all-reduces all go through ProcessGroupNCCL) logs the same loss curve as one process on the same
// GPU and ends with the same weights. With one rank the sums are exact (x + nothing, / 1), so the tolerance only
// covers the GPU's own run-to-run differences (atomic adds in embedding and scatter backward) and the one-process
// step's different launch path. Skipped without a GPU or without NCCL in the build (CI has no GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "../cli_util.h"
#include "../fl/synthetic_config.h"
#include "plexus/core/checkpoint.h"
#include "plexus/dist/group.h"

namespace fs = std::filesystem;
using namespace plexus;

namespace {

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-6;

std::string args(const std::string& name, const std::string& extra) {
  return fmt::format("llm pretrain --config {}/configs/dsv3_tiny.toml --set 'run.out_dir=\"{}\"' --set run.name={} "
                     "--set run.device=cuda --set train.dtype=float32 --set train.steps=6 --set train.batch_size=4 "
                     "--set train.eval_every=3 --set train.checkpoint_every=3 {}",
                     PLEXUS_SOURCE_DIR, test::temp_root("dist_nccl").string(), name, extra);
}

std::vector<nlohmann::json> rows_of(const std::string& name) {
  std::ifstream in(test::temp_root("dist_nccl") / name / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace

TEST(LlmNccl, OneNcclRankFollowsTheSingleProcessCurveOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!dist::nccl_available()) GTEST_SKIP() << "this build has no NCCL (nccl.h not found at configure time)";
  auto one = test::run_plexus(args("nccl_r1", ""));
  ASSERT_EQ(one.code, 0) << one.out;
  auto ranked = test::run_plexus(args("nccl_rank1", "--ranks 1"));
  ASSERT_EQ(ranked.code, 0) << ranked.out;
  EXPECT_NE(ranked.out.find("data parallel over 1 ranks (NCCL)"), std::string::npos) << ranked.out;
  const auto a = rows_of("nccl_r1"), b = rows_of("nccl_rank1");
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t s = 0; s < a.size(); ++s)
    for (const char* key : {"loss", "loss_main", "loss_mtp", "loss_balance", "grad_norm", "load_max_mean"}) {
      const double x = a[s][key].get<double>(), y = b[s][key].get<double>();
      EXPECT_LE(std::abs(x - y), kAbsTol + kRelTol * std::abs(x)) << "step " << s + 1 << " " << key << ": " << x
                                                                  << " vs " << y;
    }
  const auto root = test::temp_root("dist_nccl");
  // Throughput of the two (summary.json: mean over steps 3-6; the tiny model, so launch overheads dominate).
  auto tok_s = [&](const char* name) {
    std::ifstream in(root / name / "summary.json");
    return nlohmann::json::parse(in)["tokens_per_s"].get<double>();
  };
  std::cout << fmt::format("[nccl] tok/s one process {:.0f}, one NCCL rank {:.0f}\n", tok_s("nccl_r1"),
                           tok_s("nccl_rank1"));
  auto x = load_checkpoint(root / "nccl_r1" / "checkpoints" / "round_6.pt");
  auto y = load_checkpoint(root / "nccl_rank1" / "checkpoints" / "round_6.pt");
  ASSERT_EQ(x.tensors.size(), y.tensors.size());
  for (const auto& [key, t] : x.tensors) {
    ASSERT_TRUE(y.tensors.count(key)) << key;
    EXPECT_TRUE(torch::allclose(t.to(torch::kFloat64), y.tensors.at(key).to(torch::kFloat64), kRelTol, kAbsTol))
        << key;
  }
}
