// fuzz_replay: the fuzz targets of fuzz/ in the normal build (no libFuzzer), fed the committed corpus.
//
//   fuzz_replay CORPUS_ROOT [TARGET]       every file of CORPUS_ROOT/<target>/ for every (or one) target
//   fuzz_replay --files TARGET FILE...     the given files (reproduce a libFuzzer crash in a gcc build)
//   fuzz_replay --write-seeds CORPUS_ROOT  (re)write the seed_* files made with plexus's own writers
//
// Exit 0 if every input ended normally or in a user-facing plexus::Error; 1 on any finding (each printed with its
// file), 2 on usage errors. Registered with CTest as Fuzz.<target> (fuzz/CMakeLists.txt).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz_support.h"

namespace fs = std::filesystem;
using plexus::fuzz::Target;

void write_seeds(const fs::path& root);  // seeds.cpp

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const Target* find_target(const std::string& name) {
  for (const auto& t : plexus::fuzz::registry()) {
    if (name == t.name) return &t;
  }
  std::fprintf(stderr, "fuzz_replay: no target '%s'\n", name.c_str());
  return nullptr;
}

// Returns the number of findings.
int replay(const Target& t, std::vector<fs::path> files) {
  std::sort(files.begin(), files.end());
  const auto t0 = std::chrono::steady_clock::now();
  int findings = 0;
  for (const auto& f : files) {
    const std::string found = plexus::fuzz::run_input(t.fn, read_bytes(f));
    if (!found.empty()) {
      ++findings;
      std::fprintf(stderr, "FINDING in fuzz target %s, input %s: %s\n", t.name, f.string().c_str(), found.c_str());
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz_replay: %s: %zu inputs, %d findings, %.2f s\n", t.name, files.size(), findings, s);
  return findings;
}

}  // namespace

int main(int argc, char** argv) {
  plexus::fuzz::init();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "--write-seeds") {
    write_seeds(args[1]);
    return 0;
  }
  if (args.size() >= 3 && args[0] == "--files") {
    const Target* t = find_target(args[1]);
    if (!t) return 2;
    return replay(*t, std::vector<fs::path>(args.begin() + 2, args.end())) ? 1 : 0;
  }
  if (args.empty() || args.size() > 2 || args[0].rfind("--", 0) == 0) {
    std::fprintf(stderr, "usage: fuzz_replay CORPUS_ROOT [TARGET] | --files TARGET FILE... | --write-seeds ROOT\n");
    return 2;
  }
  int findings = 0;
  for (const auto& t : plexus::fuzz::registry()) {
    if (args.size() == 2 && args[1] != t.name) continue;
    const fs::path dir = fs::path(args[0]) / t.name;
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    if (files.empty()) {
      std::fprintf(stderr, "fuzz_replay: %s: no corpus files in %s\n", t.name, dir.string().c_str());
      return 2;
    }
    findings += replay(t, files);
  }
  if (args.size() == 2 && !find_target(args[1])) return 2;
  return findings ? 1 : 0;
}
