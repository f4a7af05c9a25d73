#include "plexus/bbpt/api_eval.h"

#include "plexus/bbpt/tuner.h"

namespace plexus::bbpt {

fl::EvalStats api_evaluate(const PromptGenerator& gen, const torch::Tensor& theta, const data::Dataset& split,
                           const std::vector<int64_t>& idx, serve::ApiClient& api, int64_t batch) {
  torch::NoGradGuard ng;
  fl::EvalStats st;
  const int64_t n = static_cast<int64_t>(idx.size());
  for (int64_t lo = 0; lo < n; lo += batch) {
    const int64_t hi = std::min(n, lo + batch);
    const auto [x, y] = select_examples(split, std::span(idx).subspan(static_cast<size_t>(lo), static_cast<size_t>(hi - lo)));
    auto pred = api.predict(gen.prompted(theta, x), y);
    st.correct += pred.logits.argmax(1).eq(y).sum().item<int64_t>();
    st.count += hi - lo;
    st.loss_sum += pred.losses.sum().item<double>();
  }
  return st;
}

}  // namespace plexus::bbpt
