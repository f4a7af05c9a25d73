// The run lifecycle's resume checks (issue 11, items 5-7): the saved config must match except for keys that
// cannot change results (paths compared canonically), a total may be raised but not set below the work done,
// and the data must be the data the run started with.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "plexus/core/checkpoint_store.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/run_lifecycle.h"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

fs::path fresh_root(const std::string& name) {
  auto d = fs::temp_directory_path() / ("plexus_lifecycle_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

ResumeRules rules() {
  ResumeRules r;
  r.unit = "round";
  r.harmless = {"run.threads", "run.checkpoint_every", "run.out_dir"};
  r.paths = {"data.path"};
  r.extendable = {"fl.rounds"};
  return r;
}

toml::table config(const std::string& extra = "") {
  return parse_toml("[run]\nthreads = 2\ncheckpoint_every = 1\nout_dir = \"runs\"\n[data]\npath = \"/tmp\"\n"
                    "[fl]\nrounds = 4\nlr = 0.1\n" + extra);
}

std::string config_error(const toml::table& saved, const toml::table& now) {
  try {
    check_resume_config(saved, now, rules());
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    return e.what();
  }
  return "";
}

toml::table with(toml::table t, const std::string& override_text) {
  apply_override(t, override_text);
  return t;
}

DataFingerprint fingerprint(float value, const std::string& source = "synthetic") {
  FingerprintBuilder b(source);
  b.add("train.x", torch::full({3, 2}, value));
  return b.finish();
}

// A finished 4-round run `root/run`: config, data.json, rows 1..4 and checkpoints round_2 and round_4.
void finished_run(const fs::path& root, const toml::table& cfg) {
  RunDir dir(root, "run", false);
  RunSpec spec;
  spec.config = &cfg;
  spec.rules = rules();
  spec.data = fingerprint(1);
  spec.target = 4;
  spec.target_key = "fl.rounds";
  start_run(dir, spec, false);
  for (int r = 1; r <= 4; ++r) {
    nlohmann::ordered_json row;
    row["round"] = r;
    dir.metrics().append(row);
  }
  Checkpoint ck;
  ck.tensors["X"] = torch::zeros({2});
  save_checkpoint_rotating(dir.checkpoints(), ck, 2, 2);
  save_checkpoint_rotating(dir.checkpoints(), ck, 4, 2);
}

// start_run with resume; returns the error text ("" on success) and its kind through `kind`.
std::string resume_error(const fs::path& root, const toml::table& cfg, int64_t target, const DataFingerprint& data,
                         ErrorKind* kind = nullptr, ResumePoint* point = nullptr) {
  RunDir dir(root, "run", true);
  RunSpec spec;
  spec.config = &cfg;
  spec.rules = rules();
  spec.data = data;
  spec.target = target;
  spec.target_key = "fl.rounds";
  try {
    auto p = start_run(dir, spec, true);
    if (point) *point = p;
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ResumeConfig, HarmlessKeysAndRaisedTotalsAreAccepted) {
  auto saved = config();
  EXPECT_EQ(config_error(saved, with(saved, "run.threads=7")), "");
  EXPECT_EQ(config_error(saved, with(saved, "run.checkpoint_every=5")), "");
  EXPECT_EQ(config_error(saved, with(saved, "run.out_dir=\"./runs/\"")), "");
  EXPECT_EQ(config_error(saved, with(saved, "fl.rounds=9")), "");
}

TEST(ResumeConfig, PathsAreComparedCanonically) {
  auto saved = config();  // data.path = "/tmp"
  EXPECT_EQ(config_error(saved, with(saved, "data.path=\"/tmp/\"")), "");
  EXPECT_EQ(config_error(saved, with(saved, "data.path=\"/tmp/./\"")), "");
  auto cwd = fs::current_path();
  fs::current_path("/");
  EXPECT_EQ(config_error(saved, with(saved, "data.path=\"tmp\"")), "");  // relative to the working directory
  fs::current_path(cwd);
  auto msg = config_error(saved, with(saved, "data.path=\"/usr\""));
  EXPECT_NE(msg.find("data.path = \"/usr\" but the run was started with \"/tmp\""), std::string::npos) << msg;
}

TEST(ResumeConfig, AChangedKeyIsRefusedNamingItAndWhatMayChange) {
  auto saved = config();
  auto msg = config_error(saved, with(saved, "fl.lr=0.5"));
  EXPECT_NE(msg.find("fl.lr = 0.5 but the run was started with 0.1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fl.rounds (raise only), run.threads"), std::string::npos) << msg;
  // A key only one side has is a change too (e.g. a key the other plexus version did not write).
  EXPECT_NE(config_error(saved, with(saved, "fl.momentum=0.9")).find("fl.momentum = 0.9 but the run was started with <absent>"),
            std::string::npos);
}

TEST(StartRun, ResumesFromTheNewestCheckpointAfterEveryCheck) {
  auto root = fresh_root("ok");
  auto cfg = config();
  finished_run(root, cfg);
  ResumePoint p;
  EXPECT_EQ(resume_error(root, with(cfg, "fl.rounds=6"), 6, fingerprint(1), nullptr, &p), "");
  EXPECT_EQ(p.done, 4);
  EXPECT_EQ(p.checkpoint.filename(), "round_4.pt");
  // config.toml now records the raised total.
  EXPECT_EQ(load_toml(root / "run" / "config.toml")["fl"]["rounds"].value_or(int64_t{-1}), 6);
}

TEST(StartRun, FewerRoundsThanDoneAreRefusedAndNothingIsWritten) {
  auto root = fresh_root("fewer");
  auto cfg = config();
  finished_run(root, cfg);
  const std::string before = read_file(root / "run" / "config.toml");
  ErrorKind kind{};
  auto msg = resume_error(root, with(cfg, "fl.rounds=3"), 3, fingerprint(1), &kind);
  EXPECT_EQ(kind, ErrorKind::Config);
  EXPECT_NE(msg.find("fl.rounds = 3 but 4 rounds are already done (round_4.pt)"), std::string::npos) << msg;
  EXPECT_EQ(read_file(root / "run" / "config.toml"), before);
}

TEST(StartRun, OtherDataAreRefusedTheSameDataMovedIsAccepted) {
  auto root = fresh_root("data");
  auto cfg = config();
  finished_run(root, cfg);
  ErrorKind kind{};
  auto msg = resume_error(root, cfg, 4, fingerprint(2), &kind);
  EXPECT_EQ(kind, ErrorKind::Data);
  EXPECT_NE(msg.find("the data differ from the run's"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fingerprint(1).digest), std::string::npos) << msg;
  EXPECT_EQ(resume_error(root, cfg, 4, fingerprint(1, "fashion_mnist at /elsewhere")), "");
}

TEST(StartRun, ResumeWithoutACheckpointIsAConfigError) {
  auto root = fresh_root("no_ckpt");
  auto cfg = config();
  finished_run(root, cfg);
  for (auto& [n, p] : list_checkpoints(root / "run" / "checkpoints")) fs::remove(p);
  ErrorKind kind{};
  auto msg = resume_error(root, cfg, 4, fingerprint(1), &kind);
  EXPECT_EQ(kind, ErrorKind::Config);
  EXPECT_NE(msg.find("no checkpoint"), std::string::npos) << msg;
}

TEST(Fingerprint, DependsOnEveryByteAndShapeButNotTheSource) {
  EXPECT_EQ(fingerprint(1).digest, fingerprint(1, "elsewhere").digest);
  EXPECT_NE(fingerprint(1).digest, fingerprint(1.0000001f).digest);
  FingerprintBuilder a("s"), b("s");
  a.add("x", torch::zeros({2, 3}));
  b.add("x", torch::zeros({3, 2}));
  EXPECT_NE(a.finish().digest, b.finish().digest);
  EXPECT_EQ(a.finish().sizes.dump(), "{\"x\":[2,3]}");
}
