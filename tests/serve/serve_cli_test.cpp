// `plexus serve` end to end: a tiny FL run trained by `plexus fl run`, served by a child process that
// ServerProcess starts and stops, queried through ApiClient; and the one-line errors of bad command lines.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "../cli_util.h"
#include "../llm/tiny_model.h"
#include "plexus/core/checkpoint.h"
#include "plexus/core/error.h"
#include "plexus/llm/policy.h"
#include "plexus/serve/api_server.h"
#include "plexus/serve/api_client.h"
#include "plexus/serve/black_box.h"
#include "plexus/serve/server_process.h"

using namespace plexus;
using namespace plexus::serve;
using plexus::test::run_plexus;

namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  static const fs::path p = [] {
    auto d = fs::temp_directory_path() / ("plexus_serve_cli_" + std::to_string(::getpid()));
    fs::remove_all(d);  // pids wrap: an earlier process of this pid may have left files
    fs::create_directories(d);
    return d;
  }();
  return p;
}

fs::path write_file(const std::string& name, const std::string& text) {
  auto p = temp_dir() / name;
  std::ofstream(p) << text;
  return p;
}

// One FL round on 4-class synthetic [1,4,4] data with 3 clients: a run directory in seconds (trained once).
const fs::path& tiny_run() {
  static const fs::path run = [] {
    const auto cfg = write_file("fl.toml", R"(
[run]
name = "served"
threads = 1
[data]
dataset = "synthetic"
synthetic_train = 120
synthetic_test = 60
synthetic_classes = 4
synthetic_dim = 4
[model]
name = "mlp"
hidden = [8]
[fl]
algorithm = "dfedsam"
clients = 3
rounds = 1
[topology]
kind = "ring"
[train]
local_steps = 2
)");
    const auto r = run_plexus("fl run --config " + cfg.string() + " --set run.out_dir=\\\"" + temp_dir().string() + "\\\"");
    EXPECT_EQ(r.code, 0) << r.out;
    return temp_dir() / "served";
  }();
  return run;
}

// A tiny LLM pretrained for 4 steps on arithmetic text (trained once; its values do not matter here).
const fs::path& tiny_llm_run() {
  static const fs::path run = [] {
    std::ofstream(temp_dir() / "llm.toml")
        << "[run]\nname = \"llm\"\nout_dir = \"" << temp_dir().string() << "\"\n"
        << plexus::test::tiny_model_toml(64)
        << "[data]\nsource = \"arithmetic\"\narithmetic_examples = 200\n"
        << "[tokenizer]\nvocab_size = 96\n"
        << "[train]\nsteps = 4\nbatch_size = 4\nseq_len = 64\nlr = 1e-2\nwarmup_steps = 1\neval_every = 4\n"
           "eval_batches = 1\ncheckpoint_every = 4\n";
    const auto r = run_plexus("llm pretrain --config " + (temp_dir() / "llm.toml").string());
    EXPECT_EQ(r.code, 0) << r.out;
    return temp_dir() / "llm";
  }();
  return run;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0; }

}  // namespace

TEST(ServeCli, LoadImageBoxServesTheRowMeanOfX) {
  const auto box = load_image_box(tiny_run());
  EXPECT_EQ(box->classes(), 4);  // recovered from the checkpoint's width P
  EXPECT_EQ(box->info()["input_shape"], nlohmann::json({1, 4, 4}));
  // Two paths agree: the box's logits vs an MLP built by hand from x̄ = mean over rows of X.
  const auto ck = load_checkpoint(latest_checkpoint(tiny_run() / "checkpoints"));
  const auto xbar = ck.tensors.at("X").to(torch::kFloat64).mean(0);  // [P]
  const int64_t in = 16, hid = 8, K = 4;  // fc1 weight [8,16], bias [8]; output_layer weight [4,8], bias [4]
  ASSERT_EQ(xbar.numel(), hid * in + hid + K * hid + K);
  auto w1 = xbar.narrow(0, 0, hid * in).view({hid, in}), b1 = xbar.narrow(0, hid * in, hid);
  auto w2 = xbar.narrow(0, hid * in + hid, K * hid).view({K, hid}), b2 = xbar.narrow(0, hid * in + hid + K * hid, K);
  torch::manual_seed(5);
  const auto x = torch::randn({6, 1, 4, 4});
  const auto want = torch::relu(x.view({6, in}).to(torch::kFloat64).matmul(w1.t()) + b1).matmul(w2.t()) + b2;
  const auto got = box->logits(images_to_wire(x));
  EXPECT_TRUE(torch::allclose(got.to(torch::kFloat64), want, 1e-5, 1e-5));  // f32 forward vs f64 by hand
}

TEST(ServeCli, ServerProcessServesAndStopsCleanly) {
  const auto keys = write_file("keys.json", R"({"keys": {"client": {"budget": 3}, "eval": {"budget": null}}})");
  ServerProcessOptions o;
  o.model = tiny_run();
  o.keys = keys;
  o.binary = PLEXUS_BINARY;
  o.extra_args = {"--max-batch", "64"};
  pid_t pid;
  {
    ServerProcess server(o);
    pid = server.pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(server.url().rfind("http://127.0.0.1:", 0), 0u) << server.url();
    ApiClient c(server.url(), "client");
    const auto info = c.info();
    EXPECT_EQ(info["classes"], 4);
    EXPECT_EQ(info["limits"]["max_batch"], 64);
    torch::manual_seed(6);
    const auto x = torch::randn({5, 1, 4, 4});
    const auto p = c.predict(x, torch::tensor({0, 1, 2, 3, 0}, torch::kInt64));
    EXPECT_EQ(p.logits.sizes(), (std::vector<int64_t>{5, 4}));
    EXPECT_TRUE(torch::isfinite(p.logits).all().item<bool>());
    EXPECT_TRUE(torch::isfinite(p.losses).all().item<bool>());
    EXPECT_EQ(p.queries_used, 1);
    EXPECT_EQ(p.query_budget, 3);
    c.predict(x), c.predict(x);
    EXPECT_THROW(c.predict(x), Error);  // 4th call: budget 3 spent
    EXPECT_EQ(ApiClient(server.url(), "eval").predict(x).queries_used, 1);
    EXPECT_EQ(server.stop(), 0);  // SIGTERM: clean exit 0, with the usage report on stderr
    EXPECT_NE(server.stderr_tail().find("usage: key client  queries 3 / 3  examples 15"), std::string::npos)
        << server.stderr_tail();
  }
  EXPECT_FALSE(process_exists(pid));  // reaped: not even a zombie
}

TEST(ServeCli, DestructorStopsARunningServer) {
  const auto keys = write_file("keys2.json", R"({"keys": {"k": {"budget": null}}})");
  ServerProcessOptions o;
  o.model = tiny_run();
  o.keys = keys;
  o.binary = PLEXUS_BINARY;
  pid_t pid;
  std::string url;
  {
    ServerProcess server(o);
    pid = server.pid(), url = server.url();
    EXPECT_TRUE(process_exists(pid));
  }
  EXPECT_FALSE(process_exists(pid));
  try {
    ApiClient(url, "k").info();
    FAIL() << "the server still answers";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
  }
}

TEST(ServeCli, ServerProcessReportsAChildThatFailsToStart) {
  ServerProcessOptions o;
  o.model = temp_dir() / "no_such_run";
  o.keys = write_file("keys3.json", R"({"keys": {"k": {"budget": 1}}})");
  o.binary = PLEXUS_BINARY;
  try {
    ServerProcess server(o);
    FAIL() << "expected Error(Io)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("exited with status"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no_such_run"), std::string::npos) << e.what();  // the child's error line
  }
}

TEST(ServeCli, BadInputGivesOneErrorLineAndNonZeroExit) {
  const auto keys = write_file("keys4.json", R"({"keys": {"k": {"budget": 1}}})");
  const std::string run = tiny_run().string();
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"--model " + (temp_dir() / "missing").string() + " --keys " + keys.string(), "is not a directory"},
      {"--model " + temp_dir().string() + " --keys " + keys.string(), "no config.toml"},
      {"--model " + run + " --keys " + write_file("bad.json", "{\"keys\": 3}").string(), "bad.json"},
      {"--model " + run + " --keys " + write_file("neg.json", R"({"keys": {"k": {"budget": -5}}})").string(),
       "budget -5 < 0"},
      {"--model " + run + " --keys " + (temp_dir() / "none.json").string(), "does not exist"},
      {"--model " + run + " --keys " + keys.string() + " --host 0.0.0.0", "loopback"},
      {"--model " + run + " --keys " + keys.string() + " --max-batch 0", "--max-batch = 0"},
      {"--model " + run + " --keys " + keys.string() + " --label-words a,b", "--label-words is for LLM runs"},
  };
  for (const auto& c : cases) {
    const auto r = run_plexus("serve " + c.args);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << c.args << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << c.args << ": " << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << ": " << r.out;
  }
}

TEST(ServeCli, TextVerbalizerBoxReadsLabelWordLogitsAtTheLastToken) {
  auto box = std::make_shared<TextVerbalizerBox>(tiny_llm_run(), std::vector<std::string>{"1", "2", "3"});
  EXPECT_EQ(run_kind(tiny_llm_run()), "llm");
  const auto info = box->info();
  EXPECT_EQ(info["task"], "text_classification");
  EXPECT_EQ(info["label_words"], nlohmann::json({"1", "2", "3"}));
  ApiServer server(box, {{"k", std::nullopt}});
  const int port = server.start("127.0.0.1", 0);
  ApiClient c("http://127.0.0.1:" + std::to_string(port), "k");
  const std::vector<std::string> texts = {"1 + 1 =", "2 + 1 ="};
  const auto p = c.predict_texts(texts, torch::tensor({1, 2}, torch::kInt64));
  ASSERT_EQ(p.logits.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(torch::isfinite(p.logits).all().item<bool>());
  EXPECT_TRUE(p.losses.defined());
  // Second path: the policy's own forward, last position, at the label words' tokens.
  auto policy = llm::load_policy(tiny_llm_run(), torch::kCPU, "test");
  torch::NoGradGuard g;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = torch::tensor(llm::encode64(*policy.tok, texts[i]), torch::kInt64).view({1, -1});
    auto v = policy.model->forward(ids)[0][ids.size(1) - 1];  // [V]
    for (int64_t k = 0; k < 3; ++k) {
      int64_t id = -1;
      for (int64_t t : llm::encode64(*policy.tok, " " + std::to_string(k + 1)))
        if (policy.tok->decode({static_cast<int>(t)}).find_first_not_of(" ") != std::string::npos) {
          id = t;
          break;
        }
      EXPECT_NEAR(p.logits[i][k].item<double>(), v[id].item<double>(), 1e-5) << i << "," << k;  // same f32 forward
    }
  }
  EXPECT_EQ(c.send("POST", "/v1/predict", R"({"texts": []})").status, 400);
  EXPECT_EQ(c.send("POST", "/v1/predict", R"({"texts": ["a", 3]})").status, 400);
  EXPECT_THROW(TextVerbalizerBox(tiny_llm_run(), {"1"}), Error);         // one class
  EXPECT_THROW(TextVerbalizerBox(tiny_llm_run(), {"1", "1"}), Error);    // same first token
}
