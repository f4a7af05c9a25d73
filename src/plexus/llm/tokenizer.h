// SentencePiece BPE tokenizer (Kudo & Richardson 2018; Sennrich et al. 2016), trained on the pretraining
// corpus and saved with the run (runs/<name>/tokenizer.model). Ids: 0 <unk>, 1 <s>, 2 </s> (EOS separates
// packed documents, as V3 packs them without a cross-document mask).
// SentencePiece is reached through the plexus_spm shim (src/spm_shim/), loaded with dlopen(RTLD_DEEPBIND) so its
// embedded protobuf-lite does not collide with LibTorch's libprotobuf; $PLEXUS_SPM_SHIM overrides its path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "plexus/core/options.h"

namespace plexus::llm {

struct TokenizerOptions {
  int64_t vocab_size = 4096;         ///< BPE vocabulary size (including the 3 special ids)
  double character_coverage = 1.0;   ///< fraction of characters covered (1.0 for English)
  int64_t max_sentences = 200000;    ///< lines sampled for training (Brown has ~57k)
  int64_t num_threads = 2;
  /// Pieces kept whole (e.g. the R1 tags "<think>", "</answer>" so a rollout can stop on one token id).
  std::vector<std::string> user_defined_symbols;
  /// The declared keys of [tokenizer] (core/options.h; defined in llm_options.cpp).
  static const OptionSchema<TokenizerOptions>& schema();
};

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  /// Load a .model file. Throws: Error(Io) if missing, Error(Data) if it is not a SentencePiece model.
  static Tokenizer load(const std::filesystem::path& model);

  /// Train a BPE model on `lines` and write `<prefix>.model` / `<prefix>.vocab`; returns the loaded model.
  /// Throws: Error(Data) if training fails (e.g. the vocabulary is larger than the text supports).
  static Tokenizer train(const std::vector<std::string>& lines, const std::filesystem::path& prefix,
                         const TokenizerOptions& o);

  std::vector<int> encode(const std::string& text) const;
  std::string decode(const std::vector<int>& ids) const;
  int64_t vocab_size() const;
  int eos_id() const;
  int bos_id() const;

 private:
  // Opaque SentencePieceProcessor owned by the plexus_spm shim (see src/spm_shim/spm_shim.cpp for why
  // SentencePiece is loaded through dlopen rather than linked).
  std::shared_ptr<void> sp_;
};

}  // namespace plexus::llm
