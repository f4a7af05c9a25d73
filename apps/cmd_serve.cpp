// `plexus serve`: a trained model as a black-box HTTP service on a loopback address (docs/serve.md).
//   plexus serve --model RUN_DIR --keys KEYS.json [--host 127.0.0.1] [--port 0] [--max-batch 1024]
//                [--max-body-bytes 67108864] [--label-words a,b,c (LLM runs)]
// Prints one line `listening on http://<host>:<port>` on stdout once bound, serves until SIGINT/SIGTERM, then
// prints each key's usage on stderr and exits 0.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command_registry.h"
#include "plexus/core/error.h"
#include "plexus/serve/api_server.h"
#include "plexus/serve/black_box.h"

namespace {

using namespace plexus;
using namespace plexus::serve;

struct ServeArgs {
  std::string model, keys, host = "127.0.0.1";
  int port = 0;
  ServerLimits limits;
  std::vector<std::string> label_words;
};

int g_signal_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  const char c = 1;
  (void)!::write(g_signal_pipe[1], &c, 1);  // async-signal-safe wake-up of the main thread
}

// SIGINT and SIGTERM write to g_signal_pipe (whichever thread receives them); main blocks reading it.
void install_stop_handlers() {
  if (::pipe(g_signal_pipe) != 0) throw Error::io("plexus serve: cannot create a pipe for signals");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

std::string url_of(const std::string& host, int port) {
  return host == "::1" ? fmt::format("http://[::1]:{}", port) : fmt::format("http://{}:{}", host, port);
}

void run_serve(const ServeArgs& a) {
  // Refuse a non-loopback host before loading anything.
  if (!is_loopback_host(a.host))
    throw Error::config("--host {}: the model service binds loopback addresses only (127.0.0.1, localhost, ::1)",
                        a.host);
  const KeyBudgets keys = load_keys(a.keys);
  std::shared_ptr<const BlackBox> box;
  const std::string kind = run_kind(a.model);
  if (kind == "image") {
    if (!a.label_words.empty())
      throw Error::config("--label-words is for LLM runs; '{}' is an FL image run (drop --label-words)", a.model);
    box = load_image_box(a.model);
  } else {
    if (a.label_words.empty())
      throw Error::config("'{}' is an LLM run: give one label word per class, e.g. --label-words no,yes", a.model);
    box = std::make_shared<TextVerbalizerBox>(a.model, a.label_words);
  }
  ApiServer server(box, keys, a.limits);
  install_stop_handlers();  // handlers first: a SIGTERM right after the line below still shuts down cleanly
  const int port = server.start(a.host, a.port);
  std::printf("listening on %s\n", url_of(a.host, port).c_str());
  std::fflush(stdout);
  char c;
  while (::read(g_signal_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  server.stop();
  for (const auto& [key, u] : server.usage())
    std::fprintf(stderr, "usage: key %s  queries %lld / %s  examples %lld\n", key.c_str(),
                 static_cast<long long>(u.queries), u.budget ? std::to_string(*u.budget).c_str() : "unlimited",
                 static_cast<long long>(u.examples));
}

void setup(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* s = app.add_subcommand("serve", "serve a trained model as a black-box HTTP API (logits only; docs/serve.md)");
  s->add_option("--model", a->model, "run directory: an FL image run (plexus fl run) or an LLM run")->required();
  s->add_option("--keys", a->keys, "keys file {\"keys\": {\"<key>\": {\"budget\": N or null}}}")->required();
  s->add_option("--host", a->host, "loopback address to bind: 127.0.0.1 | localhost | ::1")->capture_default_str();
  s->add_option("--port", a->port, "TCP port; 0 = any free port (printed)")->capture_default_str();
  s->add_option("--max-batch", a->limits.max_batch, "examples per predict call")->capture_default_str();
  s->add_option("--max-body-bytes", a->limits.max_body_bytes, "request body limit in bytes")->capture_default_str();
  s->add_option("--label-words", a->label_words, "LLM runs: one label word per class, comma-separated")
      ->delimiter(',');
  s->callback([a] { run_serve(*a); });
}

plexus::app::CommandRegistrar reg("serve", setup);

}  // namespace
