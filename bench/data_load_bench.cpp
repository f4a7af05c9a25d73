// Load time and peak memory of one [data] source, the work `plexus data info` does (read, decode, convert,
// normalize), printed as one JSON line. Compare with bench/cifar_load_reference.py (plain NumPy).
//   build/bench/data_load_bench data.dataset=cifar10 data.path=/tmp/plexus_cifar_synth [data.key=value ...]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "plexus/core/config.h"
#include "plexus/core/error.h"
#include "plexus/data/federated.h"

int main(int argc, char** argv) {
  try {
    toml::table root;
    for (int i = 1; i < argc; ++i) plexus::apply_override(root, argv[i]);
    plexus::ConfigTable t(plexus::section_table(root, "data"), "data");
    const auto o = plexus::data::DataOptions::parse(t);
    const auto t0 = std::chrono::steady_clock::now();
    const auto tt = plexus::data::load_train_test(o, 0);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const nlohmann::json j = {{"impl", "plexus"},
                              {"dataset", o.dataset},
                              {"seconds", secs},
                              {"peak_rss_mib", static_cast<double>(ru.ru_maxrss) / 1024.0},
                              {"train_shape", tt.train.x.sizes().vec()},
                              {"test_shape", tt.test.x.sizes().vec()},
                              {"train_mean", tt.train.x.mean().item<double>()}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", plexus::describe_exception(e).c_str());
    return 1;
  }
}
