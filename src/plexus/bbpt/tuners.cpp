#include <cmath>

#include "plexus/bbpt/spsa.h"
#include "plexus/bbpt/tuner.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"

namespace plexus::bbpt {

std::vector<std::vector<int64_t>> round_batches(const fl::LocalOptions& o, const std::vector<int64_t>& idx, Rng& rng) {
  const int64_t n = static_cast<int64_t>(idx.size());
  const int64_t k = fl::local_step_count(o, n);
  std::vector<std::vector<int64_t>> batches;
  if (n == 0) return batches;
  std::vector<int64_t> order = idx;
  int64_t cursor = n;  // forces a shuffle before the first batch
  for (int64_t s = 0; s < k; ++s) {
    if (cursor >= n) rng.shuffle(order), cursor = 0;
    const int64_t take = std::min(o.batch_size, n - cursor);
    batches.emplace_back(order.begin() + cursor, order.begin() + cursor + take);
    cursor += take;
  }
  return batches;
}

std::pair<torch::Tensor, torch::Tensor> select_examples(const data::Dataset& split, std::span<const int64_t> idx) {
  const auto ix = torch::tensor(std::vector<int64_t>(idx.begin(), idx.end()), torch::kLong);  // [B]
  return {split.x.index_select(0, ix), split.y.index_select(0, ix)};
}

namespace {

void check_finite(double loss, int64_t client, int64_t round, const char* fix) {
  if (!std::isfinite(loss)) {
    throw Error::infeasible("bbpt: client {} diverged in round {} (loss {}): {}", client, round + 1, loss, fix);
  }
}

class SpsaGcTuner : public PromptTuner {
 public:
  SpsaGcTuner(const fl::FlConfig& cfg, std::shared_ptr<const PromptGenerator> gen, const data::Dataset& train)
      : cfg_(cfg), gen_(std::move(gen)), train_(train) {
    const auto& b = cfg.bbpt;
    opt_ = {.a = b.spsa_a, .c = b.spsa_c, .alpha = b.spsa_alpha, .gamma = b.spsa_gamma, .o = b.spsa_o,
            .perturbations = b.spsa_perturbations, .momentum = b.spsa_momentum};
  }

  TuneStats tune(int64_t client, int64_t round, torch::Tensor theta, torch::Tensor m, const std::vector<int64_t>& idx,
                 serve::ApiClient& api, QueryAccount& account) override {
    Rng batch_rng(cfg_.run.seed, "batch", client, round), spsa_rng(cfg_.run.seed, "spsa", client, round);
    const auto batches = round_batches(cfg_.train, idx, batch_rng);
    const int64_t K = static_cast<int64_t>(batches.size()), calls = 2 * opt_.perturbations;
    TuneStats st;
    double loss_sum = 0;
    for (int64_t s = 0; s < K; ++s) {
      if (account.left() < calls) {  // a step needs all 2q answers; stop before the server refuses
        st.out_of_budget = true;
        break;
      }
      const auto [x, y] = select_examples(train_, batches[s]);
      auto encoded = gen_->encode(x);  // the frozen encoder once per batch, shared by the 2q evaluations
      // L(θ') = the API's mean cross-entropy on the prompted batch (one call).
      auto loss = [&](const torch::Tensor& th) {
        auto pred = api.predict(x + gen_->prompt_from_encoded(th, encoded), y);
        ++account.used;
        return pred.losses.mean().item<double>();
      };
      const int64_t k = round * K + s + 1;
      auto est = spsa_gradient(loss, theta, spsa_radius(opt_, k), opt_.perturbations, spsa_rng);
      check_finite(est.mean_loss, client, round, "lower bbpt.spsa_a or bbpt.spsa_c");
      spsa_gc_step(theta, m, est.grad, spsa_gain(opt_, k), opt_.momentum);
      loss_sum += est.mean_loss;
      ++st.steps;
    }
    st.loss = st.steps ? loss_sum / static_cast<double>(st.steps) : NAN;
    return st;
  }

 private:
  const fl::FlConfig& cfg_;
  std::shared_ptr<const PromptGenerator> gen_;
  const data::Dataset& train_;
  SpsaOptions opt_;
};

class WhiteBoxTuner : public PromptTuner {
 public:
  WhiteBoxTuner(const fl::FlConfig& cfg, std::shared_ptr<const PromptGenerator> gen, const data::Dataset& train,
                std::shared_ptr<nn::Model> model)
      : cfg_(cfg), gen_(std::move(gen)), train_(train), model_(std::move(model)) {
    model_->eval();
    for (auto& p : model_->parameters()) p.set_requires_grad(false);
  }

  TuneStats tune(int64_t client, int64_t round, torch::Tensor theta, torch::Tensor m, const std::vector<int64_t>& idx,
                 serve::ApiClient&, QueryAccount&) override {
    Rng batch_rng(cfg_.run.seed, "batch", client, round);
    const auto batches = round_batches(cfg_.train, idx, batch_rng);
    const auto& o = cfg_.train;
    const double lr = o.lr_at(round);
    TuneStats st;
    double loss_sum = 0;
    for (const auto& b : batches) {
      const auto [x, y] = select_examples(train_, b);
      auto th = theta.detach().clone().set_requires_grad(true);
      auto loss = torch::nn::functional::cross_entropy(model_->forward(gen_->prompted(th, x)), y);
      auto g = torch::autograd::grad({loss}, {th})[0];
      const double l = loss.item<double>();
      check_finite(l, client, round, "lower train.lr");
      torch::NoGradGuard ng;
      if (o.weight_decay > 0) g = g + o.weight_decay * theta;
      if (o.momentum > 0) {  // PyTorch SGD with dampening 0: m ← βm + g, θ ← θ − ηm
        m.mul_(o.momentum).add_(g);
        theta.sub_(lr * m);
      } else {
        theta.sub_(lr * g);
      }
      loss_sum += l;
      ++st.steps;
    }
    st.loss = st.steps ? loss_sum / static_cast<double>(st.steps) : NAN;
    return st;
  }

 private:
  const fl::FlConfig& cfg_;
  std::shared_ptr<const PromptGenerator> gen_;
  const data::Dataset& train_;
  std::shared_ptr<nn::Model> model_;
};

}  // namespace

std::unique_ptr<PromptTuner> spsa_gc_tuner(const fl::FlConfig& cfg, std::shared_ptr<const PromptGenerator> gen,
                                           const data::Dataset& train) {
  return std::make_unique<SpsaGcTuner>(cfg, std::move(gen), train);
}

std::unique_ptr<PromptTuner> white_box_tuner(const fl::FlConfig& cfg, std::shared_ptr<const PromptGenerator> gen,
                                             const data::Dataset& train, std::shared_ptr<nn::Model> model) {
  return std::make_unique<WhiteBoxTuner>(cfg, std::move(gen), train, std::move(model));
}

}  // namespace plexus::bbpt
