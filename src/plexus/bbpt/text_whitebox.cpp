// The text white-box bound. See text_whitebox.h.
#include "plexus/bbpt/text_whitebox.h"

#include <cmath>
#include <mutex>

#include "plexus/bbpt/genre_data.h"
#include "plexus/core/error.h"
#include "plexus/core/log.h"
#include "plexus/core/rng.h"
#include "plexus/llm/policy.h"

namespace plexus::bbpt {

namespace {

class TextWhiteBoxTuner : public PromptTuner {
 public:
  TextWhiteBoxTuner(const fl::FlConfig& cfg, std::shared_ptr<const TextCorpus> corpus, const BdplOptions& opt)
      : cfg_(cfg), corpus_(std::move(corpus)), opt_(opt) {
    policy_ = llm::load_policy(cfg.bbpt.model, torch::kCPU, "bbpt.model");
    policy_.model->eval();
    for (auto& p : policy_.model->parameters()) p.requires_grad_(false);
    const auto& tok = *policy_.tok;
    for (const auto& w : genre_label_words()) word_ids_.push_back(token_of(tok, w, "label word"));
    std::vector<int64_t> cand;  // [V]
    int64_t multi = 0;
    for (const auto& c : corpus_->candidates) {
      cand.push_back(token_of(tok, c, "prompt candidate"));
      multi += llm::encode64(tok, " " + c).size() > 1;
    }
    if (multi > 0)
      log_info("bbpt: {} of {} candidate words are several tokens; the relaxation uses each one's first token",
               multi, cand.size());
    cand_embed_ = policy_.model->embed.index_select(0, torch::tensor(cand, torch::kInt64)).detach();  // [V,C]
  }

  TuneStats tune(int64_t client, int64_t round, torch::Tensor theta, torch::Tensor, const std::vector<int64_t>& idx,
                 serve::ApiClient&, QueryAccount&) override {
    Rng batch_rng(cfg_.run.seed, "batch", client, round);
    const auto batches = round_batches(cfg_.train, idx, batch_rng);
    const auto& train = corpus_->genres.data.train;
    BdplOptimizer opt(opt_);  // fresh AdamW per client and round, as the black-box tuner (text_task.cpp)
    opt.set_probs(theta);
    TuneStats st;
    double loss_sum = 0;
    for (const auto& b : batches) {
      auto p = opt.probs().detach().clone().set_requires_grad(true);  // [L,V]
      torch::Tensor loss;
      {
        std::lock_guard<std::mutex> lock(model_mutex_);  // one forward/backward at a time through the shared copy
        loss = batch_loss(p, train, b);
      }
      const double l = loss.item<double>();
      if (!std::isfinite(l))
        throw Error::infeasible("bbpt: client {} got a non-finite loss in round {} ({}): check bbpt.model", client,
                                round + 1, l);
      auto g = torch::autograd::grad({loss}, {p})[0];
      opt.step(g);
      loss_sum += l;
      ++st.steps;
    }
    torch::NoGradGuard ng;
    theta.copy_(opt.flat());
    st.loss = st.steps ? loss_sum / static_cast<double>(st.steps) : NAN;
    return st;
  }

 private:
  static int64_t token_of(const llm::Tokenizer& tok, const std::string& w, const char* what) {
    const int64_t id = llm::first_word_token(tok, w);
    if (id < 0) throw Error::config("bbpt: the {} '{}' encodes to no token of bbpt.model's tokenizer", what, w);
    return id;
  }

  // Mean cross-entropy over the examples `b` of the label words' logits after passage ⊕ relaxed prompt (or
  // prompt ⊕ passage), keeping the last max_seq_len positions as the black box keeps the last tokens.
  torch::Tensor batch_loss(const torch::Tensor& p, const data::Dataset& split, const std::vector<int64_t>& b) {
    auto& model = policy_.model;
    const int64_t T = policy_.args.max_seq_len;
    auto soft = p.matmul(cand_embed_);  // [L,C]
    auto words = torch::tensor(word_ids_, torch::kInt64);
    auto ids = split.x.accessor<int64_t, 1>();
    const auto y = TextCorpus::labels(split, b);  // [B]
    torch::Tensor total = torch::zeros({}, torch::kFloat32);
    for (size_t j = 0; j < b.size(); ++j) {
      const auto& passage = corpus_->genres.passages[static_cast<size_t>(ids[b[j]])];
      auto h = model->embed.index_select(0, torch::tensor(llm::encode64(*policy_.tok, passage), torch::kInt64));
      auto seq = corpus_->suffix ? torch::cat({h, soft}) : torch::cat({soft, h});  // [n,C]
      if (seq.size(0) > T) seq = seq.narrow(0, seq.size(0) - T, T);
      auto z = model->forward_embedded(seq.unsqueeze(0))[0][seq.size(0) - 1].index_select(0, words);  // [K]
      total = total + torch::nn::functional::cross_entropy(z.unsqueeze(0), y.narrow(0, static_cast<int64_t>(j), 1));
    }
    return total / static_cast<double>(b.size());
  }

  const fl::FlConfig& cfg_;
  std::shared_ptr<const TextCorpus> corpus_;
  BdplOptions opt_;
  llm::Policy policy_;
  std::vector<int64_t> word_ids_;  // [K] the label words' tokens (as the verbalizer reads them)
  torch::Tensor cand_embed_;       // [V,C] embeddings of the candidates' tokens
  std::mutex model_mutex_;
};

}  // namespace

std::unique_ptr<PromptTuner> text_white_box_tuner(const fl::FlConfig& cfg, std::shared_ptr<const TextCorpus> corpus,
                                                  const BdplOptions& opt) {
  return std::make_unique<TextWhiteBoxTuner>(cfg, std::move(corpus), opt);
}

}  // namespace plexus::bbpt
