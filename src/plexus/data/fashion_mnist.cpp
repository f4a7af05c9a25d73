#include "plexus/data/fashion_mnist.h"

#include <cstdlib>

#include "plexus/core/error.h"
#include "plexus/data/idx_reader.h"

namespace plexus::data {
namespace {

// Prefer the .gz name (Debian's), fall back to the uncompressed one.
std::filesystem::path find_file(const std::filesystem::path& dir, const std::string& base, const std::string& source) {
  std::error_code ec;
  for (const auto& name : {base + ".gz", base}) {
    if (std::filesystem::is_regular_file(dir / name, ec)) return dir / name;
  }
  throw Error::data(
      "Fashion-MNIST not found: no {}[.gz] in {} ({}); install the Debian package dataset-fashion-mnist "
      "(apt-get install dataset-fashion-mnist), or set [data] path (--path) or ${} to a directory holding the "
      "4 IDX files",
      base, dir.string(), source, kFashionMnistEnv);
}

}  // namespace

std::filesystem::path resolve_fashion_mnist_dir(const std::string& configured, std::string* source) {
  if (!configured.empty()) {
    if (source) *source = "from [data] path";
    return configured;
  }
  const char* env = std::getenv(kFashionMnistEnv);
  if (env && *env) {
    if (source) *source = std::string("from $") + kFashionMnistEnv;
    return env;
  }
  if (source) *source = "the default";
  return kFashionMnistDefaultDir;
}

Dataset load_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels,
                         int64_t num_classes, double mean, double std, int64_t side, const std::string& name) {
  IdxArray im = read_idx(images, 3);
  IdxArray lb = read_idx(labels, 1);
  const int64_t n = im.dims[0], h = im.dims[1], w = im.dims[2];
  if (n == 0) throw Error::data("{}: the image file holds no images", images.string());
  if (lb.dims[0] != n) {
    throw Error::data("{} holds {} images but {} holds {} labels; the two files do not belong together",
                      images.string(), n, labels.string(), lb.dims[0]);
  }
  if (side > 0 && (h != side || w != side)) {
    throw Error::data("{}: images are {}x{}, expected {}x{} for {}", images.string(), h, w, side, side, name);
  }
  for (int64_t j = 0; j < n; ++j) {
    if (lb.bytes[static_cast<size_t>(j)] >= num_classes) {
      throw Error::data("{}: label {} of sample {} is not in [0, {})", labels.string(),
                        lb.bytes[static_cast<size_t>(j)], j, num_classes);
    }
  }
  Dataset d;
  // from_blob does not copy; .to(kFloat) makes the owned copy before `im` goes out of scope.
  auto raw = torch::from_blob(im.bytes.data(), {n, 1, h, w}, torch::kUInt8);
  d.x = raw.to(torch::kFloat).mul_(static_cast<float>(1.0 / (255.0 * std))).sub_(static_cast<float>(mean / std));
  d.y = torch::from_blob(lb.bytes.data(), {n}, torch::kUInt8).to(torch::kLong);
  d.num_classes = num_classes;
  d.name = name;
  return d;
}

TrainTest load_fashion_mnist(const std::string& dir_in, double mean, double std) {
  std::string source;
  const auto dir = resolve_fashion_mnist_dir(dir_in, &source);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error::data(
        "Fashion-MNIST directory {} ({}) does not exist; install the Debian package dataset-fashion-mnist "
        "(apt-get install dataset-fashion-mnist), or set [data] path (--path) or ${} to a directory holding the "
        "4 IDX files",
        dir.string(), source, kFashionMnistEnv);
  }
  const auto tr_im = find_file(dir, "train-images-idx3-ubyte", source);
  const auto tr_lb = find_file(dir, "train-labels-idx1-ubyte", source);
  const auto te_im = find_file(dir, "t10k-images-idx3-ubyte", source);
  const auto te_lb = find_file(dir, "t10k-labels-idx1-ubyte", source);
  TrainTest out;
  out.train = load_idx_dataset(tr_im, tr_lb, kFashionMnistClasses, mean, std, kFashionMnistSide,
                               "fashion_mnist/train");
  out.test = load_idx_dataset(te_im, te_lb, kFashionMnistClasses, mean, std, kFashionMnistSide,
                              "fashion_mnist/test");
  return out;
}

}  // namespace plexus::data
