#include "plexus/data/emnist.h"

#include "plexus/core/error.h"
#include "plexus/data/idx_reader.h"

namespace plexus::data {

namespace fs = std::filesystem;

EmnistSplit emnist_split(const std::string& name) {
  if (name == "byclass") return {62, 0};
  if (name == "bymerge" || name == "balanced") return {47, 0};
  if (name == "letters") return {26, 1};
  if (name == "digits" || name == "mnist") return {10, 0};
  throw Error::config("[data] emnist_split = \"{}\" is not one of byclass, bymerge, balanced, letters, digits, mnist",
                      name);
}

Dataset read_emnist_pair(const fs::path& images, const fs::path& labels, const EmnistSplit& split,
                         const std::string& name) {
  IdxArray im = read_idx(images, 3);
  IdxArray lb = read_idx(labels, 1);
  const int64_t n = im.dims[0], h = im.dims[1], w = im.dims[2];
  if (n == 0) throw Error::data("{}: the image file holds no images", images.string());
  if (lb.dims[0] != n) {
    throw Error::data("{} holds {} images but {} holds {} labels; the two files do not belong together",
                      images.string(), n, labels.string(), lb.dims[0]);
  }
  Dataset d;
  d.y = torch::empty({n}, torch::kLong);
  auto* yp = d.y.data_ptr<int64_t>();
  const int64_t lo = split.first_label, hi = split.first_label + split.classes - 1;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t v = lb.bytes[static_cast<size_t>(j)];
    if (v < lo || v > hi) {
      throw Error::data("{}: label {} of sample {} is outside {}..{} of this EMNIST split ({} classes{}); the file "
                        "belongs to another split (set data.emnist_split) or is corrupt",
                        labels.string(), v, j, lo, hi, split.classes,
                        lo == 1 ? ", letters are labelled 1..26" : "");
    }
    yp[j] = v - lo;
  }
  // Stored transposed: [n, w, h] in memory order → swap the two image axes back.
  auto raw = torch::from_blob(im.bytes.data(), {n, 1, h, w}, torch::kUInt8);
  d.x = raw.transpose(2, 3).to(torch::kFloat).contiguous().div_(255.0);
  d.num_classes = split.classes;
  d.name = name;
  return d;
}

TrainTest load_emnist(const std::string& split_name, const std::string& dir_in) {
  const EmnistSplit split = emnist_split(split_name);
  std::string source;
  fs::path dir = resolve_data_path(dir_in, kEmnistEnv, kEmnistDefaultDir, &source);
  std::error_code ec;
  if (fs::is_directory(dir / "gzip", ec)) dir /= "gzip";  // the extracted gzip.zip keeps its folder
  auto find = [&](const std::string& base) {
    for (const auto& f : {base + ".gz", base}) {
      if (fs::is_regular_file(dir / f, ec)) return dir / f;
    }
    throw Error::data("EMNIST not found: no {}[.gz] in {} ({}); download gzip.zip from "
                      "https://www.nist.gov/itl/products-and-services/emnist-dataset, unzip it and point [data] path "
                      "(--path) or ${} at its gzip/ folder",
                      base, dir.string(), source, kEmnistEnv);
  };
  const std::string p = "emnist-" + split_name + "-";
  const auto tr_im = find(p + "train-images-idx3-ubyte"), tr_lb = find(p + "train-labels-idx1-ubyte");
  const auto te_im = find(p + "test-images-idx3-ubyte"), te_lb = find(p + "test-labels-idx1-ubyte");
  TrainTest tt;
  tt.train = read_emnist_pair(tr_im, tr_lb, split, "emnist_" + split_name + "/train");
  tt.test = read_emnist_pair(te_im, te_lb, split, "emnist_" + split_name + "/test");
  return tt;
}

}  // namespace plexus::data
