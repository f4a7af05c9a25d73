// See kineto_trace.h. Uses torch/csrc/autograd/profiler_kineto.h (present in LibTorch 1.13 and 2.x with the same
// prepare/enable/disable calls that torch.profiler.profile makes from Python).
#include "kineto_trace.h"

#include <set>
#include <stdexcept>
#include <torch/csrc/autograd/profiler_kineto.h>

namespace plexus::bench {

namespace {
torch::profiler::impl::ProfilerConfig config() {
  return torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::KINETO);
}
}  // namespace

void trace_start(bool cuda) {
  std::set<torch::profiler::impl::ActivityType> acts{torch::profiler::impl::ActivityType::CPU};
  if (cuda) acts.insert(torch::profiler::impl::ActivityType::CUDA);
  torch::autograd::profiler::prepareProfiler(config(), acts);
  torch::autograd::profiler::enableProfiler(config(), acts);
}

void trace_stop(const std::string& path) {
  try {
    torch::autograd::profiler::disableProfiler()->save(path);
  } catch (const c10::Error&) {
    throw std::runtime_error("--profile needs a LibTorch built with Kineto (PyTorch's wheels are, Debian's "
                             "libtorch is not): run it against the GPU machine's LibTorch");
  }
}

}  // namespace plexus::bench
