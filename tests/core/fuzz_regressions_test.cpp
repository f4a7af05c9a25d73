// Inputs found by fuzzing plexus's readers with libFuzzer (issue 12; a target wraps the input as the checkpoint
// file below and calls load_checkpoint), fed to the same entry point in the normal build: each must end in a clean
// plexus::Error. The bytes live in fuzz/corpus/<target>/regression_*.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "plexus/core/checkpoint.h"
#include "plexus/core/digest.h"
#include "plexus/core/error.h"
#include "plexus/core/file_io.h"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

std::string corpus_file(const std::string& target, const std::string& name) {
  return read_file(fs::path(PLEXUS_SOURCE_DIR) / "fuzz" / "corpus" / target / name);
}

fs::path scratch(const std::string& name) {
  auto d = fs::temp_directory_path() / ("plexus_fuzz_regressions_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

// The checkpoint file fuzz/checkpoint.cpp builds from its input: selector byte odd = the rest is a LibTorch
// archive wrapped in a valid format-2 header ("PLXSCKPT", u32 2, u32 0, u64 size, u64 XXH64), even = the file.
std::string checkpoint_file_of(const std::string& input) {
  std::string rest = input.substr(1);
  if (!(static_cast<unsigned char>(input[0]) & 1)) return rest;
  std::string file("PLXSCKPT", 8);
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) file.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put(2, 4), put(0, 4), put(rest.size(), 8), put(xxh64(rest.data(), rest.size()), 8);
  return file + rest;
}

}  // namespace

// A LibTorch archive whose pickled type string is damaged: LibTorch's TorchScript type parser threw
// torch::jit::ErrorReport (not a c10::Error), which escaped load_checkpoint and terminated plexus.
TEST(FuzzRegressions, CheckpointWithDamagedTypeStringIsADataError) {
  const auto input = corpus_file("checkpoint", "regression_jit_error_report_type_parser");
  ASSERT_FALSE(input.empty());
  const auto path = scratch("round_1.pt");
  atomic_write(path, checkpoint_file_of(input));
  try {
    load_checkpoint(path);
    FAIL() << "a damaged checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("round_1.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
  }
}
