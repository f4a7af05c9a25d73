#include "plexus/core/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "plexus/core/error.h"

namespace plexus::tensorboard {

namespace {

// Table of the reflected Castagnoli polynomial 0x82F63B78, one byte at a time.
std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

// Protocol-buffer wire format (https://protobuf.dev/programming-guides/encoding/): a key is
// (field_number << 3) | wire_type with wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) s.push_back(static_cast<char>((v & 0x7f) | 0x80)), v >>= 7;
  s.push_back(static_cast<char>(v));
}
void put_key(std::string& s, int field, int wire) { put_varint(s, static_cast<uint64_t>(field) << 3 | wire); }
template <class T> void put_fixed(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86 and every LibTorch target are little endian, as the format requires
  s.append(b, sizeof(T));
}
void put_bytes(std::string& s, int field, std::string_view b) {
  put_key(s, field, 2);
  put_varint(s, b.size());
  s.append(b);
}

std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_key(e, 1, 1), put_fixed<double>(e, wall_time);
  if (step != 0) put_key(e, 2, 0), put_varint(e, static_cast<uint64_t>(step));  // proto3 omits a zero default
  return e;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  static const auto table = make_table();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(std::string_view data) {
  uint32_t c = crc32c(data);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string frame_record(std::string_view data) {
  std::string r, len;
  put_fixed<uint64_t>(len, data.size());
  r += len;
  put_fixed<uint32_t>(r, masked_crc32c(len));
  r.append(data);
  put_fixed<uint32_t>(r, masked_crc32c(data));
  return r;
}

std::string file_version_event(double wall_time) {
  std::string e = event_header(wall_time, 0);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string scalars_event(double wall_time, int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  std::string summary;
  for (const auto& [tag, v] : values) {
    std::string value;
    put_bytes(value, 1, tag);
    put_key(value, 2, 5), put_fixed<float>(value, static_cast<float>(v));  // simple_value is a float
    put_bytes(summary, 1, value);
  }
  std::string e = event_header(wall_time, step);
  put_bytes(e, 5, summary);
  return e;
}

std::string session_start_event(double wall_time, int64_t step) {
  std::string log;
  put_key(log, 1, 0), put_varint(log, 1);  // status = START
  std::string e = event_header(wall_time, step);
  put_bytes(e, 6, log);
  return e;
}

EventWriter::EventWriter(const std::filesystem::path& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const double t = now_seconds();
  // The pid keeps two writers started in the same second (a run resumed at once) in separate files.
  path_ = dir / fmt::format("events.out.tfevents.{}.{}.{}", static_cast<int64_t>(t), host, ::getpid());
  // A second writer of the same process in the same second gets its own file (TensorBoard reads any file
  // whose name contains "tfevents").
  for (int k = 1; std::filesystem::exists(path_); ++k) {
    path_ = dir / fmt::format("events.out.tfevents.{}.{}.{}.{}", static_cast<int64_t>(t), host, ::getpid(), k);
  }
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw Error::io("cannot write TensorBoard file '{}' (set run.tensorboard = false?)", path_.string());
  write(file_version_event(t));
}

void EventWriter::write(const std::string& event) {
  out_ << frame_record(event);
  out_.flush();
  if (!out_) throw Error::io("cannot append to TensorBoard file '{}' (disk full?)", path_.string());
}

void EventWriter::add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  write(scalars_event(now_seconds(), step, values));
}

void EventWriter::session_start(int64_t step) { write(session_start_event(now_seconds(), step)); }

}  // namespace plexus::tensorboard
