// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv 1708.07747) from IDX files.
//
// Debian ships it in package `dataset-fashion-mnist` under /usr/share/datasets/fashion-mnist as
// train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
// (60000 train + 10000 test 28x28 grey images, 10 classes). Uncompressed copies (no .gz) work too.
// The directory is, in order: the configured path ([data] path / --path), $PLEXUS_FASHION_MNIST, the Debian one.
#pragma once

#include <filesystem>
#include <string>

#include "plexus/data/dataset.h"

namespace plexus::data {

/// Per-pixel mean and standard deviation of the Fashion-MNIST training set on the [0,1] scale.
/// Source: commonly used values (e.g. torchvision examples); x = (v/255 - 0.2860) / 0.3530.
constexpr double kFashionMnistMean = 0.2860;
constexpr double kFashionMnistStd = 0.3530;
constexpr int64_t kFashionMnistClasses = 10;
constexpr int64_t kFashionMnistSide = 28;
/// Default directory (Debian package dataset-fashion-mnist) and the environment variable that overrides it.
constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";
constexpr const char* kFashionMnistEnv = "PLEXUS_FASHION_MNIST";

/// The directory to load Fashion-MNIST from: `configured` if non-empty, else $PLEXUS_FASHION_MNIST if set
/// and non-empty, else kFashionMnistDefaultDir. `source` (optional) receives where it came from, for errors.
std::filesystem::path resolve_fashion_mnist_dir(const std::string& configured, std::string* source = nullptr);

/// Load an image/label IDX pair: images idx3 [n,H,W] u8 and labels idx1 [n] u8 → Dataset with
/// x = (v/255 - mean)/std as float32 [n,1,H,W] and y int64 [n].
/// Throws: Error(Data) on bad files, mismatched counts, image sizes other than `side`x`side` (if side > 0),
/// labels ≥ num_classes or an empty file; Error(Io) if a file cannot be opened.
Dataset load_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels,
                         int64_t num_classes, double mean, double std, int64_t side, const std::string& name);

/// Load Fashion-MNIST train and test sets from `dir` (see resolve_fashion_mnist_dir for ""), normalized as
/// x = (v/255 − mean)/std (mean 0, std 1 gives the raw [0,1] scale).
/// Shapes: train x [60000,1,28,28], test x [10000,1,28,28] (counts are taken from the files).
/// Throws: Error(Data) if a file is missing (naming the Debian package and the path settings), corrupt or
/// truncated.
TrainTest load_fashion_mnist(const std::string& dir = "", double mean = kFashionMnistMean,
                             double std = kFashionMnistStd);

}  // namespace plexus::data
