// IDX reader/writer over zlib's gz* API, which reads gzip and plain files alike (gzdirect tells which).
#include "plexus/data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <memory>

#include "plexus/core/error.h"

namespace plexus::data {
namespace {

constexpr uint8_t kTypeUByte = 0x08;
// Largest element count we accept: 2^40 bytes (1 TiB) is far beyond any IDX dataset and keeps
// prod(dims) from overflowing int64.
constexpr int64_t kMaxElements = int64_t{1} << 40;
// Read in chunks so a corrupt header that claims a huge size cannot make us allocate it up front.
constexpr int64_t kChunk = int64_t{4} << 20;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<gzFile_s, GzCloser>;

const char* type_name(uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return nullptr;
  }
}

// zlib's gzerror text starts with "<path>: "; drop it, the caller names the file already.
std::string zlib_message(const char* msg, const std::filesystem::path& path) {
  std::string m = msg ? msg : "unknown zlib error";
  const std::string prefix = path.string() + ": ";
  if (m.rfind(prefix, 0) == 0) m.erase(0, prefix.size());
  return m;
}

// Read up to n bytes; returns the count read. Throws Error(Data) on a zlib error (corrupt stream).
int64_t read_some(gzFile f, uint8_t* dst, int64_t n, const std::filesystem::path& path) {
  int64_t got = 0;
  while (got < n) {
    const unsigned want = static_cast<unsigned>(std::min<int64_t>(n - got, kChunk));
    const int r = gzread(f, dst + got, want);
    if (r < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw Error::data("{}: corrupt gzip stream ({}); the file is damaged, reinstall or re-download it",
                        path.string(), zlib_message(msg, path));
    }
    if (r == 0) break;
    got += r;
  }
  return got;
}

// zlib reports a gzip stream cut short as Z_BUF_ERROR only through gzerror, after reads return 0.
void check_stream_ok(gzFile f, const std::filesystem::path& path) {
  int errnum = Z_OK;
  const char* msg = gzerror(f, &errnum);
  if (errnum != Z_OK && errnum != Z_STREAM_END) {
    throw Error::data("{}: corrupt or truncated gzip stream ({}); the file is damaged, reinstall or "
                      "re-download it",
                      path.string(), zlib_message(msg, path));
  }
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::filesystem::path& path, int expected_ndims) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error::io("{}: no such file", path.string());
  }
  GzPtr f(gzopen(path.c_str(), "rb"));
  if (!f) throw Error::io("{}: cannot open for reading", path.string());
  gzbuffer(f.get(), 1u << 20);  // a 1 MiB input buffer: fewer syscalls when inflating 26 MB

  uint8_t magic[4];
  const int64_t got_magic = read_some(f.get(), magic, 4, path);
  check_stream_ok(f.get(), path);
  const char* kind = gzdirect(f.get()) ? "plain" : "gzip";
  if (got_magic < 4) {
    throw Error::data("{}: truncated IDX file ({} of 4 header bytes, {})", path.string(), got_magic, kind);
  }
  if (magic[0] != 0 || magic[1] != 0) {
    throw Error::data("{}: not an IDX file (magic number {:02x}{:02x}{:02x}{:02x} does not start with 0000)",
                      path.string(), magic[0], magic[1], magic[2], magic[3]);
  }
  const uint8_t type = magic[2];
  const int ndims = magic[3];
  if (type != kTypeUByte) {
    const char* tn = type_name(type);
    throw Error::data("{}: IDX element type 0x{:02x} ({}) is not supported; plexus reads unsigned-byte (0x08) "
                      "IDX files",
                      path.string(), type, tn ? tn : "unknown type");
  }
  if (ndims < 1 || (expected_ndims > 0 && ndims != expected_ndims)) {
    throw Error::data("{}: IDX magic number 0x{:02x}{:02x}{:02x}{:02x} says {} dimensions, expected {} "
                      "(idx1 = labels, idx3 = images: are the file names swapped?)",
                      path.string(), magic[0], magic[1], magic[2], magic[3], ndims,
                      expected_ndims > 0 ? expected_ndims : 1);
  }

  IdxArray out;
  std::vector<uint8_t> dim_bytes(4 * static_cast<size_t>(ndims));
  const int64_t got_dims = read_some(f.get(), dim_bytes.data(), 4 * ndims, path);
  check_stream_ok(f.get(), path);
  if (got_dims < 4 * ndims) {
    throw Error::data("{}: truncated IDX header ({} of {} dimension bytes, {})", path.string(), got_dims,
                      4 * ndims, kind);
  }
  int64_t numel = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint8_t* b = &dim_bytes[4 * i];
    const int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    out.dims.push_back(d);
    if (d > 0 && numel > kMaxElements / d) {
      throw Error::data("{}: IDX dimensions claim more than 2^40 elements; the header is corrupt",
                        path.string());
    }
    numel *= d;
  }

  // Grow the buffer chunk by chunk as data actually arrives.
  int64_t have = 0;
  while (have < numel) {
    const int64_t step = std::min(kChunk, numel - have);
    out.bytes.resize(static_cast<size_t>(have + step));
    const int64_t r = read_some(f.get(), out.bytes.data() + have, step, path);
    have += r;
    if (r < step) break;
  }
  check_stream_ok(f.get(), path);
  if (have < numel) {
    std::string shape;
    for (auto d : out.dims) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    throw Error::data("{}: truncated IDX file: header says [{}] = {} bytes of data but only {} are present "
                      "({}); the file is damaged, reinstall or re-download it",
                      path.string(), shape, numel, have, kind);
  }
  uint8_t extra[1];
  const int64_t trailing = read_some(f.get(), extra, 1, path);  // also makes zlib verify the gzip CRC
  check_stream_ok(f.get(), path);
  if (trailing > 0) {
    throw Error::data("{}: IDX file is longer than its header says ({} data bytes expected); the file is "
                      "corrupt or not an IDX file",
                      path.string(), numel);
  }
  return out;
}

void write_idx(const std::filesystem::path& path, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& bytes, bool gzip) {
  PLEXUS_CHECK(!dims.empty() && dims.size() < 256, "IDX needs 1..255 dimensions, got {}", dims.size());
  std::vector<uint8_t> buf = {0, 0, kTypeUByte, static_cast<uint8_t>(dims.size())};
  int64_t numel = 1;
  for (auto d : dims) {
    PLEXUS_CHECK(d >= 0 && d <= 0xffffffffLL, "IDX dimension {} out of range", d);
    const auto u = static_cast<uint32_t>(d);
    for (int s = 24; s >= 0; s -= 8) buf.push_back(static_cast<uint8_t>(u >> s));
    numel *= d;
  }
  PLEXUS_CHECK(numel == static_cast<int64_t>(bytes.size()), "IDX dims give {} elements, data has {}", numel,
               bytes.size());
  buf.insert(buf.end(), bytes.begin(), bytes.end());
  // "wb" writes gzip; "wbT" writes plain (transparent) through the same API.
  GzPtr f(gzopen(path.c_str(), gzip ? "wb" : "wbT"));
  if (!f) throw Error::io("{}: cannot open for writing", path.string());
  int64_t done = 0;
  while (done < static_cast<int64_t>(buf.size())) {
    const unsigned n = static_cast<unsigned>(std::min<int64_t>(kChunk, static_cast<int64_t>(buf.size()) - done));
    if (gzwrite(f.get(), buf.data() + done, n) != static_cast<int>(n)) {
      throw Error::io("{}: write failed", path.string());
    }
    done += n;
  }
  if (gzclose(f.release()) != Z_OK) throw Error::io("{}: write failed on close", path.string());
}

}  // namespace plexus::data
