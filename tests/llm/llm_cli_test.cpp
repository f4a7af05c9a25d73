// `plexus llm pretrain|generate` end to end on the synthetic arithmetic corpus (no Brown download needed):
// a tiny model trains, writes its run directory, resumes, and generates; a bad run directory is one error line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "../cli_util.h"
#include "tiny_model.h"

using plexus::test::run_plexus;
namespace fs = std::filesystem;

namespace {
// steps = 6 always (the schedule); stop_at > 0 stops there (a later --resume continues).
fs::path write_config(const fs::path& dir, int stop_at) {
  fs::create_directories(dir);
  auto path = dir / "tiny.toml";
  std::ofstream(path) << "[run]\nname = \"t\"\nout_dir = \"" << (dir / "runs").string() << "\"\n"
                      << plexus::test::tiny_model_toml() << "[data]\nsource = \"arithmetic\"\narithmetic_examples = 2000\n"
                      << "[tokenizer]\nvocab_size = 64\n[train]\nsteps = 6\nstop_at = " << stop_at
                      << "\nbatch_size = 4\nseq_len = 32\neval_every = 2\neval_batches = 1\ncheckpoint_every = 2\n";
  return path;
}
}  // namespace

TEST(LlmCli, PretrainResumeGenerate) {
  auto dir = fs::temp_directory_path() / ("plexus_llm_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);  // pids wrap: an earlier process of this pid may have left runs
  auto r = run_plexus("llm pretrain --config " + write_config(dir, 4).string());  // steps 1-4 of 6
  ASSERT_EQ(r.code, 0) << r.out;
  auto run = dir / "runs" / "t";
  for (const char* f : {"config.toml", "metrics.csv", "metrics.jsonl", "summary.json", "tokenizer.model"}) {
    EXPECT_TRUE(fs::exists(run / f)) << f;
  }
  // Resume to the end: the metrics continue at step 5 and 6.
  auto r2 = run_plexus("llm pretrain --config " + write_config(dir, 0).string() + " --resume");
  ASSERT_EQ(r2.code, 0) << r2.out;
  std::ifstream in(run / "metrics.jsonl");
  std::string line, last;
  int rows = 0;
  while (std::getline(in, line)) if (!line.empty()) last = line, ++rows;
  EXPECT_EQ(rows, 6);
  EXPECT_EQ(nlohmann::json::parse(last)["step"].get<int>(), 6);

  auto g = run_plexus("llm generate --run " + run.string() + " --prompt \"12+3=\" --max-new-tokens 5");
  ASSERT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("12+3="), std::string::npos) << g.out;  // the prompt is echoed before the continuation

  // Non-finite sampling options are config errors naming the allowed range (issue 12 item 4).
  for (const std::string v : {"nan", "inf"}) {
    auto t = run_plexus("llm generate --run " + run.string() + " --prompt x --temperature " + v);
    EXPECT_EQ(t.code, 2) << t.out;
    EXPECT_NE(t.out.find("error: config: plexus llm generate: --temperature = " + v + ": must be finite and in [0, 100]"),
              std::string::npos) << t.out;
  }

  // --cuda-graphs takes FL's run.cuda_graphs values; "on" off CUDA is one config error, not an eager decode.
  auto on = run_plexus("llm generate --run " + run.string() + " --prompt x --max-new-tokens 5 --cuda-graphs on");
  EXPECT_EQ(on.code, 2) << on.out;
  EXPECT_EQ(on.out.rfind("error: config: --cuda-graphs on needs the model on CUDA (--device cuda)", 0), 0u) << on.out;
  auto pt_on = run_plexus("llm pretrain --config " + write_config(dir, 0).string() +
                          " --set run.name=t_on --set run.cuda_graphs=on");  // the same values for pretraining
  EXPECT_EQ(pt_on.code, 2) << pt_on.out;
  EXPECT_NE(pt_on.out.find("error: config: run.cuda_graphs = \"on\" needs run.device = \"cuda\""), std::string::npos)
      << pt_on.out;
  EXPECT_FALSE(fs::exists(dir / "runs" / "t_on")) << "refused before the run directory is made";
  auto bogus = run_plexus("llm generate --run " + run.string() + " --prompt x --cuda-graphs yes");
  EXPECT_NE(bogus.code, 0) << bogus.out;
  EXPECT_NE(bogus.out.find("auto"), std::string::npos) << "the valid values are listed: " << bogus.out;

  auto bad = run_plexus("llm generate --run " + (dir / "nope").string() + " --prompt x");
  EXPECT_EQ(bad.code, 3) << bad.out;
  EXPECT_EQ(bad.out.rfind("error: io:", 0), 0u) << bad.out;
}

// eval/sample: a count that cannot be meant is one usage error before anything is loaded or written
// (--k 0 used to print pass@1 0.0 and write an empty sample file; --num-prompts -1 meant "all").
TEST(LlmCli, EvalAndSampleRejectZeroSamplesAndNegativePromptCounts) {
  const std::string out = (std::filesystem::temp_directory_path() / "plexus_k0_samples.jsonl").string();
  const std::vector<std::string> cmds = {"llm eval --run /nonexistent --k 0",
                                         "llm sample --run /nonexistent --k 0 --out " + out,
                                         "llm eval --run /nonexistent --k 1 --num-prompts -1"};
  for (const auto& cmd : cmds) {
    auto r = run_plexus(cmd);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.out;
    EXPECT_EQ(r.out.rfind("error: usage: --", 0), 0u) << cmd << ": " << r.out;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}
