#include "plexus/core/error.h"

#include <c10/util/Exception.h>

namespace plexus {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Config: return "config";
    case ErrorKind::Data: return "data";
    case ErrorKind::Io: return "io";
    case ErrorKind::Infeasible: return "infeasible";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Config: return 2;
    case ErrorKind::Data:
    case ErrorKind::Io: return 3;
    case ErrorKind::Infeasible: return 4;
    case ErrorKind::Internal: return 1;
  }
  return 1;
}

std::string describe_exception(const std::exception& e) {
  if (auto* pe = dynamic_cast<const Error*>(&e)) {
    return fmt::format("{}: {}", error_kind_name(pe->kind()), pe->what());
  }
  std::string msg;
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) {
    msg = ce->what_without_backtrace();
  } else {
    msg = e.what();
  }
  // Keep the first line only: LibTorch appends stack traces and source context after it.
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return fmt::format("internal: {}", msg);
}

}  // namespace plexus
