// FL round benchmark: seconds per round of the plexus runner, split into local compute, communication
// and evaluation, next to the same local steps run as bare LibTorch (a standalone CNN, torch::optim::SGD,
// the same minibatch sizes and the same two passes per SAM step). The engine's overhead is
// (plexus local compute − bare LibTorch) / plexus round time.
//
//   fl_bench --algorithm dfedsam --clients 20 --rounds 3 --local-steps 10 [--threads 2] [--device cpu] [--sam 0/1]
// Prints one JSON object per line (docs/results.md has the numbers and the command).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "plexus/core/log.h"
#include "plexus/data/federated.h"
#include "plexus/fl/runner.h"
#include "plexus/fl/worker_pool.h"

using namespace plexus;
using Clock = std::chrono::steady_clock;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) if (argv[i] == "--" + name) return argv[i + 1];
  return def;
}

// The same local work as one round of the runner, as plain LibTorch: every client trains its own copy of
// the CNN with torch::optim::SGD for K steps of batch B (two forward/backward passes per step for SAM).
double bare_libtorch_round(const fl::FlConfig& cfg, const data::FederatedData& fd, bool sam, int64_t workers) {
  std::array<int64_t, 3> input{fd.train.x.size(1), fd.train.x.size(2), fd.train.x.size(3)};
  std::vector<std::shared_ptr<nn::Model>> models;
  for (int64_t w = 0; w < workers; ++w) models.push_back(nn::make_model(cfg.model, input, fd.train.num_classes));
  auto t0 = Clock::now();
  fl::parallel_for(cfg.fl.clients, workers, [&](int64_t w, int64_t i) {
    auto& model = models[w];
    torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(cfg.train.lr));
    const auto& idx = fd.client_train[i];
    int64_t steps = fl::local_step_count(cfg.train, static_cast<int64_t>(idx.size()));
    auto all = torch::tensor(idx, torch::kInt64);
    for (int64_t s = 0; s < steps; ++s) {
      auto b = all.narrow(0, (s * cfg.train.batch_size) % std::max<int64_t>(1, all.size(0) - cfg.train.batch_size),
                          std::min<int64_t>(cfg.train.batch_size, all.size(0)));
      auto x = fd.train.x.index_select(0, b), y = fd.train.y.index_select(0, b);
      for (int pass = 0; pass < (sam ? 2 : 1); ++pass) {
        opt.zero_grad();
        torch::nn::functional::cross_entropy(model->forward(x), y).backward();
      }
      opt.step();
    }
  });
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    set_log_level(LogLevel::Warn);
    std::string algorithm = arg(argc, argv, "algorithm", "dfedsam");
    auto root = load_toml(std::string(PLEXUS_SOURCE_DIR) + "/configs/quickstart.toml");
    for (const std::string& kv : std::vector<std::string>{"fl.algorithm=" + algorithm, "fl.clients=" + arg(argc, argv, "clients", "20"),
                    "fl.rounds=" + arg(argc, argv, "rounds", "3"),
                    "train.local_steps=" + arg(argc, argv, "local-steps", "10"),
                    "run.threads=" + arg(argc, argv, "threads", "0"), "run.device=" + arg(argc, argv, "device", "cpu"),
                    std::string("run.out_dir=\"/tmp/plexus_fl_bench\""),
                    "run.name=" + fmt::format("{}_{}_{}", algorithm, arg(argc, argv, "clients", "20"),
                                              std::chrono::system_clock::now().time_since_epoch().count()),
                    std::string("data.local_test_size=100")}) {
      apply_override(root, kv);
    }
    auto cfg = fl::FlConfig::parse(root);
    auto result = fl::run_fl(cfg, false);
    double train = 0, comm = 0, eval = 0, total = 0;
    for (const auto& r : result.rows) {
      train += r["seconds_train"].get<double>(), comm += r["seconds_comm"].get<double>();
      eval += r["seconds_eval"].get<double>(), total += r["seconds"].get<double>();
    }
    const double n = static_cast<double>(result.rows.size());
    auto fd = data::load_federated(cfg.data, cfg.fl.clients, static_cast<uint64_t>(cfg.run.seed));
    int64_t workers = cfg.run.threads > 0 ? cfg.run.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
    at::set_num_threads(1);
    double bare = 0;
    // The reference runs two forward/backward passes per step for SAM-based local rules (--sam 1); the default
    // guesses from the name (dfedsam, fedsam, dp_fedsam...).
    const bool sam = arg(argc, argv, "sam", algorithm.find("sam") != std::string::npos ? "1" : "0") == "1";
    for (int r = 0; r < static_cast<int>(n); ++r) bare += bare_libtorch_round(cfg, fd, sam, workers);
    bare /= n;
    nlohmann::ordered_json j;
    j["bench"] = "fl_round";
    j["algorithm"] = algorithm;
    j["clients"] = cfg.fl.clients;
    j["local_steps"] = cfg.train.local_steps;
    j["batch_size"] = cfg.train.batch_size;
    j["workers"] = workers;
    j["seconds_per_round"] = total / n;
    j["seconds_local_compute"] = train / n;
    j["seconds_gossip"] = comm / n;
    j["seconds_eval"] = eval / n;
    j["seconds_bare_libtorch_local"] = bare;
    j["engine_overhead_fraction_of_round"] = (train / n - bare) / (total / n);
    std::printf("%s\n", j.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", describe_exception(e).c_str());
    return 1;
  }
  return 0;
}
