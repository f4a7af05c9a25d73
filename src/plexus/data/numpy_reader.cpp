#include "plexus/data/numpy_reader.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "plexus/core/error.h"
#include "plexus/data/dataset.h"

namespace plexus::data {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxNumel = int64_t{1} << 40;  // far beyond any array in memory; keeps prod(shape) finite

int itemsize_of(const std::string& d) {
  if (d.size() != 3) return 0;
  const std::string t = d.substr(1);
  if (t == "u1" || t == "i1" || t == "b1") return 1;
  if (t == "i2" || t == "u2") return 2;
  if (t == "i4" || t == "u4" || t == "f4") return 4;
  if (t == "i8" || t == "u8" || t == "f8") return 8;
  return 0;
}

// The value text after 'key': in a numpy header dict (up to the next ',' at depth 0 or '}').
std::string dict_value(const std::string& h, const std::string& key, const std::string& name) {
  for (const char q : {'\'', '"'}) {
    const std::string k = std::string(1, q) + key + q;
    auto at = h.find(k);
    if (at == std::string::npos) continue;
    at = h.find(':', at + k.size());
    if (at == std::string::npos) break;
    ++at;
    int depth = 0;
    size_t end = at;
    for (; end < h.size(); ++end) {
      const char c = h[end];
      if (c == '(' || c == '[') ++depth;
      if (c == ')' || c == ']') --depth;
      if (depth == 0 && (c == ',' || c == '}')) break;
    }
    auto v = h.substr(at, end - at);
    const auto b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
    return b == std::string::npos ? "" : v.substr(b, e - b + 1);
  }
  throw Error::data("{}: .npy header has no '{}' entry: {}", name, key, h);
}

uint32_t le32(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24; }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint64_t le64(const uint8_t* p) { return uint64_t{le32(p)} | uint64_t{le32(p + 4)} << 32; }
void put16(std::vector<uint8_t>& b, uint32_t v) { b.push_back(v & 0xff), b.push_back((v >> 8) & 0xff); }
void put32(std::vector<uint8_t>& b, uint32_t v) { put16(b, v & 0xffff), put16(b, v >> 16); }

uint32_t crc_of(const uint8_t* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const uInt k = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, k);
    p += k, n -= k;
  }
  return static_cast<uint32_t>(crc);
}

// Raw deflate (zip method 8) of n input bytes into exactly `out_size` bytes.
std::vector<uint8_t> inflate_raw(const uint8_t* in, uint64_t n, uint64_t out_size, const std::string& what) {
  std::vector<uint8_t> out(static_cast<size_t>(out_size));
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw Error::internal("zlib inflateInit2 failed");
  uint64_t in_left = n, out_done = 0;
  zs.next_in = const_cast<Bytef*>(in);
  int r = Z_OK;
  for (;;) {
    if (zs.avail_in == 0 && in_left > 0) {
      zs.avail_in = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
      in_left -= zs.avail_in;
    }
    const uInt room = static_cast<uInt>(std::min<uint64_t>(out_size - out_done, 1u << 30));
    zs.next_out = out.data() + out_done;
    zs.avail_out = room;
    r = inflate(&zs, Z_NO_FLUSH);
    out_done += room - zs.avail_out;
    if (r == Z_STREAM_END) break;
    if (r == Z_OK) continue;                                               // progress made
    if (r == Z_BUF_ERROR && zs.avail_in == 0 && in_left > 0) continue;     // refill the input
    break;  // a data error, input that ends early or output beyond the declared size
  }
  const bool ok = r == Z_STREAM_END && out_done == out_size;
  const std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (!ok) {
    throw Error::data("{}: corrupt deflate stream ({}; {} of {} bytes decoded); the archive is damaged, write it "
                      "again with numpy.savez",
                      what, msg.empty() ? "stream ended early" : msg, out_done, out_size);
  }
  return out;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

torch::Tensor NpyArray::to_tensor() const {
  const std::string t = descr.substr(1);
  const int64_t n = numel();
  auto raw = [&](torch::ScalarType st) {
    return torch::from_blob(const_cast<uint8_t*>(bytes.data()), {n}, st).clone().view(shape);
  };
  if (t == "u1" || t == "b1") return raw(torch::kUInt8);
  if (t == "i1") return raw(torch::kInt8);
  if (t == "i2") return raw(torch::kInt16);
  if (t == "i4") return raw(torch::kInt32);
  if (t == "i8") return raw(torch::kInt64);
  if (t == "f4") return raw(torch::kFloat);
  if (t == "f8") return raw(torch::kDouble);
  // Unsigned wider than a byte: LibTorch 1.13 has no uint16/32/64, so widen to int64 by hand.
  auto out = torch::empty({n}, torch::kLong);
  auto* o = out.data_ptr<int64_t>();
  const int sz = itemsize_of(descr);
  for (int64_t j = 0; j < n; ++j) {
    const uint8_t* p = bytes.data() + j * sz;
    const uint64_t v = sz == 2 ? le16(p) : sz == 4 ? le32(p) : le64(p);
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error::data("value {} at flat index {} does not fit int64", v, j);
    }
    o[j] = static_cast<int64_t>(v);
  }
  return out.view(shape);
}

NpyArray parse_npy(const std::vector<uint8_t>& b, const std::string& name) {
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (b.size() < 10 || std::memcmp(b.data(), kMagic, 6) != 0) {
    throw Error::data("{}: not a .npy array (no \\x93NUMPY magic string); write it with numpy.save", name);
  }
  const int major = b[6];
  if (major < 1 || major > 3) {
    throw Error::data("{}: .npy format version {}.{} is not supported (1.0, 2.0, 3.0 are)", name, major, b[7]);
  }
  const size_t head_at = major == 1 ? 10 : 12;
  if (b.size() < head_at) throw Error::data("{}: truncated .npy header", name);
  const size_t hlen = major == 1 ? le16(b.data() + 8) : le32(b.data() + 8);
  if (b.size() < head_at + hlen) {
    throw Error::data("{}: truncated .npy header ({} of {} header bytes)", name, b.size() - head_at, hlen);
  }
  const std::string h(reinterpret_cast<const char*>(b.data() + head_at), hlen);
  NpyArray a;
  auto descr = dict_value(h, "descr", name);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"')) {
    throw Error::data("{}: .npy descr {} is not a simple type (structured arrays are not supported)", name, descr);
  }
  a.descr = descr.substr(1, descr.size() - 2);
  if (!a.descr.empty() && a.descr[0] == '>' && itemsize_of(a.descr) > 1) {
    throw Error::data("{}: .npy data is big-endian ({}); convert it with arr.astype(arr.dtype.newbyteorder('<'))",
                      name, a.descr);
  }
  if (!a.descr.empty() && a.descr[0] == '>') a.descr[0] = '|';  // byte-sized: byte order does not matter
  if (!a.descr.empty() && a.descr[0] == '=') a.descr[0] = '<';  // native order; every supported host is little-endian
  if (itemsize_of(a.descr) == 0) {
    throw Error::data("{}: .npy dtype '{}' is not supported; use uint8 or float32 images and integer labels", name,
                      a.descr);
  }
  if (dict_value(h, "fortran_order", name) != "False") {
    throw Error::data("{}: .npy array is in Fortran order; save numpy.ascontiguousarray(arr) instead", name);
  }
  auto shape = dict_value(h, "shape", name);
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') {
    throw Error::data("{}: .npy shape {} is not a tuple", name, shape);
  }
  int64_t numel = 1;
  for (size_t at = 1; at + 1 < shape.size();) {
    const auto comma = shape.find(',', at);
    auto tok = shape.substr(at, (comma == std::string::npos ? shape.size() - 1 : comma) - at);
    at = comma == std::string::npos ? shape.size() : comma + 1;
    tok.erase(0, tok.find_first_not_of(" "));
    tok.erase(tok.find_last_not_of(" L") + 1);
    if (tok.empty()) continue;
    int64_t d = 0;
    for (char c : tok) {
      if (c < '0' || c > '9' || d > kMaxNumel) throw Error::data("{}: .npy shape {} is malformed", name, shape);
      d = d * 10 + (c - '0');
    }
    if (d > 0 && numel > kMaxNumel / d) throw Error::data("{}: .npy shape {} is absurdly large", name, shape);
    a.shape.push_back(d);
    numel *= d;
  }
  const size_t want = static_cast<size_t>(numel) * static_cast<size_t>(itemsize_of(a.descr));
  const size_t have = b.size() - head_at - hlen;
  if (have != want) {
    throw Error::data("{}: .npy data is {} bytes but shape {} of '{}' needs {} ({}); the file is damaged", name, have,
                      shape, a.descr, want, have < want ? "truncated" : "trailing bytes");
  }
  a.bytes.assign(b.begin() + static_cast<std::ptrdiff_t>(head_at + hlen), b.end());
  return a;
}

std::vector<uint8_t> encode_npy(const std::string& descr, const std::vector<int64_t>& shape,
                                const std::vector<uint8_t>& data) {
  std::string s = "(";
  for (auto d : shape) s += std::to_string(d) + ", ";
  if (shape.size() > 1) s.resize(s.size() - 1), s.back() = ')';
  else s = shape.empty() ? "()" : s.substr(0, s.size() - 1) + ")";
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + s + ", }";
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  put16(out, static_cast<uint32_t>(h.size()));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

NpyArray read_npy(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error::io("{}: no such file", path.string());
  return parse_npy(read_file_bytes(path), path.string());
}

std::map<std::string, NpyArray> read_npz(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error::io("{}: no such file", path.string());
  const auto z = read_file_bytes(path);
  const std::string f = path.string();
  const uint64_t size = z.size();
  // End of central directory: the last "PK\5\6" within 22 + 65535 bytes of the end.
  int64_t eocd = -1;
  for (int64_t at = static_cast<int64_t>(size) - 22; at >= 0 && at >= static_cast<int64_t>(size) - 22 - 65535; --at) {
    if (le32(z.data() + at) == 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) {
    throw Error::data("{}: not a zip/.npz archive (no end-of-central-directory record); write it with numpy.savez", f);
  }
  uint64_t entries = le16(z.data() + eocd + 10), cd_size = le32(z.data() + eocd + 12),
           cd_off = le32(z.data() + eocd + 16);
  if ((entries == 0xffff || cd_off == 0xffffffff || cd_size == 0xffffffff) && eocd >= 20 &&
      le32(z.data() + eocd - 20) == 0x07064b50) {
    const uint64_t z64 = le64(z.data() + eocd - 20 + 8);  // zip64 end of central directory record
    if (z64 + 56 > size || le32(z.data() + z64) != 0x06064b50) throw Error::data("{}: corrupt zip64 directory", f);
    entries = le64(z.data() + z64 + 32), cd_size = le64(z.data() + z64 + 40), cd_off = le64(z.data() + z64 + 48);
  }
  if (cd_off + cd_size > size) throw Error::data("{}: the zip central directory lies outside the file (truncated)", f);
  std::map<std::string, NpyArray> out;
  uint64_t at = cd_off;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > size || le32(z.data() + at) != 0x02014b50) {
      throw Error::data("{}: corrupt zip central directory (entry {})", f, e);
    }
    const uint8_t* c = z.data() + at;
    const uint16_t flags = le16(c + 8), method = le16(c + 10);
    const uint32_t crc = le32(c + 16);
    uint64_t csize = le32(c + 20), usize = le32(c + 24), loff = le32(c + 42);
    const uint16_t nlen = le16(c + 28), xlen = le16(c + 30), klen = le16(c + 32);
    if (at + 46 + nlen + xlen + klen > size) throw Error::data("{}: truncated zip central directory", f);
    const std::string member(reinterpret_cast<const char*>(c + 46), nlen);
    // Zip64 extra field (id 1): the 8-byte values replace those set to 0xffffffff, in this order.
    for (const uint8_t* x = c + 46 + nlen; x + 4 <= c + 46 + nlen + xlen;) {
      const uint16_t id = le16(x), len = le16(x + 2);
      const uint8_t* v = x + 4;
      if (id == 1) {
        if (usize == 0xffffffff && v + 8 <= x + 4 + len) usize = le64(v), v += 8;
        if (csize == 0xffffffff && v + 8 <= x + 4 + len) csize = le64(v), v += 8;
        if (loff == 0xffffffff && v + 8 <= x + 4 + len) loff = le64(v), v += 8;
      }
      x += 4 + len;
    }
    at += 46 + nlen + xlen + klen;
    const std::string what = f + ": member " + member;
    if (flags & 1) throw Error::data("{} is encrypted; plexus reads unencrypted .npz archives", what);
    if (member.size() < 4 || member.substr(member.size() - 4) != ".npy") {
      throw Error::data("{} is not a .npy array; an .npz holds only <name>.npy members (numpy.savez)", what);
    }
    if (loff + 30 > size || le32(z.data() + loff) != 0x04034b50) {
      throw Error::data("{}: bad local header signature (the archive is damaged)", what);
    }
    const uint64_t data_at = loff + 30 + le16(z.data() + loff + 26) + le16(z.data() + loff + 28);
    if (data_at + csize > size) {
      throw Error::data("{}: truncated ({} compressed bytes claimed, {} present)", what, csize,
                        size > data_at ? size - data_at : 0);
    }
    std::vector<uint8_t> bytes;
    if (method == 0) {
      if (csize != usize) throw Error::data("{}: stored member with different sizes {} and {}", what, csize, usize);
      bytes.assign(z.begin() + static_cast<std::ptrdiff_t>(data_at),
                   z.begin() + static_cast<std::ptrdiff_t>(data_at + csize));
    } else if (method == 8) {
      bytes = inflate_raw(z.data() + data_at, csize, usize, what);
    } else {
      throw Error::data("{} uses zip compression method {}; plexus reads stored (numpy.savez) and deflated "
                        "(numpy.savez_compressed) members",
                        what, method);
    }
    if (crc_of(bytes.data(), bytes.size()) != crc) {
      throw Error::data("{}: CRC-32 mismatch (the archive is damaged); write it again", what);
    }
    out.emplace(member.substr(0, member.size() - 4), parse_npy(bytes, what));
  }
  return out;
}

void write_npz(const fs::path& path, const std::map<std::string, std::vector<uint8_t>>& members, bool compressed) {
  std::vector<uint8_t> z, cd;
  for (const auto& [name, raw] : members) {
    const std::string fname = name + ".npy";
    std::vector<uint8_t> data = raw;
    if (compressed) {
      z_stream zs{};
      PLEXUS_CHECK(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK,
                   "deflateInit2 failed");
      data.resize(deflateBound(&zs, static_cast<uLong>(raw.size())));
      zs.next_in = const_cast<Bytef*>(raw.data());
      zs.avail_in = static_cast<uInt>(raw.size());
      zs.next_out = data.data();
      zs.avail_out = static_cast<uInt>(data.size());
      PLEXUS_CHECK(::deflate(&zs, Z_FINISH) == Z_STREAM_END, "deflate failed");
      data.resize(zs.total_out);
      deflateEnd(&zs);
    }
    const uint32_t crc = crc_of(raw.data(), raw.size()), off = static_cast<uint32_t>(z.size());
    auto header = [&](std::vector<uint8_t>& b, bool central) {
      put32(b, central ? 0x02014b50 : 0x04034b50);
      if (central) put16(b, 20);
      put16(b, 20), put16(b, 0), put16(b, compressed ? 8 : 0), put16(b, 0), put16(b, 0x21);  // version, flags, method, time, date
      put32(b, crc), put32(b, static_cast<uint32_t>(data.size())), put32(b, static_cast<uint32_t>(raw.size()));
      put16(b, static_cast<uint32_t>(fname.size())), put16(b, 0);
      if (central) put16(b, 0), put16(b, 0), put16(b, 0), put32(b, 0), put32(b, off);
      b.insert(b.end(), fname.begin(), fname.end());
    };
    header(z, false);
    z.insert(z.end(), data.begin(), data.end());
    header(cd, true);
  }
  const uint32_t cd_off = static_cast<uint32_t>(z.size());
  z.insert(z.end(), cd.begin(), cd.end());
  put32(z, 0x06054b50), put16(z, 0), put16(z, 0);
  put16(z, static_cast<uint32_t>(members.size())), put16(z, static_cast<uint32_t>(members.size()));
  put32(z, static_cast<uint32_t>(cd.size())), put32(z, cd_off), put16(z, 0);
  struct Closer {
    void operator()(FILE* p) const { std::fclose(p); }
  };
  std::unique_ptr<FILE, Closer> out(std::fopen(path.c_str(), "wb"));
  if (!out || std::fwrite(z.data(), 1, z.size(), out.get()) != z.size()) {
    throw Error::io("{}: cannot write", path.string());
  }
  if (std::fclose(out.release()) != 0) throw Error::io("{}: write failed on close", path.string());
}

}  // namespace plexus::data
