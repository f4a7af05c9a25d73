// The black-box model service end to end over loopback HTTP: info, logits against the model's own forward,
// losses against a hand-computed cross-entropy, every malformed request class with its status (and the next
// valid request still served), keys, budgets under concurrency, and a walk over routes that must not exist.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <thread>

#include "plexus/core/error.h"
#include "plexus/serve/api_client.h"
#include "serve_test_util.h"

using namespace plexus;
using namespace plexus::serve;
using plexus::test::image_body;
using plexus::test::TinyService;

namespace {

// The largest array anywhere in a JSON document.
size_t longest_array(const nlohmann::json& j) {
  size_t m = j.is_array() ? j.size() : 0;
  if (j.is_structured())
    for (const auto& v : j) m = std::max(m, longest_array(v));
  return m;
}

// A body whose response must be an error with `status` and a one-line {"error": ...}.
void expect_error(ApiClient& c, const std::string& method, const std::string& path, const std::string& body,
                  int status, const std::string& what) {
  const RawReply r = c.send(method, path, body);
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error") && j["error"].is_string()) << what << ": " << r.body;
  EXPECT_EQ(j["error"].get<std::string>().find('\n'), std::string::npos) << what;
  EXPECT_EQ(longest_array(j), 0u) << what << ": an error carries no numbers";
}

// Send `request` as raw bytes on a fresh loopback connection to `port` and read one HTTP response (its headers and
// the Content-Length bytes of its body). The socket gives up after `wait_s` seconds without data, so a server that
// keeps waiting for a body makes this return what it has (an empty string), never hang the test.
std::string raw_exchange(int port, const std::string& request, int wait_s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "socket() failed";
  timeval tv{wait_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (;;) {
      const auto head_end = got.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const auto cl = got.find("Content-Length: ");
        const size_t body = cl == std::string::npos ? 0 : std::stoul(got.substr(cl + 16));
        if (got.size() >= head_end + 4 + body) break;
      }
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;  // closed, or nothing for wait_s seconds
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

}  // namespace

TEST(ApiServer, InfoDescribesTaskLimitsAndNothingMore) {
  TinyService s(/*budget=*/40);
  ApiClient c(s.url(), "client");
  const auto info = c.info();
  EXPECT_EQ(info["task"], "image_classification");
  EXPECT_EQ(info["input_shape"], nlohmann::json({1, 4, 4}));
  EXPECT_EQ(info["dtype"], "float32");
  EXPECT_EQ(info["classes"], 3);
  EXPECT_EQ(info["class_names"], nlohmann::json({"0", "1", "2"}));
  EXPECT_EQ(info["limits"]["max_batch"], 1024);
  EXPECT_EQ(info["limits"]["max_body_bytes"], 64 << 20);
  EXPECT_EQ(info["query_budget"], 40);
  EXPECT_EQ(info["queries_used"], 0);
  EXPECT_EQ(info["queries_left"], 40);
  // No parameter-sized payload: no array longer than the class count anywhere.
  EXPECT_LE(longest_array(info), 3u) << info.dump();
  EXPECT_TRUE(ApiClient(s.url(), "eval").info()["query_budget"].is_null());
  EXPECT_TRUE(ApiClient(s.url(), "eval").info()["queries_left"].is_null());
}

TEST(ApiServer, InfoReportsOnlyTheCallersOwnUsage) {
  TinyService s(/*budget=*/10);
  ApiClient client(s.url(), "client"), eval(s.url(), "eval");
  const auto x = torch::zeros({2, 1, 4, 4});
  for (int i = 0; i < 3; ++i) client.predict(x);
  for (int i = 0; i < 5; ++i) eval.predict(x);
  const auto mine = client.info();
  EXPECT_EQ(mine["queries_used"], 3);
  EXPECT_EQ(mine["query_budget"], 10);
  EXPECT_EQ(mine["queries_left"], 7) << "10 - 3";
  EXPECT_EQ(eval.info()["queries_used"], 5);
  // Nothing about another key: neither its name nor its count.
  EXPECT_EQ(mine.dump().find("eval"), std::string::npos) << mine.dump();
  EXPECT_EQ(mine.dump().find("5"), std::string::npos) << mine.dump();
}
TEST(ApiServer, PredictMatchesModelForwardAndCrossEntropy) {
  TinyService s;
  ApiClient c(s.url(), "client");
  torch::manual_seed(1);
  const auto x = torch::randn({5, 1, 4, 4});
  const auto y = torch::tensor({0, 2, 1, 1, 0}, torch::kInt64);

  const Prediction p = c.predict(x, y);

  torch::Tensor want;
  {
    torch::NoGradGuard g;
    want = s.model->forward(x);  // [5,3]
  }
  ASSERT_EQ(p.logits.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(p.logits.scalar_type(), torch::kFloat32);
  // The same f32 forward on the same batch; JSON carries the f32 values exactly (f64 text), so only a kernel
  // difference between threads could move them, by at most a few ulps.
  EXPECT_TRUE(torch::allclose(p.logits, want, /*rtol=*/0, /*atol=*/1e-6)) << p.logits << want;
  // Cross-entropy by hand: log Σ_k exp z_k − z_y, in f64 from the served logits.
  ASSERT_TRUE(p.losses.defined());
  ASSERT_EQ(p.losses.scalar_type(), torch::kFloat64);
  for (int64_t i = 0; i < 5; ++i) {
    double lse = 0;
    for (int64_t k = 0; k < 3; ++k) lse += std::exp(p.logits[i][k].item<double>());
    const double ce = std::log(lse) - p.logits[i][y[i].item<int64_t>()].item<double>();
    EXPECT_NEAR(p.losses[i].item<double>(), ce, 1e-12) << i;  // f64 arithmetic on both sides
  }
  EXPECT_EQ(p.queries_used, 1);
  EXPECT_EQ(p.query_budget, 1000);

  const Prediction q = c.predict(x);  // no labels: no losses
  EXPECT_FALSE(q.losses.defined());
  EXPECT_EQ(q.queries_used, 2);
  EXPECT_EQ(c.calls(), 2);
  EXPECT_GT(c.bytes_sent(), 2 * 4 * 5 * 16);  // two bodies of base64 f32 (4/3 of 320 bytes each, plus fields)
  EXPECT_GT(c.bytes_received(), 0);
  const auto u = s.server.usage();
  EXPECT_EQ(u.at("client").queries, 2);
  EXPECT_EQ(u.at("client").examples, 10);
  EXPECT_EQ(u.at("eval").queries, 0);
}

TEST(ApiServer, MalformedRequestsGetTheirStatusAndServingContinues) {
  ServerLimits limits;
  limits.max_batch = 8;
  limits.max_body_bytes = 64 * 1024;
  TinyService s(1000, limits);
  ApiClient c(s.url(), "client");
  torch::manual_seed(2);
  const auto x = torch::randn({2, 1, 4, 4});
  const auto good = image_body(x, torch::tensor({0, 1}, torch::kInt64));
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = good;
    edit(j);
    return j.dump();
  };
  auto nan_x = x.clone();
  nan_x[1][0][2][3] = NAN;
  auto inf_x = x.clone();
  inf_x[0][0][0][0] = -INFINITY;
  // images_to_wire refuses non-finite values, so encode those bytes by hand.
  auto raw_data = [](const torch::Tensor& t) {
    auto c = t.contiguous();
    return base64_encode(std::string_view(static_cast<const char*>(c.data_ptr()), c.numel() * 4));
  };
  struct Case {
    std::string what, body;
    int status;
  };
  const std::vector<Case> cases = {
      {"not JSON", "{\"shape\": [2,1,4", 400},
      {"JSON array", "[1,2,3]", 400},
      {"empty body", "", 400},
      {"no shape", with([](nlohmann::json& j) { j.erase("shape"); }), 400},
      {"rank 3", with([](nlohmann::json& j) { j["shape"] = {2, 16, 1}; }), 400},
      {"wrong C", with([](nlohmann::json& j) { j["shape"] = {2, 3, 4, 4}; }), 400},
      {"wrong H,W", with([](nlohmann::json& j) { j["shape"] = {1, 1, 4, 8}; }), 400},
      {"zero batch", with([](nlohmann::json& j) { j["shape"] = {0, 1, 4, 4}; }), 400},
      {"float shape", with([](nlohmann::json& j) { j["shape"] = {2.5, 1, 4, 4}; }), 400},
      {"dtype float64", with([](nlohmann::json& j) { j["dtype"] = "float64"; }), 400},
      {"dtype missing", with([](nlohmann::json& j) { j.erase("dtype"); }), 400},
      {"data not a string", with([](nlohmann::json& j) { j["data"] = {1, 2}; }), 400},
      {"bad base64 char", with([](nlohmann::json& j) { j["data"].get_ref<std::string&>()[5] = '*'; }), 400},
      {"short data", with([](nlohmann::json& j) { j["data"] = j["data"].get<std::string>().substr(4); }), 400},
      {"shape B larger than data", with([](nlohmann::json& j) { j["shape"] = {3, 1, 4, 4}; }), 400},
      {"NaN", with([&](nlohmann::json& j) { j["data"] = raw_data(nan_x); }), 400},
      {"-Inf", with([&](nlohmann::json& j) { j["data"] = raw_data(inf_x); }), 400},
      {"labels too few", with([](nlohmann::json& j) { j["labels"] = {0}; }), 400},
      {"label out of range", with([](nlohmann::json& j) { j["labels"] = {0, 3}; }), 400},
      {"negative label", with([](nlohmann::json& j) { j["labels"] = {-1, 0}; }), 400},
      {"label not integer", with([](nlohmann::json& j) { j["labels"] = {0, 1.5}; }), 400},
      {"labels not array", with([](nlohmann::json& j) { j["labels"] = "0,1"; }), 400},
      {"batch over max_batch", image_body(torch::zeros({9, 1, 4, 4})).dump(), 413},
      {"body over max_body_bytes", std::string(100 * 1024, ' '), 413},
  };
  int64_t accepted = 0;
  for (const auto& k : cases) {
    expect_error(c, "POST", "/v1/predict", k.body, k.status, k.what);
    // The next valid request is served, whatever came before.
    const RawReply r = c.send("POST", "/v1/predict", good.dump());
    ASSERT_EQ(r.status, 200) << "after " << k.what << ": " << r.body;
    ++accepted;
  }
  // Refused requests cost no query.
  EXPECT_EQ(s.server.usage().at("client").queries, accepted);
  EXPECT_EQ(s.server.usage().at("client").examples, 2 * accepted);
  // The client maps a 4xx to Error(Data) with the server's message.
  try {
    c.predict(torch::zeros({2, 1, 4, 5}));
    FAIL() << "expected Error(Data)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("does not match the served input [B,1,4,4]"), std::string::npos) << e.what();
  }
}

TEST(ApiServer, OversizeContentLengthWithoutBodyIsRefusedAtOnce) {
  ServerLimits limits;
  limits.max_body_bytes = 64 * 1024;
  TinyService s(1000, limits);
  auto head = [&](const std::string& extra) {
    return "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer client\r\n"
           "Content-Type: application/json\r\n" + extra + "\r\n";
  };
  // Declares 100 MB and sends nothing. httplib 0.11 on its own waits for the body for the server's 60 s read
  // timeout; the reply must come long before this socket's 10 s receive timeout gives up.
  for (const std::string length : {"100000000", "65537", "99999999999999999999999"}) {
    const std::string r = raw_exchange(s.port, head("Content-Length: " + length + "\r\n"), 10);
    EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << length << ": " << r;
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
    const auto j = nlohmann::json::parse(r.substr(r.find("\r\n\r\n") + 4), nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r;
    EXPECT_NE(j["error"].get<std::string>().find("over the limit of 65536 bytes"), std::string::npos) << r;
  }
  // A length that is no number, and a chunked body (which has no length to check), are refused as promptly.
  EXPECT_EQ(raw_exchange(s.port, head("Content-Length: -5\r\n"), 10).rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(raw_exchange(s.port, head("Transfer-Encoding: chunked\r\n"), 10).rfind("HTTP/1.1 411", 0), 0u);
  // At the limit the body is read as before: a valid request sent raw is answered 200.
  const std::string good = image_body(torch::zeros({1, 1, 4, 4})).dump();
  const std::string ok = raw_exchange(s.port, head("Content-Length: " + std::to_string(good.size()) + "\r\n") + good, 10);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  // The next valid request through the client still works, and the refused ones cost no query.
  ApiClient c(s.url(), "client");
  EXPECT_EQ(c.predict(torch::zeros({2, 1, 4, 4})).queries_used, 2);
  EXPECT_EQ(s.server.usage().at("client").queries, 2);
}

TEST(ApiServer, MissingOrUnknownKeyIs401) {
  TinyService s;
  ApiClient c(s.url(), "client");
  const std::string body = image_body(torch::zeros({1, 1, 4, 4})).dump();
  for (const auto& route : {std::pair{"GET", "/v1/info"}, std::pair{"POST", "/v1/predict"}}) {
    const RawReply none = c.send(route.first, route.second, route.first == std::string("POST") ? body : "", false);
    EXPECT_EQ(none.status, 401) << none.body;
    EXPECT_NE(none.body.find("Authorization: Bearer"), std::string::npos) << none.body;
  }
  ApiClient stranger(s.url(), "not-a-key");
  EXPECT_EQ(stranger.send("POST", "/v1/predict", body).status, 401);
  EXPECT_EQ(stranger.send("GET", "/v1/info").status, 401);
  try {
    stranger.info();
    FAIL() << "expected Error(Data)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("unknown API key"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.server.usage().at("client").queries, 0);
}

TEST(ApiServer, BudgetAllowsExactlyBudgetCallsThen429) {
  TinyService s(/*budget=*/5);
  ApiClient c(s.url(), "client");
  const auto x = torch::zeros({3, 1, 4, 4});
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(c.predict(x).queries_used, i);
  const RawReply r = c.send("POST", "/v1/predict", image_body(x).dump());
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["query_budget"], 5);
  try {
    c.predict(x);
    FAIL() << "expected Error(Infeasible)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Infeasible);
    EXPECT_NE(std::string(e.what()).find("query budget of 5 calls for this client's key is spent"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("raise bbpt.query_budget"), std::string::npos) << e.what();
  }
  const auto u = s.server.usage();
  EXPECT_EQ(u.at("client").queries, 5);
  EXPECT_EQ(u.at("client").examples, 15);
  EXPECT_EQ(u.at("client").budget, 5);
  // Another key is not affected; info still answers a spent key.
  EXPECT_EQ(ApiClient(s.url(), "eval").predict(x).queries_used, 1);
  EXPECT_EQ(c.info()["queries_used"], 5);
}

TEST(ApiServer, ConcurrentCallsAreCountedExactlyAndBudgetsHold) {
  TinyService s(/*budget=*/150);
  constexpr int kThreads = 8, kCalls = 25;
  std::atomic<int> ok_eval{0}, ok_client{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ApiClient eval(s.url(), "eval"), client(s.url(), "client");  // one client object per thread
      const auto x = torch::full({2, 1, 4, 4}, static_cast<float>(t));
      for (int i = 0; i < kCalls; ++i) {
        try {
          eval.predict(x);
          ++ok_eval;
        } catch (...) {
          ++other;
        }
        try {
          client.predict(x);
          ++ok_client;
        } catch (const Error& e) {
          (e.kind() == ErrorKind::Infeasible ? refused : other)++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok_eval.load(), kThreads * kCalls);
  EXPECT_EQ(ok_client.load(), 150);
  EXPECT_EQ(refused.load(), kThreads * kCalls - 150);
  const auto u = s.server.usage();
  EXPECT_EQ(u.at("eval").queries, 200);
  EXPECT_EQ(u.at("eval").examples, 400);
  EXPECT_EQ(u.at("client").queries, 150);
  EXPECT_EQ(u.at("client").examples, 300);
}

TEST(ApiServer, RouteWalkFindsOnlyInfoAndPredict) {
  TinyService s;
  ApiClient c(s.url(), "eval");
  const std::string body = image_body(torch::zeros({1, 1, 4, 4})).dump();
  const std::vector<std::string> routes = {"/",          "/v1",           "/v1/",           "/v1/weights",
                                           "/v1/parameters", "/v1/state_dict", "/v1/gradients", "/v1/activations",
                                           "/v1/model",  "/v1/usage",     "/v1/predict/x",  "/v2/predict",
                                           "/v1/info/..", "/v1/checkpoint", "/metrics",       "/v1/keys"};
  for (const auto& route : routes)
    for (const std::string method : {"GET", "POST"})
      expect_error(c, method, route, method == "GET" ? "" : body, 404, method + " " + route);
  expect_error(c, "POST", "/v1/info", body, 405, "POST /v1/info");
  expect_error(c, "GET", "/v1/predict", "", 405, "GET /v1/predict");
  for (const std::string method : {"PUT", "DELETE", "PATCH"}) {
    expect_error(c, method, "/v1/predict", method == "DELETE" ? "" : body, 405, method + " /v1/predict");
    expect_error(c, method, "/v1/info", method == "DELETE" ? "" : body, 405, method + " /v1/info");
  }
  EXPECT_EQ(s.server.usage().at("eval").queries, 0);
  EXPECT_EQ(c.send("POST", "/v1/predict", body).status, 200);  // still serving
}

TEST(ApiServer, RefusesNonLoopbackHostsAndBadSettings) {
  auto box = std::make_shared<ImageClassifierBox>(plexus::test::tiny_image_model(), plexus::test::kChw, 3);
  ApiServer server(box, {{"k", std::nullopt}});
  for (const std::string host : {"0.0.0.0", "192.168.1.10", "example.com", "::"}) {
    try {
      server.start(host, 0);
      FAIL() << host;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find("loopback"), std::string::npos) << e.what();
    }
  }
  auto config_error = [&](KeyBudgets keys, ServerLimits limits) {
    try {
      ApiServer bad(box, std::move(keys), limits);
    } catch (const Error& e) {
      return e.kind() == ErrorKind::Config;
    }
    return false;
  };
  EXPECT_TRUE(config_error({}, {}));
  EXPECT_TRUE(config_error({{"has space", 3}}, {}));
  EXPECT_TRUE(config_error({{"k", -1}}, {}));
  EXPECT_TRUE(config_error({{"k", 1}}, ServerLimits{0, 1 << 20, 4}));
  EXPECT_TRUE(config_error({{"k", 1}}, ServerLimits{8, 10, 4}));
}

TEST(ApiServer, ASecondServerCannotTakeAPortInUse) {
  // Two servers on one port would split the requests and each keep its own budgets: the second is refused.
  auto box = std::make_shared<ImageClassifierBox>(plexus::test::tiny_image_model(), plexus::test::kChw, 3);
  ApiServer first(box, {{"k", 5}});
  const int port = first.start("127.0.0.1", 0);
  ApiServer second(box, {{"k", 5}});
  try {
    second.start("127.0.0.1", port);
    FAIL() << "a second server bound port " << port;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

TEST(ApiClient, UnreachableServiceIsIoErrorNamingTheUrl) {
  int port;
  {
    TinyService s;
    port = s.port;
  }  // stopped: nothing listens on the port now
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  ApiClient c(url, "client");
  try {
    c.predict(torch::zeros({1, 1, 4, 4}));
    FAIL() << "expected Error(Io)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find(url), std::string::npos) << e.what();
  }
  EXPECT_THROW(ApiClient("ftp://x", "k"), Error);
}
