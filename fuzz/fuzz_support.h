// Shared by the fuzz targets under fuzz/ (docs/fuzzing.md): how a target is declared, what counts as a
// finding, and scratch files for readers that take a path.
//
// A target is one function `void f(std::string_view input)` that hands the input to a real plexus reader.
// A plexus::Error of a user-facing kind (Config, Data, Io, Infeasible) is the expected end of a bad input.
// Everything else is a finding: any other exception (c10::Error, std::length_error, ...), an Error(Internal)
// (PLEXUS_CHECK is for bugs, never for input), a failed property (fail()), a crash, an ASan report, a hang.
//
// One source, two builds:
//   PLEXUS_LIBFUZZER defined (cmake -DPLEXUS_FUZZ=ON): PLEXUS_FUZZ_TARGET defines LLVMFuzzerTestOneInput
//     and a finding aborts, so libFuzzer records the input as a crash;
//   otherwise (the normal build): PLEXUS_FUZZ_TARGET registers the function with fuzz_replay, which feeds it
//     every file of fuzz/corpus/<target>/ and reports findings (the CTest tests Fuzz.<target>).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::fuzz {

using TargetFn = void (*)(std::string_view input);

/// A broken property inside a target (thrown by fail(); reported as a finding).
struct Finding : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Report a finding from inside a target: `fail("resolved config does not parse: {}", msg)`.
template <class... A> [[noreturn]] void fail(fmt::format_string<A...> f, A&&... a) {
  throw Finding(fmt::format(f, std::forward<A>(a)...));
}

/// Run `fn` on one input. Returns "" if it returned or ended in a user-facing plexus::Error, else the finding.
std::string run_input(TargetFn fn, std::string_view input);

/// Run `fn()`; a user-facing plexus::Error is swallowed (returns false), anything else propagates. For targets
/// that try several readers on one input.
template <class F> bool attempt(F&& fn);

/// Once per process: logs quiet (a warning per input would dominate the run time), one LibTorch thread.
void init();

/// This process's scratch directory (created on first use, removed at exit).
const std::filesystem::path& scratch_dir();

/// Write `bytes` to scratch_dir()/name, replacing it, and return the path.
std::filesystem::path scratch_file(const std::string& name, std::string_view bytes);

/// Targets known to fuzz_replay (normal build only).
struct Target {
  const char* name;
  TargetFn fn;
};
std::vector<Target>& registry();
struct Register {
  Register(const char* name, TargetFn fn) { registry().push_back({name, fn}); }
};

bool is_user_error(const std::exception& e);

template <class F> bool attempt(F&& fn) {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    if (is_user_error(e)) return false;
    throw;
  }
}

}  // namespace plexus::fuzz

#ifdef PLEXUS_LIBFUZZER
#include <cstdio>
#include <cstdlib>
#define PLEXUS_FUZZ_TARGET(name, fn)                                                                   \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {                                                 \
    ::plexus::fuzz::init();                                                                            \
    return 0;                                                                                          \
  }                                                                                                    \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {                            \
    const std::string found = ::plexus::fuzz::run_input(fn, {reinterpret_cast<const char*>(data), size}); \
    if (!found.empty()) {                                                                              \
      std::fprintf(stderr, "FINDING in fuzz target %s: %s\n", #name, found.c_str());                   \
      std::abort();                                                                                    \
    }                                                                                                  \
    return 0;                                                                                          \
  }
#else
#define PLEXUS_FUZZ_TARGET(name, fn) static const ::plexus::fuzz::Register plexus_fuzz_register_##name(#name, fn);
#endif
