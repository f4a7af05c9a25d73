#include "plexus/data/npz_dataset.h"

#include <algorithm>

#include "plexus/core/error.h"

namespace plexus::data {

namespace fs = std::filesystem;

namespace {

bool is_integer(const std::string& descr) {
  const auto t = descr.substr(1);
  return t == "u1" || t == "i1" || t == "i2" || t == "i4" || t == "i8" || t == "u2" || t == "u4" || t == "u8";
}

int64_t max_label(const NpyArray& y, const std::string& name) {
  if (!is_integer(y.descr)) {
    throw Error::data("{}: labels y have dtype '{}'; they must be integers (e.g. y.astype(numpy.int64))", name,
                      y.descr);
  }
  if (y.shape.size() != 1) {
    throw Error::data("{}: labels y have {} dimensions; they must be a vector [N]", name, y.shape.size());
  }
  auto t = y.to_tensor().to(torch::kLong);
  if (t.numel() == 0) return -1;
  const int64_t lo = t.min().item<int64_t>();
  if (lo < 0) throw Error::data("{}: label {} is negative; labels must be 0..C-1", name, lo);
  return t.max().item<int64_t>();
}

const NpyArray& member(const std::map<std::string, NpyArray>& m, const std::string& key, const fs::path& file) {
  auto it = m.find(key);
  if (it == m.end()) {
    std::string have;
    for (const auto& [k, v] : m) have += (have.empty() ? "" : ", ") + k;
    throw Error::data("{}: no array '{}' (it holds: {}); see docs/data.md for the expected names", file.string(), key,
                      have.empty() ? "nothing" : have);
  }
  return it->second;
}

}  // namespace

Dataset dataset_from_arrays(const NpyArray& x, const NpyArray& y, int64_t num_classes, const std::string& name,
                            const std::string& where) {
  const std::string xt = x.descr.substr(1);
  if (xt != "u1" && xt != "f4") {
    throw Error::data("{}: images x have dtype '{}'; use uint8 (0..255) or float32 (x.astype(numpy.float32))", where,
                      x.descr);
  }
  if (x.shape.size() != 3 && x.shape.size() != 4) {
    throw Error::data("{}: images x have {} dimensions; expected [N,H,W] or [N,H,W,C]", where, x.shape.size());
  }
  max_label(y, where);  // dtype, rank and sign checks
  const int64_t n = x.shape[0];
  if (y.shape[0] != n) throw Error::data("{}: x holds {} images but y holds {} labels; save x and y with one row per sample", where, n,
                      y.shape[0]);
  if (n == 0) throw Error::data("{}: the arrays are empty", where);
  Dataset d;
  auto t = x.to_tensor();
  if (t.dim() == 3) t = t.unsqueeze(3);  // [N,H,W] → [N,H,W,1]
  d.x = t.permute({0, 3, 1, 2}).to(torch::kFloat).contiguous();  // NHWC → NCHW
  if (xt == "u1") d.x.div_(255.0);
  if (!torch::isfinite(d.x).all().item<bool>()) throw Error::data("{}: images x contain NaN or infinite values", where);
  d.y = y.to_tensor().to(torch::kLong).contiguous();
  const int64_t hi = d.y.max().item<int64_t>();
  if (hi >= num_classes) throw Error::data("{}: label {} is outside [0, {})", where, hi, num_classes);
  d.num_classes = num_classes;
  d.name = name;
  return d;
}

TrainTest load_npz_dataset(const std::string& configured) {
  std::string source;
  const fs::path p = resolve_data_path(configured, kNpzEnv, kNpzDefaultPath, &source);
  std::error_code ec;
  NpyArray xtr, ytr, xte, yte;
  if (fs::is_regular_file(p, ec)) {
    auto m = read_npz(p);
    xtr = member(m, "x_train", p), ytr = member(m, "y_train", p);
    xte = member(m, "x_test", p), yte = member(m, "y_test", p);
  } else if (fs::is_regular_file(p / "train.npz", ec) && fs::is_regular_file(p / "test.npz", ec)) {
    auto tr = read_npz(p / "train.npz"), te = read_npz(p / "test.npz");
    xtr = member(tr, "x", p / "train.npz"), ytr = member(tr, "y", p / "train.npz");
    xte = member(te, "x", p / "test.npz"), yte = member(te, "y", p / "test.npz");
  } else if (fs::is_regular_file(p / "x_train.npy", ec)) {
    for (const char* f : {"y_train.npy", "x_test.npy", "y_test.npy"}) {
      if (!fs::is_regular_file(p / f, ec)) throw Error::data("{}: has x_train.npy but no {}", p.string(), f);
    }
    xtr = read_npy(p / "x_train.npy"), ytr = read_npy(p / "y_train.npy");
    xte = read_npy(p / "x_test.npy"), yte = read_npy(p / "y_test.npy");
  } else {
    throw Error::data("NumPy data set not found at {} ({}): expected an .npz file with x_train, y_train, x_test, "
                      "y_test, or a directory with train.npz and test.npz (x, y each) or with x_train.npy, "
                      "y_train.npy, x_test.npy, y_test.npy; write them with numpy.savez",
                      p.string(), source);
  }
  const int64_t classes = std::max(max_label(ytr, p.string() + " (train)"), max_label(yte, p.string() + " (test)")) + 1;
  TrainTest tt;
  tt.train = dataset_from_arrays(xtr, ytr, classes, "npz/train", p.string() + " (train)");
  tt.test = dataset_from_arrays(xte, yte, classes, "npz/test", p.string() + " (test)");
  if (tt.train.x.sizes().slice(1) != tt.test.x.sizes().slice(1)) {
    throw Error::data("{}: train images are {} but test images are {}; both need the same [H,W,C]", p.string(),
                      shape_text(tt.train.x), shape_text(tt.test.x));
  }
  return tt;
}

}  // namespace plexus::data
