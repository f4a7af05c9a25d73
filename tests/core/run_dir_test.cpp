// Run directories (issue 11, items 2 and 3): a run holds an exclusive lock on its directory for its lifetime,
// and the metrics history is validated before a resume touches it -- a missing, empty or damaged
// metrics.jsonl is one error naming the file and line, and the file is left byte for byte as it was.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "plexus/core/error.h"
#include "plexus/core/file_io.h"
#include "plexus/core/run_dir.h"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

fs::path fresh_root(const std::string& name) {
  auto d = fs::temp_directory_path() / ("plexus_rundir_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

nlohmann::ordered_json row(int64_t round, double loss) {
  nlohmann::ordered_json r;
  r["round"] = round;
  r["train_loss"] = loss;
  return r;
}

// A run directory `root/run` with rows 1..n appended through MetricsWriter.
void write_rows(const fs::path& root, int n) {
  RunDir dir(root, "run", false);
  for (int k = 1; k <= n; ++k) dir.metrics().append(row(k, 1.0 / k));
}

// The Error(Data) message of check_history on `root/run`, or "" if it passed.
std::string history_error(const fs::path& root, int64_t done) {
  RunDir dir(root, "run", true);
  try {
    dir.metrics().check_history("round", done);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RunDir, SecondRunOfTheSameNameIsRefusedNamingTheHolder) {
  auto root = fresh_root("lock");
  RunDir first(root, "run", false);
  for (bool resume : {false, true}) {
    try {
      RunDir second(root, "run", resume);
      FAIL() << "a second run in a locked directory must fail";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(msg.find("in use by another plexus run"), std::string::npos) << msg;
      EXPECT_NE(msg.find("pid " + std::to_string(::getpid())), std::string::npos) << msg;
    }
  }
  first.metrics().append(row(1, 0.5));
  // The lock dies with its holder (as it does when a process exits or is killed).
  { RunDir moved = std::move(first); }
  RunDir again(root, "run", true);
  EXPECT_EQ(again.metrics().rows().size(), 1u);
}

TEST(RunDir, FreshRunRefusesADirectoryWithResults) {
  auto root = fresh_root("fresh");
  write_rows(root, 1);
  try {
    RunDir dir(root, "run", false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already holds results"), std::string::npos) << e.what();
  }
}

TEST(MetricsHistory, IntactHistoryPassesAndTruncatesToTheCheckpoint) {
  auto root = fresh_root("intact");
  write_rows(root, 5);
  {
    RunDir dir(root, "run", true);
    dir.metrics().truncate_after("round", 3);
    EXPECT_EQ(dir.metrics().rows().size(), 3u);
  }
  std::string csv = read_file(root / "run" / "metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;  // header + 3 rows
  EXPECT_EQ(history_error(root, 3), "");
}

TEST(MetricsHistory, MissingFileIsAnErrorNamingIt) {
  auto root = fresh_root("missing");
  write_rows(root, 3);
  fs::remove(root / "run" / "metrics.jsonl");
  auto msg = history_error(root, 3);
  EXPECT_NE(msg.find("metrics.jsonl' is missing"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(root / "run" / "metrics.jsonl"));
}

TEST(MetricsHistory, EmptyFileIsAnErrorAndStaysEmpty) {
  auto root = fresh_root("empty");
  write_rows(root, 3);
  std::ofstream(root / "run" / "metrics.jsonl", std::ios::trunc).flush();
  auto msg = history_error(root, 3);
  EXPECT_NE(msg.find("metrics.jsonl' ends at round 0"), std::string::npos) << msg;
  EXPECT_EQ(fs::file_size(root / "run" / "metrics.jsonl"), 0u);
}

TEST(MetricsHistory, BadFirstAndMiddleLinesAreErrorsNamingTheLineAndTheFileIsNotRewritten) {
  for (int bad : {1, 3}) {
    auto root = fresh_root("bad_line_" + std::to_string(bad));
    write_rows(root, 5);
    auto file = root / "run" / "metrics.jsonl";
    std::string text = read_file(file), damaged;
    int line = 1;
    for (std::size_t at = 0; at < text.size();) {
      std::size_t end = text.find('\n', at);
      damaged += line == bad ? std::string("{\"round\": 3, garbage") : text.substr(at, end - at);
      damaged += "\n";
      at = end + 1, ++line;
    }
    atomic_write(file, damaged);
    auto msg = history_error(root, 4);
    EXPECT_NE(msg.find("metrics.jsonl' line " + std::to_string(bad) + " is unreadable"), std::string::npos) << msg;
    {
      RunDir dir(root, "run", true);
      EXPECT_THROW(dir.metrics().truncate_after("round", 4), Error);
    }
    EXPECT_EQ(read_file(file), damaged) << "history that was not understood must not be rewritten";
  }
}

TEST(MetricsHistory, RowsOutOfOrderOrShortOfTheCheckpointAreErrors) {
  auto root = fresh_root("order");
  write_rows(root, 2);
  EXPECT_NE(history_error(root, 3).find("ends at round 2, but the checkpoint holds 3 rounds"), std::string::npos);
  append_record(root / "run" / "metrics.jsonl", row(5, 0.1).dump() + "\n");
  EXPECT_NE(history_error(root, 3).find("line 3 should be the row of round 3 but holds 5"), std::string::npos)
      << history_error(root, 3);
}

TEST(MetricsHistory, ALastLineCutShortByAKillIsDropped) {
  auto root = fresh_root("torn");
  write_rows(root, 3);
  std::ofstream(root / "run" / "metrics.jsonl", std::ios::app) << "{\"round\": 4, \"train_lo";  // no newline
  testing::internal::CaptureStderr();
  auto msg = history_error(root, 3);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(msg, "");
  EXPECT_NE(err.find("line 4 was cut short"), std::string::npos) << err;
}

TEST(MetricsWriter, AFailedAppendLeavesNoPartialRow) {
  auto root = fresh_root("append_fail");
  write_rows(root, 2);
  const std::string before = read_file(root / "run" / "metrics.jsonl");
  RunDir dir(root, "run", true);
  set_write_function([](const fs::path& path, int fd, const void* data, size_t n) -> ssize_t {
    if (path.filename() != "metrics.jsonl") return ::write(fd, data, n);
    if (n > 5) return ::write(fd, data, 5);  // a few bytes land, then the disk is full
    errno = ENOSPC;
    return -1;
  });
  EXPECT_THROW(dir.metrics().append(row(3, 0.3)), Error);
  set_write_function({});
  EXPECT_EQ(read_file(root / "run" / "metrics.jsonl"), before);
  EXPECT_EQ(dir.metrics().rows().size(), 2u);
}

// A run resumed on another rank count adds or drops comm_bytes_rank<k> columns (docs/distributed.md): the CSV
// header becomes the union of the columns in first-seen order, and a row leaves the cells it lacks empty.
TEST(MetricsWriter, RowsWithOtherColumnsGiveTheUnionOfColumns) {
  auto root = fresh_root("union");
  {
    RunDir dir(root, "run", false);
    auto a = row(1, 0.5);
    a["comm_bytes_rank1"] = 8;
    dir.metrics().append(a);
    dir.metrics().append(row(2, 0.25));  // a subset of the header: appended with an empty cell
    EXPECT_EQ(read_file(root / "run" / "metrics.csv"), "round,train_loss,comm_bytes_rank1\n1,0.5,8\n2,0.25,\n");
    auto c = row(3, 0.125);
    c["comm_bytes_rank2"] = 16;  // a new column: the CSV is rebuilt
    dir.metrics().append(c);
  }
  EXPECT_EQ(read_file(root / "run" / "metrics.csv"),
            "round,train_loss,comm_bytes_rank1,comm_bytes_rank2\n1,0.5,8,\n2,0.25,,\n3,0.125,,16\n");
  RunDir again(root, "run", true);
  EXPECT_EQ(again.metrics().rows().size(), 3u);
  EXPECT_EQ(again.metrics().rows()[2]["comm_bytes_rank2"], 16);
}
