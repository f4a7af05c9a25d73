// Auction logs on disk: a small self-describing columnar binary format ("PLXCOL").
//
// Layout (little-endian):
//   magic "PLXCOL01" (8 bytes) | u32 version (=1) | u32 column count | u64 meta length | meta (JSON text)
//   then per column: u16 name length | name | u8 dtype (1 f32, 2 f64, 3 u64, 4 u32) | u64 element count
//                    | u64 FNV-1a checksum of the data bytes | data
// The JSON meta holds scalars (kind, slots, position effects, seed). Every length is checked against the
// file size and every checksum is verified on read, so a truncated or corrupt file is a clear Error(Data),
// never a crash. The same container stores exploration logs (θ_i, log q(θ_i), per-request KPIs).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "plexus/tune/marketplace.h"

namespace plexus::tune {

/// One named column: exactly one of the vectors is used.
struct Column {
  std::string name;
  std::variant<std::vector<float>, std::vector<double>, std::vector<uint64_t>, std::vector<uint32_t>> data;
};

/// A set of columns plus JSON meta: the in-memory image of a PLXCOL file.
struct ColumnFile {
  nlohmann::json meta = nlohmann::json::object();
  std::vector<Column> columns;
  /// The column `name` with element type T. Throws: Error(Data) if missing or of another type.
  template <class T> const std::vector<T>& get(const std::string& name, const std::string& origin) const;
};

/// Serialize to bytes / parse bytes. `origin` names the file in errors. Throws: Error(Data) on corruption.
std::string encode_columns(const ColumnFile& f);
ColumnFile decode_columns(const std::string& bytes, const std::string& origin);

/// Write / read an auction log (kind "auction_log"). Writes atomically. Throws: Error(Io) if the file
/// cannot be read or written, Error(Data) if it is corrupt or not an auction log.
void save_auction_log(const AuctionLog& log, const std::filesystem::path& path);
AuctionLog load_auction_log(const std::filesystem::path& path);

}  // namespace plexus::tune
