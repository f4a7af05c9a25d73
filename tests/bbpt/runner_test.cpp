// Fed-BBPT end to end through the CLI: a source model trained by `plexus fl run`, then prompt tuning against it
// through a `plexus serve` child on loopback. Checks what is known without the code: the exact query count of
// SPSA-GC (K steps × 2q calls per participant), budgets that stop clients and are carried over a resume, FedAvg
// leaving every row equal and local-only not, the white-box baseline spending no queries, bit-identical resume,
// and one-line errors for bad settings.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "../cli_util.h"
#include "../fl/synthetic_config.h"
#include "run_files.h"
#include "plexus/core/checkpoint.h"
#include "plexus/serve/api_client.h"
#include "plexus/serve/server_process.h"

using namespace plexus;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

fs::path root() { return test::temp_root("bbpt"); }

// A 1-round source model on the synthetic task (6 clients, [1,4,4] images, 4 classes), trained once per process.
fs::path source_run() {
  static const fs::path dir = [] {
    auto cfg = test::synthetic_config("fedavg", "source", "bbpt");
    apply_override(cfg, "fl.rounds=3");
    apply_override(cfg, "fl.client_fraction=1.0");
    auto file = root() / "source.toml";
    std::ofstream(file) << cfg;
    auto r = test::run_plexus("fl run --config " + file.string());
    EXPECT_EQ(r.code, 0) << r.out;
    return root() / "source";
  }();
  return dir;
}

// Write a black-box config (the synthetic task, shifted) with `sets` applied; returns its path.
fs::path bbpt_config(const std::string& algorithm, const std::string& name, const std::vector<std::string>& sets = {}) {
  auto cfg = test::synthetic_config(algorithm, name, "bbpt",
                                    "[bbpt]\nshift = \"invert\"\nspsa_perturbations = 2\neval_size = 100\n"
                                    "generator_features = 2\ngenerator_hidden = 2\ngenerator_trigger = 2\n");
  cfg.erase("model");
  apply_override(cfg, "bbpt.model=\"" + source_run().string() + "\"");
  apply_override(cfg, "fl.rounds=2");
  apply_override(cfg, "train.local_steps=3");
  for (const auto& s : sets) apply_override(cfg, s);
  auto file = root() / (name + ".toml");
  std::ofstream(file) << cfg;
  return file;
}

std::vector<Json> metrics(const std::string& name) { return test::read_metrics(root() / name); }
Json summary(const std::string& name) { return test::read_summary(root() / name); }
torch::Tensor final_x(const std::string& name) { return test::final_prompts(root() / name); }

}  // namespace

TEST(FedBbptCli, CountsExactlyTwoQCallsPerStepAndAveragesTheGenerators) {
  auto r = test::run_plexus("fl run --config " + bbpt_config("fed_bbpt", "fed").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto rows = metrics("fed");
  ASSERT_EQ(rows.size(), 2u);
  int64_t total = 0;
  for (const auto& row : rows) {
    // 3 participants (round(0.5·6)) × K = 3 steps × 2q = 4 calls.
    EXPECT_EQ(row["participants"].get<int64_t>(), 3);
    EXPECT_EQ(row["queries"].get<int64_t>(), 3 * 3 * 4);
    total += row["queries"].get<int64_t>();
    EXPECT_EQ(row["queries_total"].get<int64_t>(), total);
    EXPECT_GT(row["api_bytes_per_client"].get<double>(), 0.0);
    EXPECT_TRUE(row["global_acc"].is_number());
  }
  auto X = final_x("fed");
  EXPECT_TRUE(X.eq(X[0]).all().item<bool>()) << "FedAvg leaves every client with the averaged generator";
  EXPECT_FALSE(X[0].eq(0).all().item<bool>()) << "the generator moved";
  auto s = summary("fed");
  EXPECT_TRUE(s["zero_shot_global_acc"].is_number());
  EXPECT_EQ(s["algorithm"], "Fed-BBPT");
  // The run's keys file is its owner's only.
  struct stat st {};
  ASSERT_EQ(::stat((root() / "fed" / "api_keys.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST(FedBbptCli, SameSeedSameResultAndResumeIsBitIdentical) {
  ASSERT_EQ(test::run_plexus("fl run --config " + bbpt_config("fed_bbpt", "full", {"fl.rounds=3"}).string()).code, 0);
  ASSERT_EQ(test::run_plexus("fl run --config " + bbpt_config("fed_bbpt", "again", {"fl.rounds=3"}).string()).code, 0);
  EXPECT_TRUE(final_x("full").equal(final_x("again")));
  // 2 rounds, then resume to 3: the same generators and the same query counts.
  auto part = bbpt_config("fed_bbpt", "part", {"fl.rounds=2"});
  ASSERT_EQ(test::run_plexus("fl run --config " + part.string()).code, 0);
  auto r = test::run_plexus("fl run --config " + part.string() + " --set fl.rounds=3 --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(final_x("part").equal(final_x("full")));
  EXPECT_EQ(metrics("part").back()["queries_total"], metrics("full").back()["queries_total"]);
  EXPECT_EQ(metrics("part").back()["global_acc"], metrics("full").back()["global_acc"]);
  EXPECT_EQ(metrics("part").back()["eval_queries_total"], metrics("full").back()["eval_queries_total"])
      << "the resume reads the zero-shot accuracy from the checkpoint instead of measuring the resumed prompt";
  EXPECT_EQ(summary("part")["zero_shot_global_acc"], summary("full")["zero_shot_global_acc"]);
}

TEST(FedBbptCli, BudgetStopsClientsAndCarriesOverAResume) {
  // 10 calls per client: two steps of 4 calls fit, the third does not.
  auto cfg = bbpt_config("fed_bbpt", "budget", {"bbpt.query_budget=10", "fl.client_fraction=1.0"});
  auto r = test::run_plexus("fl run --config " + cfg.string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto rows = metrics("budget");
  EXPECT_EQ(rows[0]["queries"].get<int64_t>(), 6 * 2 * 4);
  EXPECT_EQ(rows[0]["clients_out_of_budget"].get<int64_t>(), 6);
  EXPECT_EQ(rows[1]["queries"].get<int64_t>(), 0) << "2 calls left per client pay for no step";
  r = test::run_plexus("fl run --config " + cfg.string() + " --set fl.rounds=3 --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(metrics("budget").back()["queries_total"].get<int64_t>(), 48) << "the budget is per run, not per server";
}

TEST(FedBbptCli, LocalOnlyKeepsClientsApartAndWhiteBoxSpendsNoQueries) {
  ASSERT_EQ(test::run_plexus("fl run --config " + bbpt_config("bbpt_local", "local").string()).code, 0);
  auto X = final_x("local");
  EXPECT_FALSE(X[0].equal(X[1]) && X[1].equal(X[2])) << "no averaging";
  EXPECT_EQ(metrics("local").back()["model_bytes_per_client"].get<double>(), 0.0);
  EXPECT_TRUE(metrics("local").back()["global_acc"].is_null());

  auto r = test::run_plexus("fl run --config " + bbpt_config("bbpt_whitebox", "white", {"fl.rounds=4"}).string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto rows = metrics("white");
  for (const auto& row : rows) EXPECT_EQ(row["queries"].get<int64_t>(), 0);
  EXPECT_GT(summary("white")["global_acc"].get<double>(), summary("white")["zero_shot_global_acc"].get<double>())
      << "true gradients through the model undo part of the inversion";
}

TEST(FedBbptCli, BadSettingsAreOneLineErrors) {
  auto expect_error = [](const std::string& args, const std::string& needle) {
    auto r = test::run_plexus(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
  };
  auto cfg = bbpt_config("fed_bbpt", "bad").string();
  expect_error("fl run --config " + cfg + " --set bbpt.model=\\\"/nonexistent/run\\\"", "/nonexistent/run");
  EXPECT_FALSE(fs::exists(root() / "bad")) << "nothing written for a missing model";
  expect_error("fl run --config " + cfg + " --set bbpt.spsa_perturbation=3", "spsa_perturbations");
  expect_error("fl run --config " + cfg + " --set fl.algorithm=fedavg", "[bbpt] is set");
  expect_error("fl run --config " + cfg + " --set bbpt.api_url=\\\"http://127.0.0.1:1\\\"", "api_keys");
  expect_error("fl run --config " + cfg + " --set bbpt.api_keys=\\\"keys.json\\\"", "only with api_url");
  expect_error("fl run --config " + cfg + " --set bbpt.task=\\\"text\\\"", "needs an llm run");
  // A choice written as a number is shown as written, with the allowed values.
  expect_error("fl run --config " + cfg + " --set bbpt.shift=3",
               "[bbpt] shift = 3 is not one of: none, invert, low_contrast, rotate, relabel");
  // One SPSA-GC step costs 2q = 4 calls here: a budget of 3 could never train.
  expect_error("fl run --config " + cfg + " --set bbpt.query_budget=3", "query_budget = 3 cannot pay for one local step");
  EXPECT_FALSE(fs::exists(root() / "bad")) << "nothing written for a budget below one step";
  // A Fed-BBPT run is prompts, not a model to serve.
  ASSERT_EQ(test::run_plexus("fl run --config " + bbpt_config("fed_bbpt", "prompts").string()).code, 0);
  expect_error("fl run --config " + cfg + " --set bbpt.model=\\\"" + (root() / "prompts").string() + "\\\"",
               "is a fed_bbpt run");
  // A model of another input shape: the synthetic data at 5×5 against the 4×4 source model.
  expect_error("fl run --config " + cfg + " --set data.synthetic_dim=5 --set run.name=\\\"bad5\\\"", "inputs");
}

namespace {

// A keys file for an external server: client-0..client-5 with `budget` calls each, and "eval" unlimited.
fs::path external_keys_file(const std::string& name, int64_t budget) {
  Json keys;
  for (int i = 0; i < 6; ++i) keys["keys"]["client-" + std::to_string(i)] = {{"budget", budget}};
  keys["keys"]["eval"] = {{"budget", nullptr}};
  auto file = root() / (name + "_keys.json");
  std::ofstream(file) << keys.dump();
  return file;
}

std::string external_sets(const std::string& url, const fs::path& keys) {
  return " --set bbpt.api_url=\\\"" + url + "\\\" --set bbpt.api_keys=\\\"" + keys.string() + "\\\"";
}

}  // namespace

TEST(FedBbptCli, ExternalServerLimitsAndSpentBudgetsAreReadFromItsInfo) {
  // A server of max batch 16 (the training batch) and 15 calls per client key, one of which already spent 7.
  const auto keys = external_keys_file("ext", 15);
  serve::ServerProcess server({.model = source_run(), .keys = keys, .extra_args = {"--max-batch", "16"},
                               .binary = PLEXUS_BINARY});
  for (int i = 0; i < 7; ++i) serve::ApiClient(server.url(), "client-0").predict(torch::zeros({1, 1, 4, 4}));
  auto cfg = bbpt_config("fed_bbpt", "ext", {"fl.client_fraction=1.0"}).string();
  auto r = test::run_plexus("fl run --config " + cfg + external_sets(server.url(), keys));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("split to 16"), std::string::npos) << "bbpt.max_batch = 1024 > the server's 16:\n" << r.out;
  auto rows = metrics("ext");
  // Round 1: 5 fresh keys pay 3 steps of 4 calls (12 of 15); client-0 has 8 left: 2 steps. Round 2: nobody can
  // pay a step (3 and 0 left), so no call is refused with 429 mid-run.
  EXPECT_EQ(rows[0]["queries"].get<int64_t>(), 5 * 12 + 8);
  EXPECT_EQ(rows[1]["queries"].get<int64_t>(), 0);
  EXPECT_EQ(rows[1]["clients_out_of_budget"].get<int64_t>(), 6);
  EXPECT_EQ(serve::ApiClient(server.url(), "client-0").info()["queries_left"], 0);
  EXPECT_EQ(serve::ApiClient(server.url(), "client-1").info()["queries_left"], 3);

  // A training batch over the server's max batch: one line naming the key to set, before the run directory.
  r = test::run_plexus("fl run --config " + cfg + external_sets(server.url(), keys) +
                       " --set train.batch_size=32 --set run.name=\\\"ext32\\\"");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("set train.batch_size <= 16"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root() / "ext32"));
}

TEST(FedBbptCli, AResumeFollowsARestartedExternalServerAndSpentKeysAreRefused) {
  const auto keys = external_keys_file("extres", 100);
  auto cfg = bbpt_config("fed_bbpt", "extres", {"fl.client_fraction=1.0", "run.checkpoint_every=1"}).string();
  std::vector<Json> first;
  {
    serve::ServerProcess server({.model = source_run(), .keys = keys, .binary = PLEXUS_BINARY});
    ASSERT_EQ(test::run_plexus("fl run --config " + cfg + external_sets(server.url(), keys) + " --set fl.rounds=1")
                  .code, 0);
    first = metrics("extres");
  }
  // The server restarts on another port with its keys file copied elsewhere; the resume follows both.
  const auto moved = root() / "extres_keys_moved.json";
  fs::copy_file(keys, moved, fs::copy_options::overwrite_existing);
  serve::ServerProcess again({.model = source_run(), .keys = moved, .binary = PLEXUS_BINARY});
  auto r = test::run_plexus("fl run --config " + cfg + external_sets(again.url(), moved) + " --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = metrics("extres");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["queries"], first[0]["queries"]);
  EXPECT_EQ(rows[1]["queries"].get<int64_t>(), 6 * 3 * 4);  // 6 clients × K = 3 steps × 2q = 4 calls

  // Keys that cannot pay one step (2q = 4 calls) on that server: refused before the run directory.
  const auto poor = external_keys_file("extpoor", 3);
  serve::ServerProcess poor_server({.model = source_run(), .keys = poor, .binary = PLEXUS_BINARY});
  r = test::run_plexus("fl run --config " + cfg + external_sets(poor_server.url(), poor) +
                       " --set run.name=\\\"extpoor\\\"");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no client key"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root() / "extpoor"));
}

TEST(FedBbptCli, BrokenExternalServerSettingsFailBeforeTheRunDirectory) {
  auto cfg = bbpt_config("fed_bbpt", "extbad").string();
  const auto good_keys = external_keys_file("extbad", 100);
  const auto broken = root() / "broken_keys.json";
  std::ofstream(broken) << "{\"keys\": {\"client-0\": {\"budget\": 5},";
  struct Case {
    std::string url;
    fs::path keys;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"http://127.0.0.1:1", root() / "no_such_keys.json", "does not exist"},
      {"http://127.0.0.1:1", broken, "is not JSON"},
      {"http://127.0.0.1:1", good_keys, "cannot reach the model service"},  // nothing listens on port 1
      {"ftp://127.0.0.1:8080", good_keys, "must look like http://"},
  };
  for (const auto& c : cases) {
    auto r = test::run_plexus("fl run --config " + cfg + external_sets(c.url, c.keys));
    EXPECT_NE(r.code, 0) << c.needle;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[bbpt] api_"), std::string::npos) << "names the key to fix: " << r.out;
    EXPECT_EQ(r.out.find("error:"), r.out.rfind("error:")) << "one error line: " << r.out;
    EXPECT_FALSE(fs::exists(root() / "extbad")) << "nothing written for: " << c.needle;
  }
}

TEST(FedBbptCli, ResumeOfARunStoppedBeforeItsFirstCheckpointStartsFromRoundZero) {
  // checkpoint_every = 0 writes a checkpoint only at the end: remove it to stand for a run killed before it.
  auto cfg = bbpt_config("fed_bbpt", "nockpt", {"run.checkpoint_every=0"}).string();
  ASSERT_EQ(test::run_plexus("fl run --config " + cfg).code, 0);
  const auto full_x = final_x("nockpt");
  const auto full_rows = metrics("nockpt");
  fs::remove_all(root() / "nockpt" / "checkpoints");
  fs::remove(root() / "nockpt" / "summary.json");
  auto r = test::run_plexus("fl run --config " + cfg + " --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("starting again from round 0"), std::string::npos) << r.out;
  EXPECT_TRUE(final_x("nockpt").equal(full_x)) << "the same seeded run again";
  ASSERT_EQ(metrics("nockpt").size(), full_rows.size()) << "the old rows were replaced, not appended to";
  EXPECT_EQ(metrics("nockpt").back()["queries_total"], full_rows.back()["queries_total"]);
  // The rule that the config must match is kept.
  fs::remove_all(root() / "nockpt" / "checkpoints");
  r = test::run_plexus("fl run --config " + cfg + " --resume --set bbpt.spsa_a=0.5");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("spsa_a"), std::string::npos) << r.out;
}

TEST(FedBbptCli, ABlackBoxThatCannotStartLeavesNoRunDirectory) {
  // An image run directory without checkpoints passes the kind check (config.toml) but `plexus serve` cannot
  // load it: the child's message is the error, and the fresh run's directory is removed again.
  const auto model = root() / "no_checkpoint_model";
  fs::create_directories(model);
  fs::copy_file(source_run() / "config.toml", model / "config.toml", fs::copy_options::overwrite_existing);
  auto cfg = bbpt_config("fed_bbpt", "nostart", {"bbpt.model=\"" + model.string() + "\""}).string();
  auto r = test::run_plexus("fl run --config " + cfg);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("checkpoints"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root() / "nostart")) << "nothing left behind by a run whose black box did not start";
}
