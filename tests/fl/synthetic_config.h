// Shared by the FL end-to-end tests: a small, fast run config on the learnable synthetic task (6 clients,
// 600 training samples in 4 classes of [1,4,4] images, an MLP with 16 hidden units), writing its run
// directory under a per-process temporary folder. Each test adds the tables and overrides it needs.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "plexus/core/config.h"

namespace plexus::test {

/// Per-process temporary root for run directories (emptied and created on first use in this process: pids wrap
/// around, and a finished test process of the same pid may have left run directories there).
inline std::filesystem::path temp_root(const std::string& tag) {
  auto p = std::filesystem::temp_directory_path() / fmt::format("plexus_{}_test_{}", tag, ::getpid());
  static std::mutex mutex;
  static std::set<std::string> fresh;  // tags already emptied by this process
  std::lock_guard<std::mutex> lock(mutex);
  if (fresh.insert(tag).second) std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

/// The base config plus `extra_toml` (more tables), with fl.algorithm, run.name and run.out_dir set.
inline toml::table synthetic_config(const std::string& algorithm, const std::string& name, const std::string& tag,
                                    const std::string& extra_toml = "") {
  auto root = parse_toml(R"(
[run]
seed = 3
threads = 2
[data]
dataset = "synthetic"
synthetic_train = 600
synthetic_test = 300
synthetic_classes = 4
synthetic_dim = 4
synthetic_noise = 1.0
partition = "dirichlet"
dirichlet_alpha = 1.0
[model]
name = "mlp"
hidden = [16]
[fl]
clients = 6
rounds = 6
client_fraction = 0.5
[train]
batch_size = 16
local_steps = 5
lr = 0.1
lr_decay = 1.0
)" + extra_toml);
  apply_override(root, "fl.algorithm=" + algorithm);
  apply_override(root, "run.name=" + name);
  apply_override(root, "run.out_dir=\"" + temp_root(tag).string() + "\"");
  return root;
}

}  // namespace plexus::test
