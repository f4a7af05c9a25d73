// Fuzz target `checkpoint`: the checkpoint loader (core/checkpoint.h, checkpoint_store.h).
//
// Input: a selector byte, then the rest R. Selector odd: R is a LibTorch archive, wrapped in a valid format-2
// header ("PLXSCKPT", u32 2, u32 0, u64 size, u64 XXH64 of R) so the digest check passes and the archive
// parser is reached. Selector even: R is the whole file (header checks, format 1 = a bare archive).
// Properties: a file that loads is one checkpoint_problem() calls intact, and what loads saves and loads again
// with the same tensor names, dtypes and shapes and the same metadata.
#include "fuzz_support.h"

#include "plexus/core/checkpoint.h"
#include "plexus/core/checkpoint_store.h"
#include "plexus/core/digest.h"

namespace {

using namespace plexus;

std::string checkpoint_file_of(std::string_view input) {
  std::string rest(input.substr(1));
  if (!(static_cast<unsigned char>(input[0]) & 1)) return rest;
  std::string file("PLXSCKPT", 8);
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) file.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put(2, 4), put(0, 4), put(rest.size(), 8), put(xxh64(rest.data(), rest.size()), 8);
  return file + rest;
}

void one_input(std::string_view input) {
  if (input.empty()) return;
  const auto path = fuzz::scratch_file("round_1.pt", checkpoint_file_of(input));
  const std::string problem = checkpoint_problem(path);
  const Checkpoint ck = load_checkpoint(path);
  if (!problem.empty()) fuzz::fail("load_checkpoint accepted a file checkpoint_problem calls '{}'", problem);

  const auto copy = fuzz::scratch_dir() / "round_2.pt";
  save_checkpoint(copy, ck);
  Checkpoint back;
  if (!fuzz::attempt([&] { back = load_checkpoint(copy); })) fuzz::fail("a loaded checkpoint, saved again, does not load");
  if (back.meta != ck.meta) fuzz::fail("metadata changed in a save/load round trip");
  if (back.tensors.size() != ck.tensors.size()) fuzz::fail("tensor count changed in a save/load round trip");
  for (const auto& [name, t] : ck.tensors) {
    auto it = back.tensors.find(name);
    if (it == back.tensors.end() || it->second.scalar_type() != t.scalar_type() || it->second.sizes() != t.sizes()) {
      fuzz::fail("tensor '{}' changed in a save/load round trip", name);
    }
  }
}

}  // namespace

PLEXUS_FUZZ_TARGET(checkpoint, one_input)
