#include "plexus/core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "plexus/core/error.h"

namespace plexus {

namespace fs = std::filesystem;

namespace {

WriteFunction& write_function() {
  static WriteFunction fn;
  return fn;
}

// Write all of `bytes` to `fd`, retrying short writes; returns 0 or an errno value.
int write_all(const fs::path& path, int fd, std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = write_function() ? write_function()(path, fd, p, left) : ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ENOSPC;  // no progress: treat as a full device
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

// fsync the directory holding `path`, so a rename into it survives a power loss (best effort).
void sync_parent(const fs::path& path) {
  int dfd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

WriteFunction set_write_function(WriteFunction fn) {
  WriteFunction old = std::move(write_function());
  write_function() = std::move(fn);
  return old;
}

void require_output_file(const fs::path& path, const std::vector<fs::path>& inputs) {
  std::error_code ec;
  const fs::path parent = path.parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    throw Error::io("cannot write '{}': its directory '{}' does not exist (create it first)", path.string(), parent.string());
  }
  if (fs::is_directory(path, ec)) {
    throw Error::io("'{}' is a directory; give a file path for the output (e.g. {}/out.plx)", path.string(), path.string());
  }
  for (const auto& in : inputs) {
    if (fs::exists(path, ec) && fs::equivalent(path, in, ec)) {
      throw Error::io("'{}' is both an input and the output; writing it would destroy the input (give another --out)",
                      path.string());
    }
  }
}

void atomic_write(const fs::path& path, std::string_view bytes) {
  require_output_file(path);
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error::io("cannot write '{}': {} (is the directory writable?)", tmp.string(), std::strerror(errno));
  }
  int err = write_all(tmp, fd, bytes);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  std::error_code ec;
  if (err == 0 && fs::file_size(tmp, ec) != bytes.size()) err = EIO;  // a write the system lost
  if (err != 0) {
    fs::remove(tmp, ec);
    throw Error::io("cannot write '{}': {}; nothing was replaced (free space and run again)", path.string(),
                    std::strerror(err));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();  // before remove() reuses ec
    fs::remove(tmp, ec);
    throw Error::io("cannot rename '{}' to '{}': {}", tmp.string(), path.string(), why);
  }
  sync_parent(path);
}

void append_record(const fs::path& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Error::io("cannot append to '{}': {}", path.string(), std::strerror(errno));
  off_t before = ::lseek(fd, 0, SEEK_END);
  int err = write_all(path, fd, bytes);
  if (err != 0 && before >= 0) (void)::ftruncate(fd, before);  // drop the partial record
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) throw Error::io("cannot append to '{}': {} (free space and resume with --resume)", path.string(), std::strerror(err));
}

void sync_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  if (err != 0) throw Error::io("cannot flush '{}' to the disk: {}", path.string(), std::strerror(err));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error::io("cannot read '{}'", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace plexus
