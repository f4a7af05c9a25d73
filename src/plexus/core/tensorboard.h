// TensorBoard event files written by hand: no protobuf or TensorFlow dependency.
//
// File format (public, from TensorFlow's `tensorflow/core/lib/io/record_writer.cc` and TensorBoard's
// `tensorboard/summary/writer/record_writer.py`): a sequence of records
//
//   uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
//
// with masked_crc(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 and CRC-32C the Castagnoli polynomial
// (reflected 0x82F63B78). Each record's data is one serialized `tensorflow.Event` protocol buffer
// (`tensorflow/core/util/event.proto`); the fields used here are
//
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//             SessionLog session_log = 6; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
//   SessionLog { SessionStatus status = 1; }   (START = 1)
//
// The first record of a file is an Event with file_version "brain.Event:2". A resumed run starts a new file
// whose first data event is SessionLog START at the resumed step: TensorBoard then discards the older file's
// points at or after that step (its "purge orphaned data" rule), so the curves show no duplicated rounds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::tensorboard {

/// CRC-32C (Castagnoli) of `data`. Source: RFC 3720 appendix B.4 (check value crc32c("123456789") = 0xE3069283).
uint32_t crc32c(std::string_view data);

/// TensorFlow's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32).
uint32_t masked_crc32c(std::string_view data);

/// One framed record (length, masked CRC of length, data, masked CRC of data).
std::string frame_record(std::string_view data);

/// Serialized Event protos. Units: wall_time in seconds since the Unix epoch.
std::string file_version_event(double wall_time);
std::string scalars_event(double wall_time, int64_t step, const std::vector<std::pair<std::string, double>>& values);
std::string session_start_event(double wall_time, int64_t step);

/// Appends scalar summaries to `dir/events.out.tfevents.<unix seconds>.<host>.<pid>` (TensorBoard reads every
/// such file in a run directory). Each `add` is flushed, so a killed run keeps every complete record.
class EventWriter {
 public:
  /// Create a new event file in `dir` and write the file_version record. Throws: Error(Io).
  explicit EventWriter(const std::filesystem::path& dir);
  /// Scalars for one step (one Event holding one Summary.Value per tag).
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  /// A SessionLog START at `step`: TensorBoard drops earlier files' points with step >= `step`.
  void session_start(int64_t step);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write(const std::string& event);
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace plexus::tensorboard
