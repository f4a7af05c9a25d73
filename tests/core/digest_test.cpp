// XXH64 against the reference implementation: the expected values were computed with libxxhash 0.8.1
// (Debian libxxhash0) through Python ctypes, XXH64(data, len, seed = 0).
#include <gtest/gtest.h>

#include <string>

#include "plexus/core/digest.h"

using namespace plexus;

namespace {
std::string mixed_bytes() {  // 771 bytes: every byte value 3 times, then "xyz" (tail and stripes both used)
  std::string s;
  for (int r = 0; r < 3; ++r)
    for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  return s + "xyz";
}
}  // namespace

TEST(Xxh64, MatchesReferenceImplementation) {
  EXPECT_EQ(xxh64("", 0), 0xef46db3751d8e999ULL);
  EXPECT_EQ(xxh64("a", 1), 0xd24ec4f1a98c6e5bULL);
  EXPECT_EQ(xxh64("abc", 3), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(xxh64("123456789", 9), 0x8cb841db40e6ae83ULL);
  auto m = mixed_bytes();
  EXPECT_EQ(xxh64(m.data(), m.size()), 0xe921a1b45bd779f8ULL);
  EXPECT_EQ(digest_text(0xef46db3751d8e999ULL), "xxh64:ef46db3751d8e999");
}

TEST(Xxh64, StreamingEqualsOneShotForEverySplit) {
  auto m = mixed_bytes();
  const uint64_t whole = xxh64(m.data(), m.size());
  for (std::size_t cut : {0, 1, 7, 31, 32, 33, 64, 100, 770, 771}) {
    Xxh64 h;
    h.update(m.data(), cut);
    h.update(m.data() + cut, m.size() - cut);
    EXPECT_EQ(h.value(), whole) << "cut at " << cut;
  }
  Xxh64 bytewise;
  for (char c : m) bytewise.update(&c, 1);
  EXPECT_EQ(bytewise.value(), whole);
}

TEST(Xxh64, OneFlippedBitChangesTheDigest) {
  auto m = mixed_bytes();
  const uint64_t a = xxh64(m.data(), m.size());
  m[400] ^= 0x10;
  EXPECT_NE(xxh64(m.data(), m.size()), a);
}
