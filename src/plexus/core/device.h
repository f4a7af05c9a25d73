// Device selection: "cpu", "cuda" or "cuda:N", checked against what this LibTorch build can do.
#pragma once

#include <torch/torch.h>

#include <string>

namespace plexus {

/// Parse and validate a device string. Throws: Error(Config) if malformed, or if CUDA is requested but this
/// build or machine has none (the message says to set device = "cpu" or build against CUDA LibTorch).
torch::Device resolve_device(const std::string& name, const std::string& key = "run.device");

}  // namespace plexus
