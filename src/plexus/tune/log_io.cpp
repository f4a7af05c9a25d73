#include "plexus/tune/log_io.h"

#include <cstring>

#include "plexus/core/error.h"
#include "plexus/core/run_dir.h"

namespace plexus::tune {

namespace {
constexpr char kMagic[8] = {'P', 'L', 'X', 'C', 'O', 'L', '0', '1'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const char* p, std::size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

template <class T> void put(std::string& out, T v) { out.append(reinterpret_cast<const char*>(&v), sizeof(T)); }

struct Reader {
  const std::string& b;
  std::size_t pos = 0;
  const std::string& origin;
  void need(std::size_t n, const char* what) {
    if (b.size() - pos < n)
      throw Error::data("log file {} is truncated or corrupt: {} needs {} bytes at offset {}, file has {} "
                        "(regenerate it with `plexus tune generate`)", origin, what, n, pos, b.size());
  }
  template <class T> T take(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, b.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
};
}  // namespace

template <class T> const std::vector<T>& ColumnFile::get(const std::string& name, const std::string& origin) const {
  for (const auto& c : columns) {
    if (c.name != name) continue;
    if (auto* v = std::get_if<std::vector<T>>(&c.data)) return *v;
    throw Error::data("log file {}: column '{}' has the wrong element type", origin, name);
  }
  throw Error::data("log file {}: column '{}' is missing", origin, name);
}
template const std::vector<float>& ColumnFile::get(const std::string&, const std::string&) const;
template const std::vector<double>& ColumnFile::get(const std::string&, const std::string&) const;
template const std::vector<uint64_t>& ColumnFile::get(const std::string&, const std::string&) const;
template const std::vector<uint32_t>& ColumnFile::get(const std::string&, const std::string&) const;

std::string encode_columns(const ColumnFile& f) {
  std::string out(kMagic, 8);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, static_cast<uint32_t>(f.columns.size()));
  std::string meta = f.meta.dump();
  put<uint64_t>(out, meta.size());
  out += meta;
  for (const auto& c : f.columns) {
    put<uint16_t>(out, static_cast<uint16_t>(c.name.size()));
    out += c.name;
    std::visit(
        [&](const auto& v) {
          using T = typename std::decay_t<decltype(v)>::value_type;
          uint8_t dtype = std::is_same_v<T, float> ? 1 : std::is_same_v<T, double> ? 2 : std::is_same_v<T, uint64_t> ? 3 : 4;
          put<uint8_t>(out, dtype);
          put<uint64_t>(out, v.size());
          const char* p = reinterpret_cast<const char*>(v.data());
          put<uint64_t>(out, fnv1a(p, v.size() * sizeof(T)));
          out.append(p, v.size() * sizeof(T));
        },
        c.data);
  }
  return out;
}

ColumnFile decode_columns(const std::string& bytes, const std::string& origin) {
  Reader r{bytes, 0, origin};
  r.need(8, "magic");
  if (std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw Error::data("{} is not a plexus log file (bad magic; expected PLXCOL01)", origin);
  r.pos = 8;
  uint32_t version = r.take<uint32_t>("version");
  if (version != kVersion) throw Error::data("log file {} has format version {}, this build reads {}", origin, version, kVersion);
  uint32_t ncols = r.take<uint32_t>("column count");
  if (ncols > 4096) throw Error::data("log file {} is corrupt: {} columns", origin, ncols);
  uint64_t meta_len = r.take<uint64_t>("meta length");
  r.need(meta_len, "meta");
  ColumnFile f;
  f.meta = nlohmann::json::parse(bytes.begin() + static_cast<long>(r.pos), bytes.begin() + static_cast<long>(r.pos + meta_len), nullptr, false);
  if (f.meta.is_discarded() || !f.meta.is_object()) throw Error::data("log file {} is corrupt: unreadable meta JSON", origin);
  r.pos += meta_len;
  for (uint32_t i = 0; i < ncols; ++i) {
    uint16_t nlen = r.take<uint16_t>("column name length");
    r.need(nlen, "column name");
    Column c;
    c.name.assign(bytes.data() + r.pos, nlen);
    r.pos += nlen;
    uint8_t dtype = r.take<uint8_t>("dtype");
    uint64_t count = r.take<uint64_t>("element count");
    uint64_t sum = r.take<uint64_t>("checksum");
    std::size_t width = dtype == 1 ? 4 : dtype == 2 ? 8 : dtype == 3 ? 8 : dtype == 4 ? 4 : 0;
    if (width == 0) throw Error::data("log file {} is corrupt: column '{}' has unknown dtype {}", origin, c.name, dtype);
    if (count > bytes.size() / width) throw Error::data("log file {} is corrupt or truncated: column '{}' claims {} elements", origin, c.name, count);
    r.need(count * width, ("column " + c.name).c_str());
    const char* p = bytes.data() + r.pos;
    if (fnv1a(p, count * width) != sum)
      throw Error::data("log file {} is corrupt: checksum mismatch in column '{}' (regenerate the log)", origin, c.name);
    auto fill = [&](auto v) {
      v.resize(count);
      std::memcpy(v.data(), p, count * width);
      c.data = std::move(v);
    };
    if (dtype == 1) fill(std::vector<float>{});
    else if (dtype == 2) fill(std::vector<double>{});
    else if (dtype == 3) fill(std::vector<uint64_t>{});
    else fill(std::vector<uint32_t>{});
    r.pos += count * width;
    f.columns.push_back(std::move(c));
  }
  if (r.pos != bytes.size()) throw Error::data("log file {} is corrupt: {} trailing bytes", origin, bytes.size() - r.pos);
  return f;
}

void save_auction_log(const AuctionLog& log, const std::filesystem::path& path) {
  ColumnFile f;
  f.meta = {{"kind", "auction_log"}, {"mainline_slots", log.mainline_slots}, {"position_effects", log.position_effects},
            {"segments", log.segments}, {"seed", log.seed}};
  f.columns.push_back({"offsets", log.offsets});
  f.columns.push_back({"segment", log.segment});
  f.columns.push_back({"bid", log.bid});
  f.columns.push_back({"ctr", log.ctr});
  f.columns.push_back({"pctr", log.pctr});
  f.columns.push_back({"relevance", log.relevance});
  atomic_write(path, encode_columns(f));
}

AuctionLog load_auction_log(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw Error::io("auction log {} does not exist (write one with `plexus tune generate --out {}`)", path.string(), path.string());
  const std::string origin = path.string();
  ColumnFile f = decode_columns(read_file(path), origin);
  AuctionLog log;
  try {
    if (f.meta.value("kind", std::string()) != "auction_log")
      throw Error::data("{} is a plexus log of kind '{}', not an auction log", origin, f.meta.value("kind", std::string("?")));
    log.mainline_slots = f.meta.at("mainline_slots").get<int64_t>();
    log.position_effects = f.meta.at("position_effects").get<std::vector<double>>();
    log.segments = f.meta.at("segments").get<int64_t>();
    log.seed = f.meta.at("seed").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error::data("log file {} is corrupt: bad meta ({})", origin, e.what());
  }
  log.offsets = f.get<uint64_t>("offsets", origin);
  log.segment = f.get<uint32_t>("segment", origin);
  log.bid = f.get<float>("bid", origin);
  log.ctr = f.get<float>("ctr", origin);
  log.pctr = f.get<float>("pctr", origin);
  log.relevance = f.get<float>("relevance", origin);
  log.validate(origin);
  return log;
}

}  // namespace plexus::tune
