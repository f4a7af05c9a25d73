#include "plexus/serve/black_box.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (fmt ≥ 11 declares it here only)
#include <toml++/toml.h>

#include <algorithm>

#include "plexus/core/checkpoint.h"
#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/core/file_io.h"
#include "plexus/llm/policy.h"
#include "plexus/nn/param_layout.h"

namespace fs = std::filesystem;

namespace plexus::serve {

// ---- ImageClassifierBox ---------------------------------------------------------------------------------

ImageClassifierBox::ImageClassifierBox(std::shared_ptr<nn::Model> model, std::array<int64_t, 3> input_shape,
                                       int64_t classes, std::vector<std::string> class_names)
    : model_(std::move(model)), input_shape_(input_shape), classes_(classes), class_names_(std::move(class_names)) {
  if (!model_) throw Error::config("ImageClassifierBox: no model given");
  if (classes_ < 1) throw Error::config("ImageClassifierBox: classes = {} must be >= 1", classes_);
  for (auto d : input_shape_)
    if (d < 1) throw Error::config("ImageClassifierBox: input shape [{}] must be positive", fmt::join(input_shape_, ","));
  if (class_names_.empty())
    for (int64_t k = 0; k < classes_; ++k) class_names_.push_back(std::to_string(k));
  if (static_cast<int64_t>(class_names_.size()) != classes_)
    throw Error::config("ImageClassifierBox: {} class names for {} classes", class_names_.size(), classes_);
  model_->eval();
  for (auto& p : model_->parameters()) p.requires_grad_(false);
}

nlohmann::json ImageClassifierBox::info() const {
  return {{"task", "image_classification"},
          {"input_shape", std::vector<int64_t>(input_shape_.begin(), input_shape_.end())},
          {"dtype", "float32"},
          {"classes", classes_},
          {"class_names", class_names_}};
}

int64_t ImageClassifierBox::batch_size(const nlohmann::json& request) const {
  if (!request.is_object()) throw RequestError(400, "the request body must be a JSON object");
  auto it = request.find("shape");
  if (it == request.end() || !it->is_array() || it->empty() || !(*it)[0].is_number_integer() ||
      (*it)[0].get<int64_t>() < 1)
    throw RequestError(400, fmt::format("\"shape\" must be [B,C,H,W] = [B,{},{},{}] with B >= 1", input_shape_[0],
                                        input_shape_[1], input_shape_[2]));
  return (*it)[0].get<int64_t>();
}

torch::Tensor ImageClassifierBox::logits(const nlohmann::json& request) const {
  auto x = images_from_wire(request, input_shape_);  // [B,C,H,W] f32, validated
  torch::NoGradGuard no_grad;
  torch::Tensor out;
  {
    std::lock_guard<std::mutex> lock(forward_mutex_);
    out = model_->forward(x);  // [B,K]
  }
  PLEXUS_CHECK(out.dim() == 2 && out.size(0) == x.size(0) && out.size(1) == classes_,
               "model output [{}] is not [B={},K={}]", fmt::join(out.sizes(), ","), x.size(0), classes_);
  return out.to(torch::kCPU, torch::kFloat32).contiguous();
}

// ---- Loading an FL run directory ------------------------------------------------------------------------

namespace {

// Class names of the data sets whose labels have published names (else "0".."K-1").
std::vector<std::string> known_class_names(const std::string& dataset, int64_t classes) {
  static const std::vector<std::string> fashion = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  static const std::vector<std::string> cifar10 = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                   "dog",      "frog",       "horse", "ship", "truck"};
  if (dataset == "fashion_mnist" && classes == 10) return fashion;
  if (dataset == "cifar10" && classes == 10) return cifar10;
  return {};
}

// [C,H,W] from data.json ("train.x": [n,C,H,W]), else from the [data] table for data sets of fixed shape.
std::array<int64_t, 3> served_input_shape(const fs::path& run_dir, const toml::table& data) {
  const fs::path file = run_dir / "data.json";
  if (fs::exists(file)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(file));
    } catch (const nlohmann::json::exception& e) {
      throw Error::data("'{}' is unreadable ({}); restore it from the run", file.string(), e.what());
    }
    const auto& s = j["sizes"]["train.x"];
    if (s.is_array() && s.size() == 4 && std::all_of(s.begin(), s.end(), [](auto& v) { return v.is_number_integer(); }))
      return {s[1].get<int64_t>(), s[2].get<int64_t>(), s[3].get<int64_t>()};
    throw Error::data("'{}' has no sizes.\"train.x\" = [n,C,H,W]; restore it from the run", file.string());
  }
  const std::string dataset = data["dataset"].value_or(std::string("fashion_mnist"));
  if (dataset == "fashion_mnist" || dataset == "emnist") return {1, 28, 28};
  if (dataset == "cifar10" || dataset == "cifar100") return {3, 32, 32};
  if (dataset == "synthetic") {
    const int64_t d = data["synthetic_dim"].value_or(int64_t{8});
    return {1, d, d};
  }
  if (dataset == "image_folder" && data["image_size"].value_or(int64_t{0}) > 0) {
    const int64_t s = data["image_size"].value_or(int64_t{0});
    return {data["image_channels"].value_or(int64_t{3}), s, s};
  }
  throw Error::data("'{}' is missing and the input shape of data.dataset = \"{}\" cannot be derived from config.toml; "
                    "restore data.json from the run",
                    file.string(), dataset);
}

}  // namespace

std::string run_kind(const fs::path& run_dir) {
  const fs::path cfg = run_dir / "config.toml";
  if (!fs::is_directory(run_dir))
    throw Error::io("--model '{}' is not a directory; give a run directory (runs/<name>)", run_dir.string());
  if (!fs::exists(cfg))
    throw Error::io("--model '{}' is not a run directory (no config.toml); train it first (plexus fl run or plexus llm "
                    "pretrain)",
                    run_dir.string());
  auto root = load_toml(cfg);
  if (root["fl"].as_table()) {
    // A Fed-BBPT run's rows are prompts for another model, not a classifier.
    const std::string algo = root["fl"]["algorithm"].value_or(std::string());
    if (algo == "fed_bbpt" || algo == "bbpt_local" || algo == "bbpt_whitebox")
      throw Error::config("--model '{}' is a {} run (its rows are prompts for a black box, not a model); give the FL "
                          "run of the source task, e.g. runs/bbpt-source (configs/bbpt_source.toml)",
                          run_dir.string(), algo);
    return "image";
  }
  auto* m = root["model"].as_table();
  if (fs::exists(run_dir / "tokenizer.model") || (m && m->contains("vocab_size"))) return "llm";
  throw Error::config("--model '{}': config.toml has neither an [fl] table (an FL image run) nor an LLM [model] "
                      "table; give a run of plexus fl run or plexus llm",
                      run_dir.string());
}

std::shared_ptr<ImageClassifierBox> load_image_box(const fs::path& run_dir) {
  if (run_kind(run_dir) != "image")
    throw Error::config("--model '{}' is an LLM run; serve it with --label-words", run_dir.string());
  auto root = load_toml(run_dir / "config.toml");
  nn::ModelOptions mo;
  {
    ConfigTable t(root["model"].as_table(), "model");
    mo = nn::ModelOptions::parse(t);
  }
  static const toml::table kNoData;
  const toml::table& data = root["data"].as_table() ? *root["data"].as_table() : kNoData;
  const auto shape = served_input_shape(run_dir, data);

  const fs::path ck_path = latest_checkpoint(run_dir / "checkpoints");
  if (ck_path.empty())
    throw Error::io("--model '{}' has no checkpoints/round_<n>.pt; run more rounds (run.checkpoint_every) first",
                    run_dir.string());
  auto ck = load_checkpoint(ck_path);
  auto it = ck.tensors.find("X");
  if (it == ck.tensors.end() || it->second.dim() != 2 || it->second.size(0) < 1)
    throw Error::data("'{}' holds no federation state X [N,P]; is it an FL checkpoint?", ck_path.string());
  const torch::Tensor X = it->second.to(torch::kFloat32);  // [N,P]
  const int64_t P = X.size(1);

  // The class count K is not stored in the run; the parameter count is affine in it (only the last layer's
  // out-features depend on K), P(K) = P(1) + (K − 1)·(P(2) − P(1)), so K follows from the checkpoint's width.
  const int64_t p1 = nn::parameter_count(*nn::make_model(mo, shape, 1));
  const int64_t per_class = nn::parameter_count(*nn::make_model(mo, shape, 2)) - p1;
  if (per_class < 1 || P < p1 || (P - p1) % per_class != 0)
    throw Error::data("'{}': X has P = {} columns, which fits no class count of model.name = \"{}\" on inputs [{}]; "
                      "is config.toml the run's own?",
                      ck_path.string(), P, mo.name, fmt::join(shape, ","));
  const int64_t classes = 1 + (P - p1) / per_class;

  auto model = nn::make_model(mo, shape, classes);
  auto layout = nn::ParamLayout::of(*model);
  PLEXUS_CHECK(layout.size() == P, "layout P = {} but X has {}", layout.size(), P);
  // x̄ = (1/N) Σ_i X[i]: the consensus model (decentralized runs) or the server model's replicas (server FL).
  auto xbar = X.to(torch::kFloat64).mean(0).to(torch::kFloat32).contiguous();  // [P]
  layout.bind(*model, xbar, torch::zeros_like(xbar));
  const std::string dataset = data["dataset"].value_or(std::string("fashion_mnist"));
  return std::make_shared<ImageClassifierBox>(std::move(model), shape, classes, known_class_names(dataset, classes));
}

// ---- TextVerbalizerBox ----------------------------------------------------------------------------------

struct TextVerbalizerBox::Impl {
  llm::Policy policy;
  std::vector<int64_t> word_ids;  // [K] first token of " <word k>"
};

TextVerbalizerBox::TextVerbalizerBox(const fs::path& run_dir, std::vector<std::string> label_words)
    : impl_(std::make_unique<Impl>()), label_words_(std::move(label_words)) {
  if (label_words_.size() < 2)
    throw Error::config("--label-words: give at least two label words (one per class), e.g. --label-words no,yes");
  impl_->policy = llm::load_policy(run_dir, torch::kCPU, "--model");
  impl_->policy.model->eval();
  for (auto& p : impl_->policy.model->parameters()) p.requires_grad_(false);
  for (const auto& w : label_words_) {
    if (w.empty()) throw Error::config("--label-words: an empty label word; give one word per class");
    const int64_t id = llm::first_word_token(*impl_->policy.tok, w);
    if (id < 0) throw Error::config("--label-words: '{}' encodes to no token; choose another word", w);
    for (size_t k = 0; k < impl_->word_ids.size(); ++k)
      if (impl_->word_ids[k] == id)
        throw Error::config("--label-words: '{}' and '{}' start with the same token; choose words that differ in their "
                            "first token",
                            label_words_[k], w);
    impl_->word_ids.push_back(id);
  }
}

TextVerbalizerBox::~TextVerbalizerBox() = default;

nlohmann::json TextVerbalizerBox::info() const {
  return {{"task", "text_classification"},
          {"classes", classes()},
          {"label_words", label_words_},
          {"max_seq_len", impl_->policy.args.max_seq_len}};
}

int64_t TextVerbalizerBox::batch_size(const nlohmann::json& request) const {
  if (!request.is_object()) throw RequestError(400, "the request body must be a JSON object");
  auto it = request.find("texts");
  if (it == request.end() || !it->is_array() || it->empty())
    throw RequestError(400, "\"texts\" must be a non-empty array of strings");
  return static_cast<int64_t>(it->size());
}

torch::Tensor TextVerbalizerBox::logits(const nlohmann::json& request) const {
  const int64_t B = batch_size(request);
  const auto& texts = request["texts"];
  const int64_t T = impl_->policy.args.max_seq_len;
  std::vector<std::vector<int64_t>> tokens;
  for (int64_t i = 0; i < B; ++i) {
    const auto& t = texts[static_cast<size_t>(i)];
    if (!t.is_string()) throw RequestError(400, fmt::format("\"texts\"[{}] is not a string", i));
    auto ids = llm::encode64(*impl_->policy.tok, t.get<std::string>());
    if (ids.empty()) throw RequestError(400, fmt::format("\"texts\"[{}] encodes to no token", i));
    if (static_cast<int64_t>(ids.size()) > T) ids.erase(ids.begin(), ids.end() - T);  // keep the last T tokens
    tokens.push_back(std::move(ids));
  }
  auto word_ids = torch::tensor(impl_->word_ids, torch::kInt64);  // [K]
  auto out = torch::empty({B, classes()}, torch::kFloat32);
  torch::NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(forward_mutex_);
  for (int64_t i = 0; i < B; ++i) {  // one text at a time: lengths differ and there is no padding mask
    auto ids = torch::tensor(tokens[static_cast<size_t>(i)], torch::kInt64).view({1, -1});  // [1,T_i]
    auto v = impl_->policy.model->forward(ids);                                              // [1,T_i,V]
    out[i] = v[0][ids.size(1) - 1].index_select(0, word_ids).to(torch::kFloat32);          // [K]
  }
  return out;
}

}  // namespace plexus::serve
