#include "plexus/fl/run_support.h"

#include <cmath>
#include <sstream>
#include <thread>

#include "plexus/core/rng.h"

namespace plexus::fl {

namespace fs = std::filesystem;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Text of one TOML value (for comparing two configs key by key).
static std::string node_text(const toml::node* n) {
  if (!n) return "<absent>";
  std::stringstream ss;
  n->visit([&](auto&& v) { ss << v; });
  return ss.str();
}

static void check_resume_config(const FlConfig& cfg, const fs::path& saved_path) {
  auto saved = load_toml(saved_path);
  for (const auto& [section, table] : cfg.resolved) {
    const auto* now = table.as_table();
    const auto* was = saved[section.str()].as_table();
    std::vector<std::string> keys;
    for (const auto& [k, v] : *now) keys.emplace_back(k.str());
    if (was) for (const auto& [k, v] : *was) keys.emplace_back(k.str());
    for (const auto& key : keys) {
      if (section.str() == "fl" && key == "rounds") continue;  // the one key a resume may change
      std::string a = node_text(was ? was->get(key) : nullptr), b = node_text(now->get(key));
      if (a != b) {
        throw Error::config("--resume: {}.{} = {} but the run was started with {}; resume with the same config "
                            "(only fl.rounds may change) or start a new run.name", section.str(), key, b, a);
      }
    }
  }
}

RunDir open_run(const FlConfig& cfg, bool resume, fs::path& checkpoint) {
  RunDir dir(cfg.run.out_dir, cfg.run.name, resume);
  checkpoint.clear();
  if (resume) {
    checkpoint = latest_checkpoint(dir.checkpoints());
    if (checkpoint.empty()) throw Error::config("--resume: no checkpoint in '{}'", dir.checkpoints().string());
    check_resume_config(cfg, dir.path() / "config.toml");
  }
  dir.write_config(cfg.resolved);
  return dir;
}

int64_t setup_workers(const RunOptions& run, torch::Device device, bool batched) {
  if (device.is_cuda()) return 1;
  const int64_t threads = run.threads > 0 ? run.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (batched) {
    // One batched computation over all clients: the cores work inside each op (intra-op threads).
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

void save_round_checkpoint(const RunDir& dir, const Checkpoint& ck, int64_t round, int64_t keep) {
  save_checkpoint(dir.checkpoints() / fmt::format("round_{}.pt", round), ck);
  // Retention: older checkpoints are deleted only after the new one is safely renamed into place.
  std::vector<std::pair<int64_t, fs::path>> found;
  for (const auto& e : fs::directory_iterator(dir.checkpoints())) {
    auto name = e.path().filename().string();
    if (name.rfind("round_", 0) == 0 && e.path().extension() == ".pt") {
      found.push_back({std::stoll(name.substr(6)), e.path()});
    }
  }
  std::sort(found.rbegin(), found.rend());
  for (std::size_t k = static_cast<std::size_t>(keep); k < found.size(); ++k) fs::remove(found[k].second);
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
