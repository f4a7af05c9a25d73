// Fuzz target `idx`: the IDX reader of (Fashion-)MNIST (data/idx_reader.h), gzip-compressed or plain.
// Input: the file. Property: a file that reads has exactly prod(dims) bytes of data.
#include "fuzz_support.h"

#include "plexus/data/idx_reader.h"

namespace {

void one_input(std::string_view input) {
  const auto a = plexus::data::read_idx(plexus::fuzz::scratch_file("data.idx", input), 0);
  if (a.dims.empty() || a.numel() != static_cast<int64_t>(a.bytes.size())) {
    plexus::fuzz::fail("read_idx returned {} dims and {} bytes for {} elements", a.dims.size(), a.bytes.size(),
                       a.numel());
  }
}

}  // namespace

PLEXUS_FUZZ_TARGET(idx, one_input)
