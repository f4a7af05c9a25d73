#include "fuzz_support.h"

#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <typeinfo>

#include "plexus/core/error.h"
#include "plexus/core/log.h"

namespace plexus::fuzz {

namespace fs = std::filesystem;

bool is_user_error(const std::exception& e) {
  const auto* pe = dynamic_cast<const Error*>(&e);
  return pe && pe->kind() != ErrorKind::Internal;
}

std::string run_input(TargetFn fn, std::string_view input) {
  try {
    fn(input);
    return "";
  } catch (const Finding& e) {
    return fmt::format("property failed: {}", e.what());
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Internal) return "";
    return fmt::format("plexus::Error(internal) escaped: {}", e.what());
  } catch (const c10::Error& e) {
    return fmt::format("c10::Error escaped: {}", e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fmt::format("{} escaped: {}", typeid(e).name(), e.what());
  } catch (...) {
    return "a non-std exception escaped";
  }
}

void init() {
  set_log_level(LogLevel::Quiet);
  torch::set_num_threads(1);
}

const fs::path& scratch_dir() {
  // Never destroyed: the atexit hook below runs after the destructors of statics made before it.
  static const fs::path* dir = [] {
    auto* d = new fs::path(fs::temp_directory_path() / fmt::format("plexus_fuzz_{}", ::getpid()));
    fs::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*dir, ec);
    });
    return d;
  }();
  return *dir;
}

fs::path scratch_file(const std::string& name, std::string_view bytes) {
  fs::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail("cannot write scratch file {}", p.string());
  return p;
}

std::vector<Target>& registry() {
  static std::vector<Target> targets;
  return targets;
}

}  // namespace plexus::fuzz

#if defined(PLEXUS_LIBFUZZER) && !defined(__clang__)
// gcc's -fsanitize-coverage=trace-cmp also traces floating-point comparisons, which libFuzzer has no hooks for.
extern "C" void __sanitizer_cov_trace_cmpf(float, float) {}
extern "C" void __sanitizer_cov_trace_cmpd(double, double) {}
#endif
