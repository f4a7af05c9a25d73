#include "plexus/bbpt/shift.h"

#include "plexus/core/error.h"

namespace plexus::bbpt {

namespace {

// Per-channel statistics as [1,C,1,1] tensors; identity when the data set was not normalised.
std::pair<torch::Tensor, torch::Tensor> stats(const data::Dataset& s) {
  const int64_t c = s.x.size(1);
  auto mean = torch::zeros({1, c, 1, 1}), stdv = torch::ones({1, c, 1, 1});
  if (!s.mean.empty()) {
    for (int64_t i = 0; i < c; ++i) {
      mean[0][i] = s.mean.size() == 1 ? s.mean[0] : s.mean.at(i);
      stdv[0][i] = s.std.size() == 1 ? s.std[0] : s.std.at(i);
    }
  }
  return {mean.to(s.x.device()), stdv.to(s.x.device())};
}

void shift_split(data::Dataset& s, const std::string& shift) {
  if (shift == "none" || s.size() == 0) return;
  if (shift == "relabel") {
    s.y = (s.y + 1).remainder(s.num_classes);
    return;
  }
  auto [mean, stdv] = stats(s);
  auto v = s.x * stdv + mean;  // [n,C,H,W] on the [0,1] scale
  if (shift == "invert") {
    v = 1.0 - v;
  } else if (shift == "low_contrast") {
    v = 0.5 + 0.25 * (v - 0.5);
  } else if (shift == "rotate") {
    if (v.size(2) != v.size(3)) {
      throw Error::config("[bbpt] shift = \"rotate\" needs square images, not {}x{} (use another bbpt.shift)",
                          v.size(2), v.size(3));
    }
    v = torch::rot90(v, 1, {2, 3});
  } else {
    throw Error::config("[bbpt] shift = \"{}\" is not one of none, invert, low_contrast, rotate, relabel", shift);
  }
  s.x = ((v - mean) / stdv).contiguous();
}

}  // namespace

void apply_shift(data::FederatedData& d, const std::string& shift) {
  shift_split(d.train, shift);
  shift_split(d.test, shift);
  if (shift != "none") {
    d.train.name += "+" + shift;
    d.test.name += "+" + shift;
  }
}

}  // namespace plexus::bbpt
