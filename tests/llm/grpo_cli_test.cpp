// The R1 pipeline end to end on CPU with the tiny model (configs/dsv3_tiny.toml): a base model pretrained on arithmetic plus
// task-format text, a few GRPO steps (metrics, checkpoints, bit-identical resume), SFT on traces, verified
// sampling, evaluation, distillation, and the bad inputs of issue 13 (one `error:` line each, no run dir).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "tiny_model.h"
#include "../cli_util.h"
#include "plexus/core/checkpoint.h"

using plexus::test::run_plexus;
namespace fs = std::filesystem;

namespace {

fs::path dir() {
  static fs::path d = [] {
    auto p = fs::temp_directory_path() / ("plexus_grpo_cli_" + std::to_string(::getpid()));
    fs::remove_all(p);  // pids wrap: an earlier process of this pid may have left runs
    return p;
  }();
  return d;
}

std::string base_run() { return (dir() / "runs" / "base").string(); }

// Pretrain the tiny base once per test binary (a few seconds on 2 cores).
void ensure_base() {
  static bool done = false;
  if (done) return;
  fs::create_directories(dir());
  std::ofstream(dir() / "base.toml")
      << "[run]\nname = \"base\"\nout_dir = \"" << (dir() / "runs").string() << "\"\n"
      << plexus::test::tiny_model_toml(160)
      << "[data]\nsource = \"arithmetic\"\narithmetic_examples = 500\ntask_examples = 600\n"
      << "[data.tasks.addition]\ndigits = 1\ntemplate = \"short\"\n"
      << "[tokenizer]\nvocab_size = 128\nuser_defined_symbols = [\"<think>\", \"</think>\", \"<answer>\", "
         "\"</answer>\"]\n"
      << "[train]\nsteps = 60\nbatch_size = 8\nseq_len = 128\nlr = 1e-2\nwarmup_steps = 5\neval_every = 60\n"
         "eval_batches = 1\ncheckpoint_every = 60\n";
  auto r = run_plexus("llm pretrain --config " + (dir() / "base.toml").string());
  ASSERT_EQ(r.code, 0) << r.out;
  done = true;
}

fs::path grpo_config() {
  auto path = dir() / "grpo.toml";
  std::ofstream(path) << "[run]\nname = \"g\"\nout_dir = \"" << (dir() / "runs").string() << "\"\nseed = 3\n"
                      << "[base]\nrun = \"" << base_run() << "\"\n"
                      << "[task]\nname = \"addition\"\ndigits = 1\ntemplate = \"short\"\ntest_size = 4\n"
                      << "[grpo]\nmax_steps = 4\nprompts_per_step = 2\nnum_generations = 4\n"
                         "max_completion_length = 24\nlearning_rate = 1e-3\nbeta = 0.04\nnum_iterations = 2\n"
                         "steps_per_generation = 2\nsave_steps = 2\nref_model_sync_steps = 3\n"
                      << "[eval]\nevery = 2\nk = 2\n";
  return path;
}

std::vector<nlohmann::json> metric_rows(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<nlohmann::json> v;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) v.push_back(nlohmann::json::parse(line));
  return v;
}

void expect_one_error_line(const plexus::test::CliResult& r, int code, const std::string& kind,
                           const std::string& needle) {
  EXPECT_EQ(r.code, code) << r.out;
  EXPECT_EQ(r.out.rfind("error: " + kind + ":", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
}

}  // namespace

TEST(GrpoCli, RunsStepsWritesMetricsAndResumesBitIdentically) {
  ensure_base();
  auto cfg = grpo_config().string();
  auto a = run_plexus("llm grpo --config " + cfg + " --set run.name=full");
  ASSERT_EQ(a.code, 0) << a.out;
  auto full = dir() / "runs" / "full";
  auto ra = metric_rows(full);
  ASSERT_EQ(ra.size(), 5u);  // step 0 (base evaluation) + 4 steps
  for (const char* k : {"reward", "accuracy", "format_rate", "completion_length", "completion_length_max", "kl",
                        "clip_ratio_low", "clip_ratio_high", "entropy", "rollout_tokens_per_s", "train_tokens_per_s",
                        "gen_seconds", "update_seconds", "gen_fraction"})
    EXPECT_TRUE(ra[1][k].is_number()) << k;
  EXPECT_TRUE(ra[0]["test_pass1"].is_number());
  EXPECT_TRUE(ra[2]["test_pass1"].is_number());   // eval every 2
  EXPECT_TRUE(ra[3]["test_pass1"].is_null());
  EXPECT_GE(ra[1]["kl"].get<double>(), 0.0);
  for (auto& f : {"config.toml", "summary.json", "tokenizer.model"}) EXPECT_TRUE(fs::exists(full / f)) << f;

  // Stop at step 2, resume to 4: same metrics (except wall-clock fields) and the same final weights.
  auto b1 = run_plexus("llm grpo --config " + cfg + " --set run.name=split --set grpo.stop_at=2");
  ASSERT_EQ(b1.code, 0) << b1.out;
  auto b2 = run_plexus("llm grpo --config " + cfg + " --set run.name=split --resume");
  ASSERT_EQ(b2.code, 0) << b2.out;
  auto rb = metric_rows(dir() / "runs" / "split");
  ASSERT_EQ(rb.size(), ra.size());
  for (size_t i = 0; i < ra.size(); ++i)
    for (const char* k : {"reward", "accuracy", "loss", "kl", "entropy", "grad_norm", "completion_length",
                          "test_pass1", "clip_ratio_low"})
      EXPECT_EQ(ra[i][k], rb[i][k]) << "row " << i << " " << k;
  auto ca = plexus::load_checkpoint(plexus::latest_checkpoint(full / "checkpoints"));
  auto cb = plexus::load_checkpoint(plexus::latest_checkpoint(dir() / "runs" / "split" / "checkpoints"));
  ASSERT_EQ(ca.tensors.size(), cb.tensors.size());
  for (auto& [k, v] : ca.tensors) EXPECT_TRUE(v.equal(cb.tensors.at(k))) << k;
  EXPECT_TRUE(ca.tensors.count("ref.embed"));  // β > 0 keeps the reference in the checkpoint
}

TEST(GrpoCli, BetaZeroLoadsNoReferenceAndEachLossTypeRuns) {
  ensure_base();
  for (const char* lt : {"grpo", "bnpo", "dr_grpo", "dapo"}) {
    auto r = run_plexus("llm grpo --config " + grpo_config().string() + " --set run.name=lt_" + lt +
                        " --set grpo.loss_type=" + lt + " --set grpo.beta=0 --set grpo.max_steps=1 "
                        "--set grpo.num_iterations=1 --set grpo.steps_per_generation=1 --set grpo.dynamic_sampling=true");
    ASSERT_EQ(r.code, 0) << r.out;
    auto ck = plexus::load_checkpoint(plexus::latest_checkpoint(dir() / "runs" / ("lt_" + std::string(lt)) / "checkpoints"));
    EXPECT_FALSE(ck.tensors.count("ref.embed")) << lt;
    auto rr = metric_rows(dir() / "runs" / ("lt_" + std::string(lt)));
    EXPECT_EQ(rr[1]["kl"].get<double>(), 0.0);
  }
}

TEST(GrpoCli, SftSampleEvalDistill) {
  ensure_base();
  auto cfg = dir() / "sft.toml";
  std::ofstream(cfg) << "[run]\nname = \"sft\"\nout_dir = \"" << (dir() / "runs").string() << "\"\n"
                     << "[base]\nrun = \"" << base_run() << "\"\n"
                     << "[task]\nname = \"addition\"\ndigits = 1\ntemplate = \"short\"\ntest_size = 4\n"
                     << "[sft]\nmax_steps = 3\nbatch_size = 4\ntrace_examples = 50\nmax_completion_length = 40\n"
                     << "[eval]\nk = 2\n";
  auto s = run_plexus("llm sft --config " + cfg.string());
  ASSERT_EQ(s.code, 0) << s.out;
  auto sft = dir() / "runs" / "sft";
  EXPECT_EQ(metric_rows(sft).size(), 4u);

  auto samples = dir() / "samples.jsonl";
  auto sa = run_plexus("llm sample --run " + sft.string() + " --filter all --num-prompts 3 --k 2 --max-new-tokens 30 "
                       "--out " + samples.string());
  ASSERT_EQ(sa.code, 0) << sa.out;
  std::ifstream in(samples);
  int lines = 0;
  for (std::string l; std::getline(in, l);) lines += !l.empty();
  EXPECT_EQ(lines, 6);  // --filter all keeps every completion

  auto ev = run_plexus("llm eval --run " + sft.string() + " --k 3 --max-new-tokens 30");
  ASSERT_EQ(ev.code, 0) << ev.out;
  auto j = nlohmann::json::parse(ev.out.substr(ev.out.find('{')));
  EXPECT_EQ(j["k"].get<int>(), 3);
  EXPECT_EQ(j["problems"].get<int>(), 4);
  EXPECT_GE(j["cons"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), 0.6);

  // SFT on a verified-samples file (two hand-written correct samples).
  auto vs = dir() / "verified.jsonl";
  std::ofstream(vs) << R"({"prompt": "User: What is 2 + 3? Show your work in <think> </think> tags and return the final number in <answer> </answer> tags. Assistant: <think>", "completion": " 2+3+0=5, write 5 carry 0. </think> <answer> 5 </answer>"})"
                    << "\n";
  auto s2 = run_plexus("llm sft --config " + cfg.string() + " --set run.name=sft_rs --set sft.data=samples --set sft.samples=" +
                       vs.string());
  ASSERT_EQ(s2.code, 0) << s2.out;

  // Distillation samples the teacher first; a teacher with no verified sample (this 3-step SFT model on
  // 8 problems) ends with one data error after its progress line, and no student run directory is made.
  auto dcfg = dir() / "distill.toml";
  std::ofstream(dcfg) << "[run]\nname = \"dist\"\nout_dir = \"" << (dir() / "runs").string() << "\"\n"
                      << "[base]\nrun = \"" << base_run() << "\"\n[teacher]\nrun = \"" << sft.string()
                      << "\"\nnum_prompts = 8\nk = 4\n"
                      << "[task]\nname = \"addition\"\ndigits = 1\ntemplate = \"short\"\ntest_size = 4\n"
                      << "[sft]\nmax_steps = 2\nbatch_size = 4\nmax_completion_length = 40\n[eval]\nk = 1\n";
  auto d = run_plexus("llm distill --config " + dcfg.string());
  EXPECT_EQ(d.code, 3) << d.out;
  auto last_line = d.out.substr(d.out.rfind('\n', d.out.size() - 2) + 1);
  EXPECT_EQ(last_line.rfind("error: data: distill: none of the teacher's 32 samples", 0), 0u) << d.out;
  EXPECT_FALSE(fs::exists(dir() / "runs" / "dist"));
}

TEST(GrpoCli, BadInputIsOneErrorLineAndWritesNothing) {
  ensure_base();
  auto cfg = grpo_config().string();
  auto bad = [&](const std::string& sets) { return run_plexus("llm grpo --config " + cfg + " --set run.name=bad " + sets); };
  expect_one_error_line(bad("--set task.name=sudoku"), 2, "config", "sudoku");
  expect_one_error_line(bad("--set grpo.num_generations=0"), 2, "config", "num_generations");
  expect_one_error_line(bad("--set grpo.max_completion_length=5000"), 2, "config", "max_seq_len");
  expect_one_error_line(bad("--set task.test_size=0"), 2, "config", "test_size");
  expect_one_error_line(bad("--set grpo.bogus_key=1"), 2, "config", "bogus_key");
  // A base whose checkpoint was written for another architecture (config says dim 48, weights are dim 32).
  auto other = dir() / "runs" / "other_arch";
  fs::create_directories(other);
  fs::copy(base_run(), other, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::ifstream in(other / "config.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  auto text = ss.str();
  auto pos = text.find("\ndim = 32");
  ASSERT_NE(pos, std::string::npos) << text;
  text.replace(pos, 9, "\ndim = 48");
  std::ofstream(other / "config.toml") << text;
  expect_one_error_line(bad("--set base.run=" + other.string()), 3, "data", "shape");
  EXPECT_FALSE(fs::exists(dir() / "runs" / "bad"));
}

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path sft_config(const std::string& name) {
  auto path = dir() / ("sft_" + name + ".toml");
  std::ofstream(path) << "[run]\nname = \"" << name << "\"\nout_dir = \"" << (dir() / "runs").string()
                      << "\"\nseed = 5\n"
                      << "[base]\nrun = \"" << base_run() << "\"\n"
                      << "[task]\nname = \"addition\"\ndigits = 1\ntemplate = \"short\"\ntest_size = 4\n"
                      << "[sft]\nmax_steps = 4\nsave_steps = 2\nbatch_size = 4\ntrace_examples = 50\n"
                         "max_completion_length = 40\n"
                      << "[eval]\nevery = 2\nk = 2\n";
  return path;
}

}  // namespace

// Regression: the step-0 evaluation row made every sft/distill --resume fail ("line 1 should be the row of
// step 1 but holds 0"). Two paths must agree: stop at 2 + resume to 4 equals 4 steps in one go.
TEST(GrpoCli, SftStopAtThenResumeMatchesUninterruptedRun) {
  ensure_base();
  auto a = run_plexus("llm sft --config " + sft_config("sft_full").string());
  ASSERT_EQ(a.code, 0) << a.out;
  auto cfg = sft_config("sft_split").string();
  auto b1 = run_plexus("llm sft --config " + cfg + " --set sft.stop_at=2");
  ASSERT_EQ(b1.code, 0) << b1.out;
  auto b2 = run_plexus("llm sft --config " + cfg + " --resume");
  ASSERT_EQ(b2.code, 0) << b2.out;
  auto ra = metric_rows(dir() / "runs" / "sft_full"), rb = metric_rows(dir() / "runs" / "sft_split");
  ASSERT_EQ(ra.size(), 5u);  // step 0 (base evaluation) + 4 steps
  ASSERT_EQ(rb.size(), ra.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    EXPECT_EQ(rb[i]["step"].get<int64_t>(), static_cast<int64_t>(i));
    for (const char* k : {"loss", "grad_norm", "test_pass1", "test_cons"}) EXPECT_EQ(ra[i][k], rb[i][k]) << i << k;
  }
  auto ca = plexus::load_checkpoint(plexus::latest_checkpoint(dir() / "runs" / "sft_full" / "checkpoints"));
  auto cb = plexus::load_checkpoint(plexus::latest_checkpoint(dir() / "runs" / "sft_split" / "checkpoints"));
  EXPECT_EQ(cb.meta["step"].get<int64_t>(), 4);
  ASSERT_EQ(ca.tensors.size(), cb.tensors.size());
  for (auto& [k, v] : ca.tensors) EXPECT_TRUE(v.equal(cb.tensors.at(k))) << k;
  auto sa = nlohmann::json::parse(slurp(dir() / "runs" / "sft_full" / "summary.json"));
  auto sb = nlohmann::json::parse(slurp(dir() / "runs" / "sft_split" / "summary.json"));
  EXPECT_EQ(sb["last_step"], 4);
  EXPECT_EQ(sa["test_pass1_start"], sb["test_pass1_start"]);  // read back from the step-0 row on resume
}

// Regression: --resume of a finished run exited 0 but rewrote summary.json with zeros. Like pretrain, it is a
// no-op now: summary.json, metrics and checkpoints stay byte-identical.
TEST(GrpoCli, ResumeOfFinishedRunKeepsSummaryAndMetrics) {
  ensure_base();
  auto cfg = grpo_config().string() + " --set run.name=fin --set grpo.max_steps=2";
  auto a = run_plexus("llm grpo --config " + cfg);
  ASSERT_EQ(a.code, 0) << a.out;
  auto run = dir() / "runs" / "fin";
  auto summary = slurp(run / "summary.json"), metrics = slurp(run / "metrics.jsonl");
  ASSERT_EQ(nlohmann::json::parse(summary)["last_step"], 2);
  auto b = run_plexus("llm grpo --config " + cfg + " --resume");
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_NE(b.out.find("grpo.max_steps"), std::string::npos) << b.out;  // says how to continue
  EXPECT_EQ(slurp(run / "summary.json"), summary);
  EXPECT_EQ(slurp(run / "metrics.jsonl"), metrics);
  EXPECT_NE(b.out.find("grpo: step 2 "), std::string::npos) << b.out;  // the kept summary, not zeros
  // Lowering the target below the work done is refused, as pretrain refuses it.
  expect_one_error_line(run_plexus("llm grpo --config " + cfg + " --resume --set grpo.max_steps=1"), 2, "config",
                        "grpo.max_steps = 1 but 2 steps are already done");
  EXPECT_EQ(slurp(run / "config.toml").find("max_steps = 1\n"), std::string::npos);
  EXPECT_EQ(slurp(run / "summary.json"), summary);

  // SFT: the same.
  auto s = run_plexus("llm sft --config " + sft_config("sft_fin").string() + " --set sft.max_steps=1");
  ASSERT_EQ(s.code, 0) << s.out;
  auto srun = dir() / "runs" / "sft_fin";
  auto ssum = slurp(srun / "summary.json"), smet = slurp(srun / "metrics.jsonl");
  auto s2 = run_plexus("llm sft --config " + sft_config("sft_fin").string() + " --set sft.max_steps=1 --resume");
  ASSERT_EQ(s2.code, 0) << s2.out;
  EXPECT_EQ(slurp(srun / "summary.json"), ssum);
  EXPECT_EQ(slurp(srun / "metrics.jsonl"), smet);
}

// Regression: a resume with a changed result-affecting key ran silently and rewrote config.toml.
TEST(GrpoCli, ResumeRefusesChangedConfigButAllowsHarmlessKeys) {
  ensure_base();
  auto cfg = grpo_config().string() + " --set run.name=chg --set grpo.max_steps=2 --set grpo.stop_at=1";
  auto a = run_plexus("llm grpo --config " + cfg);
  ASSERT_EQ(a.code, 0) << a.out;
  auto run = dir() / "runs" / "chg";
  auto config = slurp(run / "config.toml"), metrics = slurp(run / "metrics.jsonl");
  expect_one_error_line(run_plexus("llm grpo --config " + cfg + " --resume --set grpo.num_generations=8"), 2, "config",
                        "grpo.num_generations");
  expect_one_error_line(run_plexus("llm grpo --config " + cfg + " --resume --set task.digits=2"), 2, "config",
                        "task.digits");
  auto copy = dir() / "runs" / "base_copy";  // the same weights at another path: still another base.run
  fs::create_directories(copy);
  fs::copy(base_run(), copy, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  expect_one_error_line(run_plexus("llm grpo --config " + cfg + " --resume --set base.run=" + copy.string()), 2,
                        "config", "base.run");
  EXPECT_EQ(slurp(run / "config.toml"), config);
  EXPECT_EQ(slurp(run / "metrics.jsonl"), metrics);
  // Harmless: threads, save cadence, eval cadence, stop_at; max_steps may be raised.
  auto b = run_plexus("llm grpo --config " + cfg + " --resume --set run.threads=1 --set grpo.save_steps=1 "
                      "--set eval.every=1 --set grpo.stop_at=0 --set grpo.max_steps=3");
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_EQ(metric_rows(run).size(), 4u);  // step 0 + 3 steps
  // SFT refuses a changed batch size the same way.
  auto s = run_plexus("llm sft --config " + sft_config("sft_chg").string() + " --set sft.stop_at=1");
  ASSERT_EQ(s.code, 0) << s.out;
  expect_one_error_line(run_plexus("llm sft --config " + sft_config("sft_chg").string() + " --resume --set sft.batch_size=2"),
                        2, "config", "sft.batch_size");
}

TEST(GrpoCli, SampleAndEvalRejectBadSamplingAndOwnRunFilesAsOut) {
  ensure_base();
  auto ev = [&](const std::string& args) { return run_plexus("llm eval --run " + base_run() + " " + args); };
  expect_one_error_line(ev("--temperature nan"), 2, "config", "--temperature");
  expect_one_error_line(ev("--temperature inf"), 2, "config", "--temperature");
  expect_one_error_line(ev("--temperature -0.5"), 2, "config", "--temperature");
  expect_one_error_line(ev("--top-p 0"), 2, "config", "--top-p");
  expect_one_error_line(ev("--top-p 1.5"), 2, "config", "--top-p");
  expect_one_error_line(run_plexus("llm sample --run " + base_run() + " --temperature nan --out " +
                                   (dir() / "s_nan.jsonl").string()),
                        2, "config", "--temperature");
  EXPECT_FALSE(fs::exists(dir() / "s_nan.jsonl"));
  // --out onto the run's own files.
  auto metrics = slurp(fs::path(base_run()) / "metrics.jsonl");
  expect_one_error_line(ev("--out " + (fs::path(base_run()) / "metrics.jsonl").string()), 3, "io", "metrics.jsonl");
  expect_one_error_line(run_plexus("llm sample --run " + base_run() + " --out " +
                                   (fs::path(base_run()) / "config.toml").string()),
                        3, "io", "config.toml");
  EXPECT_EQ(slurp(fs::path(base_run()) / "metrics.jsonl"), metrics);
}

TEST(GrpoCli, OverlongBufferAboveCompletionLengthIsOneError) {
  ensure_base();
  auto r = run_plexus("llm grpo --config " + grpo_config().string() +
                      " --set run.name=bad_ob --set reward.overlong_buffer=30");  // max_completion_length = 24
  expect_one_error_line(r, 2, "config", "reward.overlong_buffer = 30");
  EXPECT_NE(r.out.find("grpo.max_completion_length = 24"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir() / "runs" / "bad_ob"));
  // Equal is allowed (the whole budget is the buffer): one step runs.
  auto ok = run_plexus("llm grpo --config " + grpo_config().string() +
                       " --set run.name=ok_ob --set reward.overlong_buffer=24 --set grpo.max_steps=1");
  EXPECT_EQ(ok.code, 0) << ok.out;
}
