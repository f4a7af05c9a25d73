// EMNIST (Cohen, Afshar, Tapson & van Schaik 2017, arXiv 1702.05373) from the IDX files of its "gzip"
// distribution (https://www.nist.gov/itl/products-and-services/emnist-dataset, file gzip.zip):
//   emnist-<split>-train-images-idx3-ubyte.gz, emnist-<split>-train-labels-idx1-ubyte.gz,
//   emnist-<split>-test-images-idx3-ubyte.gz,  emnist-<split>-test-labels-idx1-ubyte.gz   (plain copies work too)
// Splits, their classes and the label range stored in the files (paper Table II):
//   byclass  62 classes  0..61 (digits, upper, lower)   697,932 train / 116,323 test
//   bymerge  47 classes  0..46 (15 similar letters merged) 697,932 / 116,323
//   balanced 47 classes  0..46                          112,800 / 18,800
//   letters  26 classes  1..26 (a/A = 1; no class 0)     124,800 / 20,800   → plexus labels 0..25 (label − 1)
//   digits   10 classes  0..9                           240,000 / 40,000
//   mnist    10 classes  0..9                            60,000 / 10,000
// Orientation: EMNIST stores each 28×28 image transposed relative to MNIST (columns first), so the reader
// transposes it back (x[i][j] = stored[j][i]); then a "1" stands upright as in MNIST.
// The directory is: [data] path, else $PLEXUS_EMNIST, else data/emnist; a directory holding the extracted gzip/
// folder works too. Pixels are returned on the [0,1] scale.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "plexus/data/dataset.h"

namespace plexus::data {

constexpr const char* kEmnistEnv = "PLEXUS_EMNIST";
constexpr const char* kEmnistDefaultDir = "data/emnist";

/// Label layout of one EMNIST split: classes C and the smallest label in the files (1 for letters, else 0).
struct EmnistSplit {
  int64_t classes = 0;
  int64_t first_label = 0;
};

/// The layout of split `name` (byclass, bymerge, balanced, letters, digits, mnist).
/// Throws: Error(Config) on another name, listing the valid ones.
EmnistSplit emnist_split(const std::string& name);

/// Read one EMNIST image/label pair: labels must lie in [first_label, first_label + classes); y = label − first_label;
/// each image is transposed to MNIST orientation.
/// Shapes: images idx3 [n,28,28], labels idx1 [n] → x [n,1,28,28] f32 in [0,1], y [n] i64.
/// Throws: Error(Data) naming the file on a bad IDX file, mismatched counts, a label out of range (naming the
/// sample and the split's range); Error(Io) if unreadable.
Dataset read_emnist_pair(const std::filesystem::path& images, const std::filesystem::path& labels,
                         const EmnistSplit& split, const std::string& name);

/// Load split `split` of EMNIST from `dir` ("" → $PLEXUS_EMNIST, else data/emnist).
/// Throws: Error(Data) naming the missing file, the settings and where EMNIST is published; see read_emnist_pair.
TrainTest load_emnist(const std::string& split, const std::string& dir);

}  // namespace plexus::data
