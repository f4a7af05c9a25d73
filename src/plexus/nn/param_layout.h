// ParamLayout: where each parameter tensor of a model lives inside one flat row of P numbers.
//
// Letters (fixed for nn/ and fl/): N clients, P parameters per model. The federation keeps all N clients'
// parameters in one tensor X [N,P] (llm.c's "one allocation, pointed into" idea with a client dimension).
// A model is *bound* to a row: its parameters become views of X[i] and its gradients views of a flat
// gradient row G [P], so local training updates X in place and every optimizer step is a flat vector
// operation. Columns are tagged shared or personal (partial-model personalization communicates only
// shared columns).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace plexus::nn {

/// One parameter tensor's place in the flat row.
struct ParamEntry {
  std::string name;            ///< as in Module::named_parameters(), e.g. "conv1.weight"
  std::vector<int64_t> shape;  ///< tensor shape
  int64_t offset = 0;          ///< first column in the row
  int64_t numel = 0;           ///< number of columns
  bool personal = false;       ///< true: never communicated (partial personalization)
};

/// A half-open column range [begin, end) of the flat row.
using ColumnRange = std::pair<int64_t, int64_t>;

class ParamLayout {
 public:
  ParamLayout() = default;

  /// Layout of `module`'s parameters in named_parameters() order. A parameter is personal when its name
  /// starts with one of `personal_prefixes` (e.g. {"output_layer"}).
  /// Throws: Error(Config) if a prefix matches no parameter (a misspelled head name), Error(Internal) if the
  /// module has buffers (their averaging would be unspecified; plexus models use GroupNorm).
  static ParamLayout of(const torch::nn::Module& module, const std::vector<std::string>& personal_prefixes = {});

  int64_t size() const { return size_; }  ///< P
  const std::vector<ParamEntry>& entries() const { return entries_; }

  /// The module's current parameter values as one row. Shapes: → [P] (module dtype/device).
  torch::Tensor flatten(const torch::nn::Module& module) const;

  /// Make `module`'s parameters views of `row` [P] and their gradients views of `grad_row` [P] (both
  /// contiguous, same dtype/device as each other). Autograd then accumulates into `grad_row` in place.
  /// Source: docs/design.md "Stacked federation state".
  void bind(torch::nn::Module& module, const torch::Tensor& row, const torch::Tensor& grad_row) const;

  /// Column ranges of shared / personal parameters (adjacent entries merged) and of every tensor.
  std::vector<ColumnRange> shared_ranges() const;
  std::vector<ColumnRange> personal_ranges() const;
  std::vector<ColumnRange> all_ranges() const { return {{0, size_}}; }
  std::vector<ColumnRange> tensor_ranges() const;
  int64_t shared_size() const;

 private:
  std::vector<ColumnRange> ranges_where(bool personal) const;
  std::vector<ParamEntry> entries_;
  int64_t size_ = 0;
};

}  // namespace plexus::nn
