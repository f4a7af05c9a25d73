// TensorBoard event files (src/plexus/core/tensorboard.h) read back by an independent Python reader
// (tests/exp/read_tfevents.py: its own bitwise CRC-32C and protobuf decoding), and `run.tensorboard = true` on a
// real FL run.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../cli_util.h"
#include "plexus/core/run_dir.h"
#include "plexus/core/tensorboard.h"

namespace plexus::tensorboard {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path temp_dir(const std::string& tag) {
  auto p = fs::temp_directory_path() / fmt::format("plexus_tb_test_{}_{}", tag, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Events decoded by the Python reader; fails the test if it reports a bad CRC or framing.
std::vector<json> read_back(const std::vector<fs::path>& files) {
  std::string cmd = std::string("python3 ") + PLEXUS_SOURCE_DIR + "/tests/exp/read_tfevents.py";
  for (const auto& f : files) cmd += " '" + f.string() + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && std::fgets(buf, sizeof(buf), p)) out += buf;
  int st = p ? pclose(p) : -1;
  EXPECT_EQ(st, 0) << out;
  std::vector<json> events;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) events.push_back(json::parse(line));
  }
  return events;
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

TEST(Crc32c, MatchesRfc3720CheckValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // RFC 3720 B.4 / the CRC catalogue's "check" value
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720 B.4: 32 bytes of 0xff
}

TEST(EventWriter, ScalarsRoundTripThroughAnIndependentReader) {
  auto dir = temp_dir("roundtrip");
  {
    EventWriter w(dir);
    w.add_scalars(1, {{"loss", 0.5}, {"acc", 0.25}});
    w.add_scalars(2, {{"loss", 0.375}, {"acc", -1e-3}});
    w.add_scalars(300000, {{"big_step", 7.0}});
    w.session_start(2);
  }
  auto files = event_files(dir);
  ASSERT_EQ(files.size(), 1u);
  auto ev = read_back(files);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0]["file_version"], "brain.Event:2");
  EXPECT_EQ(ev[1]["step"], 1);
  EXPECT_EQ(ev[1]["scalars"]["loss"], 0.5);  // exactly representable in float32
  EXPECT_EQ(ev[1]["scalars"]["acc"], 0.25);
  EXPECT_EQ(ev[2]["step"], 2);
  EXPECT_EQ(ev[2]["scalars"]["loss"], 0.375);
  EXPECT_NEAR(ev[2]["scalars"]["acc"].get<double>(), -1e-3, 1e-10);  // float32 rounding of -0.001
  EXPECT_EQ(ev[3]["step"], 300000);  // a multi-byte varint
  EXPECT_EQ(ev[4]["step"], 2);
  EXPECT_EQ(ev[4]["session_start"], true);
  EXPECT_GT(ev[1]["wall_time"].get<double>(), 1.6e9);  // seconds since the epoch, after 2020
}

TEST(EventWriter, CorruptionIsDetectedByTheReader) {
  auto dir = temp_dir("corrupt");
  fs::path path;
  {
    EventWriter w(dir);
    w.add_scalars(1, {{"loss", 0.5}});
    path = w.path();
  }
  // Flip one byte of the last record's payload: its data CRC must no longer match.
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-6, std::ios::end);
  f.put('\x42');
  f.close();
  std::string cmd = std::string("python3 ") + PLEXUS_SOURCE_DIR + "/tests/exp/read_tfevents.py '" + path.string() +
                    "' >/dev/null 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
}

TEST(MetricsWriter, TensorboardMirrorsRowsAndMarksResume) {
  auto dir = temp_dir("metrics");
  {
    MetricsWriter m(dir);
    m.enable_tensorboard();
    m.append({{"round", 1}, {"train_loss", 1.5}, {"acc", nullptr}, {"strongly_connected", true}, {"name", "x"}});
    m.append({{"round", 2}, {"train_loss", 1.25}, {"acc", 0.5}, {"strongly_connected", false}, {"name", "x"}});
  }
  {
    MetricsWriter m(dir);  // a resumed run: keeps round 1, continues at round 2
    m.truncate_after("round", 1);
    m.enable_tensorboard();
    m.append({{"round", 2}, {"train_loss", 1.0}, {"acc", 0.75}, {"strongly_connected", true}, {"name", "x"}});
  }
  auto files = event_files(dir);
  ASSERT_EQ(files.size(), 2u);  // one file per writer, as TensorBoard expects of a resumed run
  std::vector<json> ev;
  for (const auto& f : files) {
    auto e = read_back({f});
    ev.insert(ev.end(), e.begin(), e.end());
  }
  std::vector<json> scalars, starts;
  for (const auto& e : ev) {
    if (e.contains("scalars")) scalars.push_back(e);
    if (e.contains("session_start")) starts.push_back(e);
  }
  ASSERT_EQ(scalars.size(), 3u);
  EXPECT_EQ(scalars[0]["step"], 1);
  EXPECT_EQ(scalars[0]["scalars"]["train_loss"], 1.5);
  EXPECT_FALSE(scalars[0]["scalars"].contains("acc"));   // null: no point
  EXPECT_FALSE(scalars[0]["scalars"].contains("name"));  // strings are not scalars
  EXPECT_EQ(scalars[0]["scalars"]["strongly_connected"], 1.0);
  EXPECT_EQ(scalars[2]["step"], 2);
  EXPECT_EQ(scalars[2]["scalars"]["train_loss"], 1.0);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]["step"], 2);  // TensorBoard drops the first writer's round 2
}

TEST(TensorboardCli, FlRunWritesEventsMatchingMetrics) {
  auto dir = temp_dir("fl");
  auto cfg = dir / "tiny.toml";
  std::ofstream(cfg) << fmt::format(R"([run]
name = "tb"
out_dir = "{}"
seed = 1
threads = 1
tensorboard = true
[data]
dataset = "synthetic"
synthetic_train = 240
synthetic_test = 120
synthetic_classes = 3
synthetic_dim = 4
[model]
name = "mlp"
hidden = [8]
[fl]
algorithm = "fedavg"
clients = 4
rounds = 2
client_fraction = 0.5
[train]
batch_size = 16
local_steps = 2
lr = 0.1
)", dir.string());
  auto r = test::run_plexus("fl run --config " + cfg.string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto files = event_files(dir / "tb");
  ASSERT_EQ(files.size(), 1u);
  auto ev = read_back(files);
  std::vector<json> rows;
  std::ifstream in(dir / "tb" / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(ev.size(), 3u);  // file_version + one event per round
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(ev[k + 1]["step"], rows[k]["round"]);
    for (const char* key : {"train_loss", "global_acc", "local_acc_mean"}) {
      // float32 simple_value: relative rounding 2^-24.
      EXPECT_NEAR(ev[k + 1]["scalars"][key].get<double>(), rows[k][key].get<double>(),
                  1e-6 * std::abs(rows[k][key].get<double>()) + 1e-12) << key;
    }
  }
}

}  // namespace
}  // namespace plexus::tensorboard
