// Parity with the eager PyTorch reference (issue 19): plexus's logits, loss terms, gradients and routing at
// the weights and batch of a state dump written by bench/llm_parity.py (bench/llm_reference.py's model).
//
// A dump directory holds parity.pt (torch.save of a dict of CPU tensors: param.<name>, buffer.<name> and
// grad.<name> under plexus's parameter names, tokens [B,T+1], logits [B,T,V], loss.{total,main,mtp,balance},
// load.<i> per MoE layer), model.toml (the [model] table) and meta.json (device, dtype, seed, routing margin).
// Both sides compute L = CE_main + L_MTP + Σ L_Bal and differentiate it; see docs/llm.md#parity-with-the-reference.
//
// The comparison rule for a quantity with reference b and plexus a (one tensor or a scalar):
//   max|a − b| ≤ atol + rtol · max|b|
// i.e. the error relative to the tensor's own scale (elementwise relative error is meaningless for entries that
// cancel to ~0, e.g. gradients of rarely used embedding rows); atol only matters for tensors that are ~0.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "plexus/llm/config.h"

namespace plexus::llm {

/// A reference state dump (bench/llm_parity.py --out DIR).
struct ParityDump {
  ModelArgs args;                                ///< model.toml
  std::string device = "cpu";                    ///< "cpu" | "cuda": where the reference ran (plexus runs there too)
  std::string dtype = "f32";                     ///< "f32" | "bf16" (autocast on the reference side)
  double routing_margin = 0;                     ///< smallest top-k gap of the reference's gates
  std::map<std::string, torch::Tensor> tensors;  ///< everything in parity.pt, on the CPU
};

/// Read a dump directory. Throws: Error(Io) for a missing file, Error(Data) for a file LibTorch cannot read,
/// a value that is not a tensor, or a missing/invalid meta.json key; Error(Config) as load_model_args.
ParityDump load_parity_dump(const std::filesystem::path& dir);

/// What is compared: the logits, a loss term, or a parameter's gradient.
enum class ParityQuantity { Logits, Loss, Gradient };

/// The tolerance for one device ("cpu"/"cuda"), dtype ("f32"/"bf16") and quantity; parity.cpp gives the reasons.
struct ParityTolerance {
  double rtol = 0;  ///< relative to max|reference|
  double atol = 0;  ///< absolute floor
};
ParityTolerance parity_tolerance(const std::string& device, const std::string& dtype, ParityQuantity q);

/// One compared quantity.
struct ParityDiff {
  std::string name;      ///< "logits", "loss.main", "grad.layers.1.ffn.gate.weight", …
  double max_abs = 0;    ///< max|a − b|
  double scale = 0;      ///< max|b|
  double tol = 0;        ///< atol + rtol·scale
  bool ok() const { return max_abs <= tol; }
  double rel() const { return scale > 0 ? max_abs / scale : max_abs; }
};

/// Everything plexus computed on a dump, compared with the reference's values.
struct ParityReport {
  std::vector<ParityDiff> diffs;                 ///< logits, the four loss terms, one per parameter gradient
  std::vector<torch::Tensor> plexus_load, reference_load;  ///< [E] f64 per MoE layer (main, then MTP)
  bool routing_equal() const;                    ///< every layer's expert loads identical
  bool ok() const;                               ///< routing equal and every diff within its tolerance
  const ParityDiff& worst(const std::string& prefix) const;  ///< largest rel() among names starting with prefix
};

/// Build plexus's model from the dump (every parameter and gate bias copied in, names and shapes checked both
/// ways), run loss() + backward on the dump's batch in training mode and forward() for the logits, on the
/// dump's device in its dtype (bf16: set_compute_dtype(kBFloat16)), and compare.
/// Throws: Error(Data) naming a tensor the dump lacks, has in excess or shapes differently;
/// Error(Infeasible) for a CUDA dump without a CUDA device.
ParityReport run_parity(const ParityDump& dump);

}  // namespace plexus::llm
