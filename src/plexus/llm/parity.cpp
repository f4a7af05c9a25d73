// Parity with the eager PyTorch reference: load a bench/llm_parity.py dump, run plexus, compare. See parity.h.
#include "plexus/llm/parity.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>

#include "plexus/core/error.h"
#include "plexus/llm/model.h"

namespace plexus::llm {

namespace fs = std::filesystem;

namespace {

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error::io("cannot open '{}' (write it with bench/llm_parity.py --out {})", p.string(),
                          p.parent_path().string());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

torch::Tensor need(const std::map<std::string, torch::Tensor>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw Error::data("parity dump has no tensor '{}' (regenerate it with bench/llm_parity.py)", key);
  return it->second;
}

std::string shape(const torch::Tensor& t) {
  std::ostringstream o;
  o << t.sizes();
  return o.str();
}

ParityDiff diff(const std::string& name, const torch::Tensor& plexus, const torch::Tensor& ref, ParityTolerance t) {
  auto a = plexus.detach().to(torch::kCPU, torch::kFloat64), b = ref.to(torch::kFloat64);
  if (a.sizes() != b.sizes())
    throw Error::data("parity: '{}' has shape {} in plexus and {} in the dump", name, shape(a), shape(b));
  ParityDiff d;
  d.name = name;
  d.max_abs = a.numel() ? (a - b).abs().max().item<double>() : 0.0;
  d.scale = b.numel() ? b.abs().max().item<double>() : 0.0;
  if (!std::isfinite(d.max_abs)) d.max_abs = std::numeric_limits<double>::infinity();  // NaN never passes
  d.tol = t.atol + t.rtol * d.scale;
  return d;
}

}  // namespace

ParityDump load_parity_dump(const fs::path& dir) {
  ParityDump d;
  d.args = load_model_args(dir / "model.toml");
  auto meta_bytes = read_bytes(dir / "meta.json");
  try {
    auto meta = nlohmann::json::parse(meta_bytes.begin(), meta_bytes.end());
    d.device = meta.at("device").get<std::string>();
    d.dtype = meta.at("dtype").get<std::string>();
    d.routing_margin = meta.at("routing_margin").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw Error::data("'{}': {}", (dir / "meta.json").string(), e.what());
  }
  if ((d.device != "cpu" && d.device != "cuda") || (d.dtype != "f32" && d.dtype != "bf16"))
    throw Error::data("'{}': device '{}' / dtype '{}' (expected cpu|cuda and f32|bf16)",
                      (dir / "meta.json").string(), d.device, d.dtype);
  const auto file = dir / "parity.pt";
  auto bytes = read_bytes(file);
  try {
    auto dict = torch::pickle_load(bytes).toGenericDict();  // torch.save'd dict (zip format)
    for (const auto& kv : dict) d.tensors[kv.key().toStringRef()] = kv.value().toTensor();
  } catch (const std::exception& e) {  // c10::Error and the TorchScript parser's errors
    throw Error::data("cannot read '{}' as a torch.save'd dict of tensors: {}", file.string(),
                      std::string(e.what()).substr(0, 200));
  }
  return d;
}

// Tolerances (rule in parity.h: max|a−b| ≤ atol + rtol·max|b|, per tensor):
// - cpu f32: both sides run the same f32 kernels (Debian's LibTorch 1.13 and its python3-torch); what differs
//   is the order of a few reductions (e.g. the MoE scatter-add, the gradient sums of the expanded k_pe and of
//   the shared embedding/head). f32 rounds at 6e-8; the deepest chain (2 blocks + the MTP block, then backward)
//   accumulates some hundred roundings. Measured: bitwise equal (docs/llm.md); 1e-5 of the tensor's scale leaves
//   room for other thread counts' reduction splits; 1e-7 absolute only matters for the balance loss (~2e-4).
// - cuda f32: other kernels on each side (cuBLAS algorithms, fused SDPA in plexus, atomic index_add order).
//   The reference on CUDA vs itself on the CPU differs by 4e-7 (logits) and 1.1e-6 (gradients) of scale; 1e-4
//   leaves ~100× for plexus's different kernels. TF32 is off on both sides (PyTorch's default for matmuls).
// - cuda bf16: every projection rounds to bf16 (unit roundoff 3.9e-3) on both sides, not always at the same
//   points (fused attention, grouped expert GEMMs). The reference in bf16 autocast vs itself in f32 differs by
//   0.9% (logits), 0.013% (loss terms) and 2.9% (gradients) of scale, measured on an H200 at the bf16 dump's
//   shapes; two bf16 runs can differ by up to twice that: 3e-2, 5e-3 and 1e-1.
ParityTolerance parity_tolerance(const std::string& device, const std::string& dtype, ParityQuantity q) {
  if (dtype == "bf16") {
    const double rtol = q == ParityQuantity::Logits ? 3e-2 : q == ParityQuantity::Loss ? 5e-3 : 1e-1;
    return {rtol, 1e-5};
  }
  if (device == "cuda") return {1e-4, 1e-6};
  return {1e-5, 1e-7};
}

bool ParityReport::routing_equal() const {
  if (plexus_load.size() != reference_load.size()) return false;
  for (size_t i = 0; i < plexus_load.size(); ++i)
    if (!torch::equal(plexus_load[i].to(torch::kCPU, torch::kFloat64), reference_load[i].to(torch::kFloat64)))
      return false;
  return true;
}

bool ParityReport::ok() const {
  return routing_equal() && std::all_of(diffs.begin(), diffs.end(), [](const ParityDiff& d) { return d.ok(); });
}

const ParityDiff& ParityReport::worst(const std::string& prefix) const {
  const ParityDiff* w = nullptr;
  for (const auto& d : diffs)
    if (d.name.rfind(prefix, 0) == 0 && (!w || d.rel() > w->rel())) w = &d;
  PLEXUS_CHECK(w != nullptr, "no parity quantity starts with '{}'", prefix);
  return *w;
}

ParityReport run_parity(const ParityDump& dump) {
  torch::Device dev(torch::kCPU);
  if (dump.device == "cuda") {
    if (!torch::cuda::is_available()) throw Error::infeasible("parity dump was written on CUDA; no CUDA device here");
    dev = torch::Device(torch::kCUDA);
  }
  Transformer model(dump.args);
  // Every plexus tensor from the dump, and nothing in the dump that plexus lacks.
  std::set<std::string> used;
  {
    torch::NoGradGuard ng;
    auto load = [&](const std::string& key, torch::Tensor& t) {
      auto v = need(dump.tensors, key);
      if (v.sizes() != t.sizes())
        throw Error::data("parity dump '{}' has shape {}, plexus {}", key, shape(v), shape(t));
      t.copy_(v);
      used.insert(key);
    };
    for (auto& p : model->named_parameters()) load("param." + p.key(), p.value());
    for (auto& b : model->named_buffers()) load("buffer." + b.key(), b.value());
  }
  for (const auto& [key, t] : dump.tensors)
    if ((key.rfind("param.", 0) == 0 || key.rfind("buffer.", 0) == 0) && !used.count(key))
      throw Error::data("parity dump has '{}', which plexus's model does not have (a naming mismatch)", key);
  model->to(dev);
  model->set_compute_dtype(dump.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);

  auto tokens = need(dump.tensors, "tokens").to(dev, torch::kInt64);
  const auto T = tokens.size(1) - 1;
  auto inputs = tokens.narrow(1, 0, T).contiguous(), targets = tokens.narrow(1, 1, T).contiguous();
  model->train();
  model->zero_grad();
  auto moe = model->moe_layers();
  for (auto& m : moe) m->take_load();  // start from zero
  auto parts = model->loss(inputs, targets);
  parts.total.backward();

  ParityReport r;
  for (size_t i = 0; i < moe.size(); ++i) {
    r.plexus_load.push_back(moe[i]->take_load().to(torch::kCPU));
    r.reference_load.push_back(need(dump.tensors, "load." + std::to_string(i)));
  }
  if (dump.tensors.count("load." + std::to_string(moe.size())))
    throw Error::data("parity dump has more MoE layers than plexus's {}", moe.size());
  torch::Tensor logits;
  {
    torch::NoGradGuard ng;
    model->eval();
    logits = model->forward(inputs);
  }
  auto tol = [&](ParityQuantity q) { return parity_tolerance(dump.device, dump.dtype, q); };
  r.diffs.push_back(diff("logits", logits, need(dump.tensors, "logits"), tol(ParityQuantity::Logits)));
  const std::pair<const char*, torch::Tensor> losses[] = {
      {"loss.total", parts.total}, {"loss.main", parts.main}, {"loss.mtp", parts.mtp}, {"loss.balance", parts.balance}};
  for (const auto& [name, value] : losses)
    r.diffs.push_back(diff(name, value, need(dump.tensors, name), tol(ParityQuantity::Loss)));
  const auto tg = tol(ParityQuantity::Gradient);
  for (auto& p : model->named_parameters()) {
    auto g = p.value().grad();
    if (!g.defined()) g = torch::zeros_like(p.value());  // an expert no token reached
    r.diffs.push_back(diff("grad." + p.key(), g, need(dump.tensors, "grad." + p.key()), tg));
  }
  return r;
}

}  // namespace plexus::llm
