// Pretraining resume rules (issue 11, items 1, 5 and 6 for the LLM family): the config-equality check of
// the core run lifecycle (a changed learning rate, step count or vocabulary is refused, naming the key;
// harmless keys are accepted), fewer steps than done are refused, a changed corpus is refused, a finished
// run's summary survives a resume, and two checkpoints are kept so a damaged newest one has a fallback.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tiny_model.h"
#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/file_io.h"
#include "plexus/core/log.h"
#include "plexus/llm/pretrain.h"

namespace fs = std::filesystem;
using namespace plexus;
using namespace plexus::llm;

namespace {

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("plexus_llm_resume_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// The tiny arithmetic run of data_test.cpp (6 steps) with `overrides` (--set syntax) applied.
PretrainConfig tiny(const fs::path& root, const std::vector<std::string>& overrides = {}) {
  auto t = parse_toml(fmt::format(R"(
[run]
name = "r"
out_dir = "{}"
seed = 5
threads = 1
{}
[data]
source = "arithmetic"
arithmetic_examples = 600
val_fraction = 0.2
[tokenizer]
vocab_size = 40
[train]
steps = 6
batch_size = 4
seq_len = 24
lr = 5e-3
warmup_steps = 2
eval_every = 3
checkpoint_every = 2
)", root.string(), plexus::test::tiny_model_toml()));
  for (const auto& o : overrides) apply_override(t, o);
  return PretrainConfig::parse(t);
}

// The error pretrain(resume) throws, or "" if it succeeds.
std::string resume_error(const PretrainConfig& cfg, ErrorKind* kind = nullptr) {
  try {
    pretrain(cfg, true);
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

int rows(const fs::path& run) {
  std::ifstream m(run / "metrics.jsonl");
  int n = 0;
  for (std::string l; std::getline(m, l);) ++n;
  return n;
}

}  // namespace

TEST(LlmResume, AChangedKeyIsRefusedNamingItAndHarmlessKeysAreAccepted) {
  set_log_level(LogLevel::Warn);
  auto root = temp_dir("changed");
  pretrain(tiny(root, {"train.stop_at=3"}), false);
  const auto run = root / "r";
  const std::string config = read_file(run / "config.toml");
  for (auto [set, key] : std::vector<std::pair<std::string, std::string>>{
           {"train.lr=1e-2", "train.lr = 0.01"}, {"train.steps=8", "train.steps = 8"},
           {"train.batch_size=8", "train.batch_size = 8"}, {"tokenizer.vocab_size=48", "tokenizer.vocab_size = 48"}}) {
    ErrorKind kind{};
    auto msg = resume_error(tiny(root, {set}), &kind);
    EXPECT_EQ(kind, ErrorKind::Config) << set;
    EXPECT_NE(msg.find("--resume: " + key + " but the run was started with"), std::string::npos) << msg;
  }
  EXPECT_EQ(read_file(run / "config.toml"), config) << "a refused resume must not rewrite config.toml";
  EXPECT_EQ(rows(run), 3);
  // Threads, checkpoint cadence and the tokenizer's trainer threads cannot change results.
  EXPECT_EQ(resume_error(tiny(root, {"run.threads=2", "train.checkpoint_every=1", "tokenizer.num_threads=2"})), "");
  EXPECT_EQ(rows(run), 6);
}

TEST(LlmResume, ResumingAFinishedRunKeepsItsSummary) {
  set_log_level(LogLevel::Warn);
  auto root = temp_dir("finished");
  auto first = pretrain(tiny(root), false);
  const auto summary = nlohmann::json::parse(read_file(root / "r" / "summary.json"));
  auto again = pretrain(tiny(root), true);
  EXPECT_EQ(nlohmann::json::parse(read_file(root / "r" / "summary.json")), summary);
  EXPECT_EQ(summary["last_step"], 6);
  EXPECT_EQ(again.last_step, 6);
  EXPECT_EQ(again.train_loss, first.train_loss);
  EXPECT_EQ(again.val_loss, first.val_loss);
}

TEST(LlmResume, FewerStepsThanDoneAreRefused) {
  set_log_level(LogLevel::Warn);
  auto root = temp_dir("fewer");
  pretrain(tiny(root, {"train.stop_at=4"}), false);
  ErrorKind kind{};
  auto msg = resume_error(tiny(root, {"train.stop_at=2"}), &kind);
  EXPECT_EQ(kind, ErrorKind::Config);
  EXPECT_NE(msg.find("train.stop_at = 2 but 4 steps are already done"), std::string::npos) << msg;
  EXPECT_EQ(rows(root / "r"), 4);
}

TEST(LlmResume, KeepsTwoCheckpointsAndFallsBackFromADamagedNewestOne) {
  set_log_level(LogLevel::Warn);
  auto root = temp_dir("fallback");
  auto first = pretrain(tiny(root), false);  // checkpoints at steps 2, 4, 6; the two newest are kept
  const auto ckpts = root / "r" / "checkpoints";
  auto kept = list_checkpoints(ckpts);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].first, 6);
  EXPECT_EQ(kept[1].first, 4);
  fs::resize_file(ckpts / "round_6.pt", fs::file_size(ckpts / "round_6.pt") / 2);
  testing::internal::CaptureStderr();
  auto again = pretrain(tiny(root), true);  // round_6.pt is unusable: steps 5-6 are redone from round_4.pt
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("round_6.pt' is unusable"), std::string::npos) << err;
  EXPECT_EQ(again.train_loss, first.train_loss);  // bit-identical replay of steps 5 and 6
  EXPECT_EQ(checkpoint_problem(ckpts / "round_6.pt"), "");
  EXPECT_EQ(rows(root / "r"), 6);
}

TEST(LlmResume, AChangedCorpusIsRefused) {
  set_log_level(LogLevel::Warn);
  auto root = temp_dir("corpus");
  auto brown = root / "brown";
  fs::create_directories(brown);
  // A Brown-layout corpus of 10 documents of 20 tagged sentences each, words from a fixed list (enough
  // distinct text for a 40-piece BPE vocabulary); `word` replaces the list's first word.
  auto write_corpus = [&](const std::string& word) {
    std::vector<std::string> words = {word,    "jury",  "said",   "evidence", "county", "election", "city",
                                      "report", "voters", "money", "plan",     "state",  "house",    "court",
                                      "friday", "morning", "people", "years",  "school", "water"};
    std::ofstream cats(brown / "cats.txt");
    for (int d = 0; d < 10; ++d) {
      std::string id = fmt::format("ca{:02d}", d);
      cats << id << " news\n";
      std::ofstream f(brown / id);
      for (int s = 0; s < 20; ++s) {
        f << "\n\tThe/at";
        for (int w = 0; w < 6; ++w) f << " " << words[(d * 7 + s * 3 + w * 5) % words.size()] << "/nn";
        f << " ./.\n";
      }
    }
  };
  write_corpus("cat");
  ::setenv("PLEXUS_BROWN_CORPUS", brown.c_str(), 1);
  const std::vector<std::string> sets = {"data.source=brown", "train.stop_at=2"};
  pretrain(tiny(root, sets), false);
  write_corpus("dog");  // same place, other text
  ErrorKind kind{};
  auto msg = resume_error(tiny(root, {"data.source=brown"}), &kind);
  ::unsetenv("PLEXUS_BROWN_CORPUS");
  EXPECT_EQ(kind, ErrorKind::Data);
  EXPECT_NE(msg.find("the data differ from the run's"), std::string::npos) << msg;
  EXPECT_NE(msg.find("brown at " + fs::canonical(brown).string()), std::string::npos) << msg;
  EXPECT_EQ(rows(root / "r"), 2);
}
