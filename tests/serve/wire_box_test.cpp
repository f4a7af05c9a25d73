// The wire format (base64, image batches, labels) and the boxes without HTTP: round trips over edge lengths,
// every refusal with status 400, the image box's info and logits, and the keys file parser.
#include <gtest/gtest.h>

#include <fstream>

#include "plexus/core/error.h"
#include "serve_test_util.h"

using namespace plexus;
using namespace plexus::serve;

namespace {

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RequestError& e) {
    return e.status();
  }
  return 0;
}

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / ("plexus_serve_wire_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p;
}

}  // namespace

TEST(Wire, Base64MatchesRfc4648Vectors) {
  // RFC 4648 §10 test vectors.
  const std::vector<std::pair<std::string, std::string>> v = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                              {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                              {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : v) {
    EXPECT_EQ(base64_encode(plain), coded);
    EXPECT_EQ(base64_decode(coded), plain);
  }
}

TEST(Wire, Base64RoundTripsEveryByteAndLength) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (size_t n = 0; n <= all.size(); n += 1) EXPECT_EQ(base64_decode(base64_encode(all.substr(0, n))), all.substr(0, n));
}

TEST(Wire, Base64RefusesMalformedText) {
  for (const std::string bad : {"Zm9", "Zm9v!A==", "Z===", "=Zm9", "Zm==Zm9v", "Zg=a", "Zm9v\n"})
    EXPECT_EQ(status_of([&] { base64_decode(bad); }), 400) << bad;
}

TEST(Wire, ImagesRoundTripBitExact) {
  torch::manual_seed(3);
  auto x = torch::randn({3, 1, 4, 4});
  x[0][0][0][0] = -0.0f;
  x[1][0][1][1] = 1e-40f;  // a subnormal survives too
  const auto j = images_to_wire(x);
  EXPECT_EQ(j["shape"], nlohmann::json({3, 1, 4, 4}));
  EXPECT_EQ(j["dtype"], "float32");
  const auto back = images_from_wire(j, {1, 4, 4});
  EXPECT_TRUE(torch::equal(back, x));
  EXPECT_TRUE(std::signbit(back[0][0][0][0].item<float>()));
}

TEST(Wire, ImagesFromWireRefusesEveryMalformedField) {
  const auto good = images_to_wire(torch::ones({2, 1, 4, 4}));
  auto status = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = good;
    edit(j);
    return status_of([&] { images_from_wire(j, {1, 4, 4}); });
  };
  EXPECT_EQ(status([](nlohmann::json&) {}), 0);
  EXPECT_EQ(status([](nlohmann::json& j) { j = nlohmann::json::array(); }), 400);
  EXPECT_EQ(status([](nlohmann::json& j) { j.erase("data"); }), 400);
  EXPECT_EQ(status([](nlohmann::json& j) { j["shape"] = {2, 1, 16}; }), 400);
  EXPECT_EQ(status([](nlohmann::json& j) { j["shape"] = {2, 1, 4, -4}; }), 400);
  EXPECT_EQ(status([](nlohmann::json& j) { j["shape"] = {1, 2, 4, 4}; }), 400);  // same numel, other [C,H,W]
  EXPECT_EQ(status([](nlohmann::json& j) { j["dtype"] = "float16"; }), 400);
  EXPECT_EQ(status([](nlohmann::json& j) { j["dtype"] = 32; }), 400);
  EXPECT_EQ(status([](nlohmann::json& j) { j["data"] = j["data"].get<std::string>() + "AAAA"; }), 400);
  EXPECT_THROW(images_to_wire(torch::full({1, 1, 4, 4}, NAN)), Error);
  EXPECT_THROW(images_to_wire(torch::ones({1, 1, 4, 4}, torch::kFloat64)), Error);
  EXPECT_THROW(images_to_wire(torch::ones({16})), Error);
}

TEST(Wire, LabelsAreOptionalButCheckedWhenGiven) {
  const nlohmann::json none = nlohmann::json::object();
  EXPECT_FALSE(labels_from_wire(none, 2, 3).defined());
  EXPECT_FALSE(labels_from_wire({{"labels", nullptr}}, 2, 3).defined());
  EXPECT_TRUE(torch::equal(labels_from_wire({{"labels", {2, 0}}}, 2, 3), torch::tensor({2, 0}, torch::kInt64)));
  for (const nlohmann::json& bad : {nlohmann::json({0}), nlohmann::json({0, 3}), nlohmann::json({0, -1}),
                                   nlohmann::json({0, 1.0}), nlohmann::json({0, "1"}), nlohmann::json("0,1")})
    EXPECT_EQ(status_of([&] { labels_from_wire({{"labels", bad}}, 2, 3); }), 400) << bad.dump();
}

TEST(ImageClassifierBox, LogitsEqualForwardAndModelIsFrozen) {
  auto model = plexus::test::tiny_image_model();
  ImageClassifierBox box(model, plexus::test::kChw, 3, {"cat", "dog", "eel"});
  EXPECT_EQ(box.info()["class_names"], nlohmann::json({"cat", "dog", "eel"}));
  EXPECT_FALSE(model->is_training());
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.requires_grad());
  torch::manual_seed(4);
  const auto x = torch::randn({4, 1, 4, 4});
  const auto z = box.logits(images_to_wire(x));
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::equal(z, model->forward(x)));  // same f32 forward, same thread: bit-identical
  EXPECT_EQ(box.batch_size(images_to_wire(x)), 4);
  EXPECT_THROW(ImageClassifierBox(model, plexus::test::kChw, 3, {"a"}), Error);
  EXPECT_THROW(ImageClassifierBox(model, {0, 4, 4}, 3), Error);
}

TEST(Keys, LoadsBudgetsAndNullAsUnlimited) {
  auto p = write_temp("ok.json", R"({"keys": {"client-1": {"budget": 8000}, "eval": {"budget": null}}})");
  const auto k = load_keys(p);
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k.at("client-1"), 8000);
  EXPECT_FALSE(k.at("eval").has_value());
}

TEST(Keys, MalformedFilesAreConfigErrorsNamingTheFile) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"notjson", "{keys:"},
      {"nokeys", R"({"clients": {}})"},
      {"empty", R"({"keys": {}})"},
      {"negative", R"({"keys": {"a": {"budget": -1}}})"},
      {"string", R"({"keys": {"a": {"budget": "100"}}})"},
      {"nobudget", R"({"keys": {"a": {}}})"},
      {"typo", R"({"keys": {"a": {"budjet": 3}}})"},
      {"space", R"({"keys": {"a b": {"budget": 3}}})"},
      {"toplevel", R"({"keys": {"a": {"budget": 3}}, "port": 1})"},
  };
  for (const auto& [name, text] : cases) {
    const auto p = write_temp(name + ".json", text);
    try {
      load_keys(p);
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << name;
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << name << ": " << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << name;
    }
  }
  try {
    load_keys("/nonexistent/keys.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
  }
}
