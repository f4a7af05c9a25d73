#include "plexus/core/run_options.h"

namespace plexus {

const OptionSchema<RunOptions>& RunOptions::schema() {
  static const auto s =
      OptionSchema<RunOptions>("run")
          .key("name", &RunOptions::name,
               "run directory name under `out_dir` (one path component, at most 255 bytes); a fresh run refuses a "
               "directory that already holds results")
          .key("out_dir", &RunOptions::out_dir, "root of run directories")
          .key("seed", &RunOptions::seed, "root of every random stream (the same seed gives the same result)",
               ">= 0")
          .key("device", &RunOptions::device, "`\"cpu\"`, `\"cuda\"` or `\"cuda:N\"` (CUDA needs a CUDA LibTorch build)")
          .key("threads", &RunOptions::threads,
               "CPU threads the run uses (0 = all cores); FL trains one client per thread, LLM runs intra-op "
               "threads; results do not depend on it",
               "[0, 256]")
          .key("tensorboard", &RunOptions::tensorboard,
               "also write the metrics as TensorBoard event files under the run directory (docs/experiments.md)");
  return s;
}

void RunOptions::check_name(const ConfigTable& t, const std::string& name) {
  t.require(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos, "name",
            "must be a non-empty directory name without '/'");
  t.require(name.size() <= kMaxRunNameBytes, "name",
            fmt::format("is {} bytes; a run name is one directory name of at most {} bytes", name.size(),
                        kMaxRunNameBytes));
}

RunOptions RunOptions::parse(ConfigTable& t) {
  auto o = schema().parse(t);
  check_name(t, o.name);
  return o;
}

}  // namespace plexus
