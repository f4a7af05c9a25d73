// The image instantiation of Fed-BBPT: BlackVIP's coordinator (prompt_generator.h) on a shifted image task.
#include <fmt/ranges.h>

#include "plexus/bbpt/api_eval.h"
#include "plexus/bbpt/prompt_task.h"
#include "plexus/bbpt/shift.h"
#include "plexus/fl/run_support.h"
#include "plexus/serve/black_box.h"

namespace plexus::bbpt {

namespace {

class ImageTask : public PromptTask {
 public:
  explicit ImageTask(const fl::FlConfig& cfg) : cfg_(cfg), data_(fl::load_data_on(cfg, torch::kCPU)) {
    apply_shift(data_, cfg.bbpt.shift);
    const auto& x = data_.train.x;
    const auto& b = cfg.bbpt;
    gen_ = std::make_shared<const PromptGenerator>(
        x.size(1), x.size(2), x.size(3),
        GeneratorOptions{b.generator_features, b.generator_hidden, b.generator_trigger}, cfg.run.seed);
  }

  const data::FederatedData& data() const override { return data_; }
  int64_t size() const override { return gen_->size(); }
  torch::Tensor initial() const override { return gen_->initial(cfg_.run.seed); }

  // The served model must take the data's images and name as many classes.
  void check_fits(const nlohmann::json& info) const override {
    const auto& train = data_.train;
    std::vector<int64_t> want(train.x.sizes().begin() + 1, train.x.sizes().end());
    const auto shape = info.value("input_shape", std::vector<int64_t>{});
    const int64_t classes = info.value("classes", int64_t{0});
    if (info.value("task", std::string()) != "image_classification" || shape != want || classes != train.num_classes) {
      const std::string task = info.value("task", std::string("?"));
      const std::string served = task == "image_classification"
                                     ? fmt::format("{} with inputs [{}] and {} classes", task, fmt::join(shape, ","), classes)
                                     : fmt::format("{} (not an image classifier)", task);
      throw Error::config("{} serves {}, but the data set {} has inputs [{}] and {} classes: serve a model trained on "
                          "the source task of this data set", served_by(cfg_), served, train.name, fmt::join(want, ","),
                          train.num_classes);
    }
  }

  fl::EvalStats evaluate(const torch::Tensor& theta, const std::vector<int64_t>& idx,
                         serve::ApiClient& api) const override {
    return api_evaluate(*gen_, theta, data_.test, idx, api, cfg_.bbpt.max_batch);
  }

  std::unique_ptr<PromptTuner> zeroth_order_tuner() const override {
    return spsa_gc_tuner(cfg_, gen_, data_.train);
  }

  std::unique_ptr<PromptTuner> white_box_tuner() const override {
    if (cfg_.bbpt.model.empty()) {
      throw Error::config("[bbpt] model is required by bbpt_whitebox: it trains through a local copy of the model");
    }
    return bbpt::white_box_tuner(cfg_, gen_, data_.train, serve::load_image_box(cfg_.bbpt.model)->model());
  }

  std::string describe() const override {
    return fmt::format("visual prompt generator (P = {}) on {}", gen_->size(), data_.train.name);
  }

 private:
  const fl::FlConfig& cfg_;
  data::FederatedData data_;
  std::shared_ptr<const PromptGenerator> gen_;
};

}  // namespace

std::unique_ptr<PromptTask> image_task(const fl::FlConfig& cfg) { return std::make_unique<ImageTask>(cfg); }

std::unique_ptr<PromptTask> make_prompt_task(const fl::FlConfig& cfg) {
  return cfg.bbpt.task == "text" ? text_task(cfg) : image_task(cfg);
}

}  // namespace plexus::bbpt
