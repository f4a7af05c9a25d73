// plexus::Error — the one exception type user-facing code throws.
//
// A message says what is wrong, where (config key, file, row, client) and how to fix it. `main` catches
// once and prints `error: <kind>: <message>` to stderr, then exits with the kind's code
// (2 config/usage, 3 data/io, 4 infeasible, 1 internal). PLEXUS_CHECK is for invariants (bugs), never for
// user input. Modelled on leveldb's Status classes.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace plexus {

enum class ErrorKind { Config, Data, Io, Infeasible, Internal };

/// Name of an error kind as printed after `error:` ("config", "data", "io", "infeasible", "internal").
const char* error_kind_name(ErrorKind kind);

/// Process exit code for an error kind: Config 2, Data 3, Io 3, Infeasible 4, Internal 1.
int exit_code(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

  /// Factory helpers, e.g. `throw Error::config("[fl] gossip_steps = {} must be >= 1", q)`.
  template <class... A> static Error config(fmt::format_string<A...> f, A&&... a) {
    return {ErrorKind::Config, fmt::format(f, std::forward<A>(a)...)};
  }
  template <class... A> static Error data(fmt::format_string<A...> f, A&&... a) {
    return {ErrorKind::Data, fmt::format(f, std::forward<A>(a)...)};
  }
  template <class... A> static Error io(fmt::format_string<A...> f, A&&... a) {
    return {ErrorKind::Io, fmt::format(f, std::forward<A>(a)...)};
  }
  template <class... A> static Error infeasible(fmt::format_string<A...> f, A&&... a) {
    return {ErrorKind::Infeasible, fmt::format(f, std::forward<A>(a)...)};
  }
  template <class... A> static Error internal(fmt::format_string<A...> f, A&&... a) {
    return {ErrorKind::Internal, fmt::format(f, std::forward<A>(a)...)};
  }

 private:
  ErrorKind kind_;
};

/// One line describing any exception for the user: plexus::Error as "<kind>: <msg>", c10::Error as
/// "internal: <first line of its message>" (no LibTorch stack trace), other std::exceptions as "internal: …".
std::string describe_exception(const std::exception& e);

}  // namespace plexus

/// Invariant check (a bug if it fails): throws Error(Internal) naming file and line.
#define PLEXUS_CHECK(cond, ...)                                                                    \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      throw ::plexus::Error(::plexus::ErrorKind::Internal,                                          \
                            ::fmt::format("{}:{}: check failed: {}: {}", __FILE__, __LINE__, #cond, \
                                          ::fmt::format(__VA_ARGS__)));                             \
  } while (0)
