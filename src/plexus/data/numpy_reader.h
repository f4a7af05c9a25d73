// NumPy arrays: .npy files and .npz archives (a zip of .npy members), the easiest way to hand plexus anything a
// Python loader produced.
//
// .npy (numpy/lib/format.py, format versions 1.0, 2.0, 3.0):
//   "\x93NUMPY" <major u8> <minor u8> <header_len: u16 LE (v1) | u32 LE (v2, v3)> <header> <data>
//   header = a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W), } padded with
//   spaces and a final '\n'; data = prod(shape) items in C order.
// Supported descr: |u1 |i1 <i2 <i4 <i8 <u2 <u4 <u8 <f4 <f8 |b1 (little-endian or byte-sized; '>' big-endian and
// Fortran order are rejected with the fix).
// .npz (np.savez / np.savez_compressed): a zip archive (PKWARE APPNOTE) whose members are "<name>.npy", stored
// (method 0, np.savez) or deflated (method 8, np.savez_compressed; inflated with zlib); zip64 sizes/offsets are
// read (numpy writes them for large members); every member's CRC-32 is checked.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace plexus::data {

/// One decoded .npy array.
struct NpyArray {
  std::string descr;            // e.g. "<f4", "|u1"
  std::vector<int64_t> shape;   // e.g. {N, H, W}; {} for a scalar
  std::vector<uint8_t> bytes;   // prod(shape)·itemsize bytes, C order, little-endian
  int64_t numel() const;
  /// The array as a CPU tensor of the matching dtype (u2/u4/u8 widen to int64, b1 to uint8). Copies.
  /// Throws: Error(Data) if a u8 value exceeds int64.
  torch::Tensor to_tensor() const;
};

/// Decode .npy bytes; `name` names the array in errors.
/// Throws: Error(Data) on a bad magic string or version, a malformed header, an unsupported descr (naming it),
/// Fortran order, big-endian data, or a data size that differs from prod(shape)·itemsize (truncated / trailing).
NpyArray parse_npy(const std::vector<uint8_t>& bytes, const std::string& name);

/// Encode an array as .npy bytes (format 1.0; header padded to 64 bytes), for tests and export.
std::vector<uint8_t> encode_npy(const std::string& descr, const std::vector<int64_t>& shape,
                                const std::vector<uint8_t>& data);

/// Read a .npy file. Throws: see parse_npy; Error(Io) if unreadable.
NpyArray read_npy(const std::filesystem::path& path);

/// Read every member of an .npz archive, keyed by name without ".npy".
/// Throws: Error(Data) naming the file and member on a missing end-of-central-directory record, a bad
/// signature, encryption, a compression method other than stored/deflate, a corrupt deflate stream, a size or
/// CRC-32 mismatch, or a bad member; Error(Io) if unreadable.
std::map<std::string, NpyArray> read_npz(const std::filesystem::path& path);

/// Write an .npz archive of .npy members (names without ".npy"), stored or deflated, for tests and export.
/// Throws: Error(Io) if the file cannot be written.
void write_npz(const std::filesystem::path& path, const std::map<std::string, std::vector<uint8_t>>& npy_members,
               bool compressed);

}  // namespace plexus::data
