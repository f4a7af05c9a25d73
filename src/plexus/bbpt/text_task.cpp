// The text instantiation of Fed-BBPT (Lin et al. 2023, arXiv 2310.03123, §3: "BDPL" clients): a discrete prompt
// tuned by black-box discrete prompt learning (BDPL; Diao et al., TMLR 2023, arXiv 2201.08531) against an LLM
// served as a genre classifier through label words, on Brown-corpus passages (genre_data.h).
//
//   θ = p [L,V] flattened row-major (θ[l·V + v] = p_{l,v}); θ0 = uniform, p_{l,v} = 1/V
//   prompt(s) = cand[s_1] + " " + ... + " " + cand[s_L];
//   text = passage + " " + prompt(s)   (bbpt.prompt_position = "suffix", the default)
//        | prompt(s) + " " + passage   ("prefix", BDPL's template for a masked LM)
//   the black box: logits_k = next-token logit of the first token of " <label word k>" after the text;
//                  loss = cross-entropy of the genre (nats), as the API returns it
//   client i, round t (bdpl.h), per local step on a minibatch b of its passages:
//     s_1..s_I ~ Π_l Cat(p_l)                      (Rng(seed, "bdpl", i, t))
//     L_k = mean over b of the API's loss for prompt s_k   (one predict_texts call per k: I calls per step)
//     g = bdpl_gradient(p, s, L);  p ← proj_simplex(AdamW(p, clip(g)))
//   server: FedAvg of the rows p (bbpt_runner.cpp); an average of simplex points is on the simplex.
//   evaluation: the most likely prompt, s_l = argmax_v p_{l,v}, as BDPL's evaluation.
//
// Candidates: BDPL takes the V most frequent PMI n-grams of the task's training set; plexus takes the V most
// frequent words of the whole Brown corpus (public vocabulary, no labels used; genre_data.h frequent_words),
// label words excluded.
//
// Departures:
// - The prompt goes after the passage by default. BDPL prepends it because a masked LM reads the whole
//   sequence around its [MASK]; a causal LM predicts the label word from the text before it, and a small one
//   barely attends 40 words back, so a prefix would hardly move its answer (docs/bbpt.md, "Text").
// - AdamW state: FedOne's federated BDPL keeps each client's AdamW for the whole run (bdpl.h). plexus's FL
//   state holds only the rows θ (X [N,P] in the checkpoint), and AdamW's two moments would triple it, so each
//   client starts a fresh AdamW on the received θ in every round (BdplOptimizer::reset_state semantics).
// - Evaluation of an exactly uniform position: argmax has no preferred word there, and the position adds no
//   word (BDPL's torch.argmax would take candidate 0). So θ0 evaluates as the passage alone: the runner's
//   round-0 "zero-shot (no prompt)" line is then exactly that.
// Letters: L prompt positions, V candidates, I sampled prompts per step, B batch, K local steps, C = 4 genres.
#include <fmt/ranges.h>

#include <cmath>

#include "plexus/bbpt/bdpl.h"
#include "plexus/bbpt/genre_data.h"
#include "plexus/bbpt/prompt_task.h"
#include "plexus/bbpt/text_corpus.h"
#include "plexus/bbpt/text_whitebox.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/rng.h"

namespace plexus::bbpt {

namespace {

/// The most likely prompt of θ [L·V]: argmax per position, −1 where the position is exactly uniform.
std::vector<int64_t> argmax_prompt(const torch::Tensor& theta, int64_t L, int64_t V) {
  auto p = theta.detach().to(torch::kCPU, torch::kFloat32).reshape({L, V});  // [L,V]
  auto best = p.argmax(1), hi = std::get<0>(p.max(1)), lo = std::get<0>(p.min(1));  // [L] each
  std::vector<int64_t> s(static_cast<size_t>(L));
  for (int64_t l = 0; l < L; ++l) {
    s[static_cast<size_t>(l)] = hi[l].item<float>() == lo[l].item<float>() ? -1 : best[l].item<int64_t>();
  }
  return s;
}

class BdplTuner : public PromptTuner {
 public:
  BdplTuner(const fl::FlConfig& cfg, std::shared_ptr<const TextCorpus> corpus)
      : cfg_(cfg), corpus_(std::move(corpus)), opt_(options(cfg)) {}

  /// BDPL's options from [bbpt] (the white-box bound takes the same ones).
  static BdplOptions options(const fl::FlConfig& cfg) {
    const auto& b = cfg.bbpt;
    return {.prompt_length = b.prompt_length, .candidates = b.candidates, .samples = b.samples,
            .lr = b.bdpl_lr, .clip = b.bdpl_clip, .weight_decay = b.bdpl_weight_decay};
  }

  TuneStats tune(int64_t client, int64_t round, torch::Tensor theta, torch::Tensor, const std::vector<int64_t>& idx,
                 serve::ApiClient& api, QueryAccount& account) override {
    Rng batch_rng(cfg_.run.seed, "batch", client, round), bdpl_rng(cfg_.run.seed, "bdpl", client, round);
    const auto batches = round_batches(cfg_.train, idx, batch_rng);
    const auto& train = corpus_->genres.data.train;
    const int64_t I = opt_.samples;
    BdplOptimizer opt(opt_);  // a fresh AdamW per client and round (departure: see the file comment)
    opt.set_probs(theta);
    TuneStats st;
    double loss_sum = 0;
    for (const auto& b : batches) {
      if (account.left() < I) {  // a step needs all I answers; stop before the server refuses
        st.out_of_budget = true;
        break;
      }
      const auto y = TextCorpus::labels(train, b);                  // [B]
      const auto prompts = sample_prompts(opt.probs(), I, bdpl_rng);  // I × L candidate indices
      std::vector<double> losses(static_cast<size_t>(I));
      double mean = 0;
      for (int64_t k = 0; k < I; ++k) {  // L_k = the API's mean cross-entropy for prompt s_k (one call)
        auto pred = api.predict_texts(corpus_->texts(corpus_->prompt(prompts[static_cast<size_t>(k)]), train, b), y);
        ++account.used;
        losses[static_cast<size_t>(k)] = pred.losses.mean().item<double>();
        mean += losses[static_cast<size_t>(k)] / static_cast<double>(I);
      }
      if (!std::isfinite(mean)) {
        throw Error::infeasible("bbpt: client {} got a non-finite loss in round {} ({}): check the served model "
                                "(bbpt.model)", client, round + 1, mean);
      }
      opt.step(bdpl_gradient(opt.probs(), prompts, losses));
      loss_sum += mean;
      ++st.steps;
    }
    torch::NoGradGuard ng;
    theta.copy_(opt.flat());  // [L·V], row-major as θ
    st.loss = st.steps ? loss_sum / static_cast<double>(st.steps) : NAN;
    return st;
  }

 private:
  const fl::FlConfig& cfg_;
  std::shared_ptr<const TextCorpus> corpus_;
  BdplOptions opt_;
};

class TextTask : public PromptTask {
 public:
  explicit TextTask(const fl::FlConfig& cfg) : cfg_(cfg) {
    const auto& b = cfg.bbpt;
    const auto docs = load_genre_corpus(llm::default_brown_dir());
    auto c = std::make_shared<TextCorpus>();
    c->genres = make_genre_data(docs, b.passage_words, cfg.data, cfg.fl.clients, static_cast<uint64_t>(cfg.run.seed));
    c->candidates = frequent_words(docs, b.candidates, genre_label_words());
    c->L = b.prompt_length, c->V = b.candidates;
    c->suffix = b.prompt_position == "suffix";
    corpus_ = std::move(c);
  }

  const data::FederatedData& data() const override { return corpus_->genres.data; }
  int64_t size() const override { return corpus_->L * corpus_->V; }
  torch::Tensor initial() const override { return uniform_prompt_probs(corpus_->L, corpus_->V).view({-1}); }

  // The served model must be a text classifier over exactly the genres' label words, in label order.
  void check_fits(const nlohmann::json& info) const override {
    const auto& want = genre_label_words();
    const auto task = info.value("task", std::string("?"));
    const auto words = info.value("label_words", std::vector<std::string>{});
    if (task != "text_classification" || words != want) {
      throw Error::config("{} serves {} with label words [{}], but the text task needs an LLM served with "
                          "--label-words {}: {}", served_by(cfg_), task, fmt::join(words, ","), fmt::join(want, ","),
                          cfg_.bbpt.api_url.empty()
                              ? "set bbpt.model to an LLM run (plexus llm pretrain, e.g. configs/bbpt_text_source.toml)"
                              : "restart that server with those words, or point bbpt.api_url at one that has them");
    }
    // Each word is at least one token: the box keeps the last max_seq_len tokens, so a prefix prompt would be
    // cut first (a suffix prompt is never cut; the passage's start is).
    const int64_t T = info.value("max_seq_len", int64_t{0}), words_in = corpus_->L + cfg_.bbpt.passage_words;
    if (!corpus_->suffix && T > 0 && T < 2 * words_in) {
      log_warn("bbpt: the served LLM reads at most {} tokens, and a prompted passage has {} words ({} prompt + {}); "
               "texts longer than that lose the prompt first: lower bbpt.passage_words or set "
               "bbpt.prompt_position = \"suffix\"", T, words_in, corpus_->L, cfg_.bbpt.passage_words);
    }
  }

  fl::EvalStats evaluate(const torch::Tensor& theta, const std::vector<int64_t>& idx,
                         serve::ApiClient& api) const override {
    const auto& test = corpus_->genres.data.test;
    const std::string prompt = corpus_->prompt(argmax_prompt(theta, corpus_->L, corpus_->V));
    const int64_t n = static_cast<int64_t>(idx.size()), batch = cfg_.bbpt.max_batch;
    fl::EvalStats st;
    for (int64_t lo = 0; lo < n; lo += batch) {
      const std::vector<int64_t> part(idx.begin() + lo, idx.begin() + std::min(n, lo + batch));
      const auto y = TextCorpus::labels(test, part);  // [B]
      auto pred = api.predict_texts(corpus_->texts(prompt, test, part), y);
      st.correct += pred.logits.argmax(1).eq(y).sum().item<int64_t>();
      st.count += static_cast<int64_t>(part.size());
      st.loss_sum += pred.losses.sum().item<double>();
    }
    return st;
  }

  std::unique_ptr<PromptTuner> zeroth_order_tuner() const override {
    return std::make_unique<BdplTuner>(cfg_, corpus_);
  }

  std::unique_ptr<PromptTuner> white_box_tuner() const override {
    return text_white_box_tuner(cfg_, corpus_, BdplTuner::options(cfg_));
  }

  std::vector<std::string> serve_args() const override {
    return {"--label-words", fmt::format("{}", fmt::join(genre_label_words(), ","))};
  }

  std::string describe() const override {
    return fmt::format("discrete prompt (L = {} words × V = {} candidates, P = {}) on {} ({} genres: {})",
                       corpus_->L, corpus_->V, size(), data().train.name, kGenres, fmt::join(genre_names(), ", "));
  }

 private:
  const fl::FlConfig& cfg_;
  std::shared_ptr<const TextCorpus> corpus_;
};

}  // namespace

std::unique_ptr<PromptTask> text_task(const fl::FlConfig& cfg) { return std::make_unique<TextTask>(cfg); }

}  // namespace plexus::bbpt
