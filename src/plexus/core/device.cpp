#include "plexus/core/device.h"

#include "plexus/core/error.h"

namespace plexus {

torch::Device resolve_device(const std::string& name, const std::string& key) {
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw Error::config("{} = \"{}\" but this build or machine has no CUDA; set {}=cpu or build against the "
                          "CUDA LibTorch of PyTorch (see README)", key, name, key);
    }
    try {
      torch::Device d(name);
      if (d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count())) {
        throw Error::config("{} = \"{}\": only {} CUDA device(s) present", key, name, torch::cuda::device_count());
      }
      return d;
    } catch (const c10::Error&) {
      throw Error::config("{} = \"{}\" is not a device; use \"cpu\", \"cuda\" or \"cuda:N\"", key, name);
    }
  }
  throw Error::config("{} = \"{}\" is not a device; use \"cpu\", \"cuda\" or \"cuda:N\"", key, name);
}

}  // namespace plexus
