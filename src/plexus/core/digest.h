// XXH64: a fast 64-bit non-cryptographic digest, used to detect damaged checkpoints and to fingerprint
// the data a run trains on. It finds accidental corruption (a zeroed block, a truncated or bit-flipped
// file), not deliberate tampering.
//
// Source: xxHash specification, XXH64 algorithm (Yann Collet, doc/xxhash_spec.md in github.com/Cyan4973/xxHash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace plexus {

/// Streaming XXH64: feed bytes with update(), read the digest with value(). Equal to one-shot XXH64 of the
/// concatenated input for any split into update() calls.
class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  /// Add `n` bytes. Units: bytes.
  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// The digest of everything fed so far (the state is unchanged; more bytes may follow).
  uint64_t value() const;

 private:
  uint64_t v_[4];
  uint64_t seed_;
  uint64_t total_ = 0;
  unsigned char buf_[32];
  std::size_t buffered_ = 0;
};

/// One-shot XXH64 of `n` bytes.
uint64_t xxh64(const void* data, std::size_t n, uint64_t seed = 0);

/// "xxh64:" followed by 16 lower-case hex digits.
std::string digest_text(uint64_t digest);

}  // namespace plexus
