// Running the `plexus` binary from tests (CLI end-to-end checks). PLEXUS_BINARY is set by tests/CMakeLists.txt.
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace plexus::test {

struct CliResult {
  int code;         ///< exit code (−1 if the process did not exit normally, e.g. a crash)
  std::string out;  ///< stdout and stderr together
};

/// Runs `plexus <args>` through the shell, capturing stdout and stderr together.
inline CliResult run_plexus(const std::string& args) {
  const std::string cmd = std::string(PLEXUS_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace plexus::test
