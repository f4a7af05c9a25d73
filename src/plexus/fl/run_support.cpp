#include "plexus/fl/run_support.h"

#include <cmath>
#include <sstream>
#include <thread>

#include "plexus/core/checkpoint_store.h"
#include "plexus/core/device.h"
#include "plexus/core/error.h"
#include "plexus/core/rng.h"
#include "plexus/fl/batched_round.h"

namespace plexus::fl {

namespace fs = std::filesystem;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double elapsed_before(const Rows& rows) {
  if (rows.empty()) return 0.0;
  const auto& last = rows.back();
  if (last.contains("seconds_elapsed") && last["seconds_elapsed"].is_number())
    return last["seconds_elapsed"].get<double>();
  double sum = 0;  // a history from before seconds_elapsed: the rounds' own times
  for (const auto& row : rows)
    if (row.contains("seconds") && row["seconds"].is_number()) sum += row["seconds"].get<double>();
  return sum;
}

ResumeRules fl_resume_rules() {
  ResumeRules r;
  r.unit = "round";
  // data.path may change: the data fingerprint (data.json: sizes and digest) decides whether the data are
  // the same, wherever they are now and however the path is spelled (or left to $PLEXUS_<DATASET>).
  // run.cuda_graphs only chooses how the same batched step is launched (equal up to fp rounding, as threads), and
  // runs from before it existed have no such key in their config.toml.
  r.harmless = {"run.threads", "run.tensorboard", "run.checkpoint_every", "run.keep_checkpoints", "run.out_dir", "run.name",
                "data.path", "run.cuda_graphs"};
  r.extendable = {"fl.rounds"};
  return r;
}

DataFingerprint fl_data_fingerprint(const FlConfig& cfg, const data::FederatedData& data) {
  std::string source = cfg.data.dataset;
  if (cfg.data.dataset == "fashion_mnist") {
    std::error_code ec;
    auto dir = fs::weakly_canonical(fs::absolute(data::resolve_fashion_mnist_dir(cfg.data.path)), ec);
    source = "fashion_mnist at " + dir.string();
  }
  FingerprintBuilder b(source);
  b.add("train.x", data.train.x);
  b.add("train.y", data.train.y);
  b.add("test.x", data.test.x);
  b.add("test.y", data.test.y);
  return b.finish();
}

RunDir open_run(const FlConfig& cfg, const data::FederatedData& data, bool resume, fs::path& checkpoint) {
  RunDir dir(cfg.run.out_dir, cfg.run.name, resume);
  RunSpec spec;
  spec.config = &cfg.resolved;
  spec.rules = fl_resume_rules();
  spec.data = fl_data_fingerprint(cfg, data);
  spec.target = cfg.fl.rounds;
  spec.target_key = "fl.rounds";
  checkpoint = start_run(dir, spec, resume).checkpoint;
  return dir;
}

int64_t setup_workers(const RunOptions& run, torch::Device device, bool batched) {
  if (device.is_cuda()) return 1;
  const int64_t threads = run.threads > 0 ? run.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (batched) {  // one batched computation: its ops use every thread
    at::set_num_threads(static_cast<int>(threads));
    return 1;
  }
  at::set_num_threads(1);
  return threads;
}

data::FederatedData load_data_on(const FlConfig& cfg, torch::Device device) {
  auto fd = data::load_federated(cfg.data, cfg.fl.clients, static_cast<uint64_t>(cfg.run.seed));
  for (auto* d : {&fd.train, &fd.test}) d->x = d->x.to(device), d->y = d->y.to(device);
  return fd;
}

static std::array<int64_t, 3> input_shape(const data::FederatedData& data) {
  auto shape = data.train.x.sizes();
  return {shape[1], shape[2], shape[3]};
}

std::shared_ptr<nn::Model> initial_model(const FlConfig& cfg, const data::FederatedData& data) {
  torch::manual_seed(stream_key(static_cast<uint64_t>(cfg.run.seed), "init"));
  return nn::make_model(cfg.model, input_shape(data), data.train.num_classes);
}

std::vector<LocalTrainer> make_trainers(const FlConfig& cfg, const data::FederatedData& data,
                                        std::shared_ptr<nn::Model> model0, const nn::ParamLayout& layout,
                                        int64_t workers, torch::Device device) {
  std::vector<LocalTrainer> trainers;
  for (int64_t w = 0; w < workers; ++w) {
    trainers.emplace_back(w == 0 ? model0 : nn::make_model(cfg.model, input_shape(data), data.train.num_classes),
                          layout, device);
  }
  return trainers;
}

Session open_session(const FlConfig& cfg) {
  torch::Device device = resolve_device(cfg.run.device);
  // Parallelism comes from training clients concurrently, or from inside the batched ops (see setup_workers).
  const bool batched = batching_enabled(cfg.run.client_batching, cfg.model, device);
  const bool graphs = cuda_graphs_enabled(cfg.run.cuda_graphs, batched, device);  // "on" without batching: error
  const int64_t workers = setup_workers(cfg.run, device, batched);
  auto data = load_data_on(cfg, device);
  // x^0: one initialization shared by every client.
  auto model0 = initial_model(cfg, data);
  const auto& p = cfg.personalization;
  auto layout = nn::ParamLayout::of(*model0, p.head.empty() ? std::vector<std::string>{model0->head_prefix()} : p.head);
  auto fed = Federation::replicate(layout, layout.flatten(*model0), cfg.fl.clients, device);
  auto trainers = make_trainers(cfg, data, model0, layout, workers, device);
  std::vector<int64_t> sizes;
  for (const auto& idx : data.client_train) sizes.push_back(static_cast<int64_t>(idx.size()));
  Session s{cfg,     static_cast<uint64_t>(cfg.run.seed), device, std::move(data), layout, std::move(trainers),
            workers, std::move(fed),                       std::move(sizes)};
  if (batched) {
    // The batched step has no augmentation: "auto" falls back to one client at a time, "on" is refused.
    if (s.data.train.augment.enabled()) {
      if (cfg.run.client_batching == "on") {
        throw Error::config("run.client_batching = \"on\" does not support data augmentation (data.crop_padding, "
                            "data.horizontal_flip); use \"auto\" or \"off\"");
      }
      (void)cuda_graphs_enabled(cfg.run.cuda_graphs, false, device);  // "on" needs the batched engine
    } else {
      s.batched = std::make_shared<BatchedTrainer>(cfg.model, layout, device, /*max_clients=*/0, graphs);
    }
  }
  return s;
}

Best best_of(const Rows& rows, const char* key) {
  Best b;
  for (const auto& row : rows) {
    if (row.contains(key) && row[key].is_number() && row[key].get<double>() > b.value) {
      b.value = row[key].get<double>(), b.round = row["round"].get<int64_t>();
    }
  }
  return b;
}

void save_round_checkpoint(const RunDir& dir, const Checkpoint& ck, int64_t round, int64_t keep) {
  dir.metrics().sync();  // the rows up to `round` reach the disk before the checkpoint that follows them
  save_checkpoint_rotating(dir.checkpoints(), ck, round, keep);
}

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd r;
  if (v.empty()) return r;
  double s = 0, q = 0;
  for (double a : v) s += a;
  r.mean = s / static_cast<double>(v.size());
  for (double a : v) q += (a - r.mean) * (a - r.mean);
  r.std = std::sqrt(q / static_cast<double>(v.size()));
  return r;
}

std::vector<double> averaging_weights(const std::vector<int64_t>& sizes, const std::vector<int64_t>& who) {
  double total = 0;
  for (int64_t i : who) total += static_cast<double>(sizes[i]);
  std::vector<double> w;
  for (int64_t i : who) w.push_back(total > 0 ? static_cast<double>(sizes[i]) / total : 1.0 / static_cast<double>(who.size()));
  return w;
}

std::vector<int64_t> sample_clients(const FlConfig& cfg, int64_t round) {
  const int64_t n = cfg.fl.clients;
  int64_t m = std::max<int64_t>(1, std::llround(cfg.fl.client_fraction * static_cast<double>(n)));
  return Rng(cfg.run.seed, "client_sampling", 0, round).sample_without_replacement(n, m);
}

nlohmann::ordered_json nan_to_null(nlohmann::ordered_json row) {
  for (auto& [k, v] : row.items()) {
    if (v.is_number_float() && std::isnan(v.get<double>())) v = nullptr;
  }
  return row;
}

}  // namespace plexus::fl
