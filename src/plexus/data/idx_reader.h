// IDX reader: the file format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).
//
// An IDX file is a 4-byte magic number, then one big-endian uint32 per dimension, then the data in
// row-major (C) order:
//   magic = 0x00 0x00 <type> <ndims>   type 0x08 = unsigned byte (the only type used by (Fashion-)MNIST),
//                                       0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
//   dims  = d_0 … d_{ndims-1}          (big-endian uint32)
//   data  = d_0·…·d_{ndims-1} elements (big-endian for multi-byte types)
// Images are idx3 (magic 0x00000803: [n, rows, cols]), labels idx1 (magic 0x00000801: [n]).
// Files may be gzip-compressed (detected by the gzip magic 1f 8b, not by the name); plain files work too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace plexus::data {

/// A decoded IDX file of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;   // e.g. {60000, 28, 28} for idx3 images, {60000} for idx1 labels
  std::vector<uint8_t> bytes;  // prod(dims) elements, row-major
  int64_t numel() const;
};

/// Read an IDX file of unsigned bytes (type 0x08), gzip-compressed or plain.
/// `expected_ndims` (1 labels, 3 images; 0 = any) is checked against the magic number's last byte.
/// The decoded size must equal exactly 4 + 4·ndims + prod(dims) bytes (no truncation, no trailing data).
/// Units: sizes in bytes and elements.
/// Throws: Error(Data) naming the file on a bad magic number, an unsupported element type, a wrong number
/// of dimensions, a zero or absurd dimension, truncation, trailing bytes or a corrupt gzip stream;
/// Error(Io) if the file cannot be opened.
IdxArray read_idx(const std::filesystem::path& path, int expected_ndims = 0);

/// Encode an unsigned-byte IDX file (the inverse of read_idx), optionally gzip-compressed.
/// Used by tests and to export subsets. Throws: Error(Io) if the file cannot be written.
void write_idx(const std::filesystem::path& path, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& bytes, bool gzip);

}  // namespace plexus::data
