// CIFAR-10 and CIFAR-100 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images") from the
// "binary version" files published at https://www.cs.toronto.edu/~kriz/cifar.html.
//
// Record layout (the page's documentation):
//   CIFAR-10:  <1 × label byte 0..9> <3072 pixel bytes>                       (3073 bytes)
//   CIFAR-100: <1 × coarse label 0..19> <1 × fine label 0..99> <3072 pixel bytes>   (3074 bytes)
// The 3072 pixels are the red, then green, then blue 32×32 plane, each row-major, so a record maps straight to
// [3, 32, 32]. Files (no header, records back to back):
//   cifar-10-batches-bin/  data_batch_1.bin … data_batch_5.bin (10000 records each), test_batch.bin (10000)
//   cifar-100-binary/      train.bin (50000), test.bin (10000)
// The directory is: [data] path, else $PLEXUS_CIFAR10 / $PLEXUS_CIFAR100, else data/cifar-10-batches-bin /
// data/cifar-100-binary (relative to the working directory); a directory that holds the extracted folder works
// too. Pixels are returned on the [0,1] scale (v/255); normalization is the caller's (see kCifar10Mean).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plexus/data/dataset.h"

namespace plexus::data {

constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;  // 3072 bytes per image
/// Per-channel mean/std of the CIFAR-10 / CIFAR-100 training sets on the [0,1] scale.
/// Source: DisPFL / DP-FedSAM / DFedPGP `fedml_api/data_preprocessing/cifar10|cifar100/data_loader.py`
/// (CIFAR_MEAN, CIFAR_STD), the values torchvision examples use.
constexpr std::array<double, 3> kCifar10Mean = {0.49139968, 0.48215827, 0.44653124};
constexpr std::array<double, 3> kCifar10Std = {0.24703233, 0.24348505, 0.26158768};
constexpr std::array<double, 3> kCifar100Mean = {0.5071, 0.4865, 0.4409};
constexpr std::array<double, 3> kCifar100Std = {0.2673, 0.2564, 0.2762};
constexpr const char* kCifar10Env = "PLEXUS_CIFAR10";
constexpr const char* kCifar100Env = "PLEXUS_CIFAR100";
constexpr const char* kCifar10DefaultDir = "data/cifar-10-batches-bin";
constexpr const char* kCifar100DefaultDir = "data/cifar-100-binary";

/// Read CIFAR binary records from `files` (in order) into one dataset.
/// `label_bytes` is 1 (CIFAR-10) or 2 (CIFAR-100); `label_index` picks which label byte is y (CIFAR-100: 0 coarse,
/// 1 fine); labels must be < num_classes.
/// Shapes: → x [n,3,32,32] f32 in [0,1] (v/255), y [n] i64; n = Σ file sizes / (label_bytes + 3072).
/// Units: bytes. Memory: x plus one file's bytes at a time.
/// Throws: Error(Data) naming the file on an empty file, a size that is not a whole number of records (a short
/// last record) or a label out of range (naming the record); Error(Io) if a file cannot be read.
Dataset read_cifar_records(const std::vector<std::filesystem::path>& files, int label_bytes, int label_index,
                           int64_t num_classes, const std::string& name);

/// Write CIFAR binary records (the inverse of read_cifar_records), for tests and synthetic benchmarks.
/// Shapes: pixels [n·3072] bytes, labels [n·label_bytes] bytes. Throws: Error(Io) if the file cannot be written.
void write_cifar_records(const std::filesystem::path& file, const std::vector<uint8_t>& labels,
                         const std::vector<uint8_t>& pixels, int label_bytes);

/// Load CIFAR-10 (`classes` = 10) or CIFAR-100 (`classes` = 100, `coarse` picks the 20 superclass labels) from
/// `dir` (see the file comment for "" and the layout).
/// Shapes: train x [50000,3,32,32], test x [10000,3,32,32] for the published files (counts come from the files).
/// Throws: Error(Data) if a file is missing (naming it, the settings and where the data set is published) or bad.
TrainTest load_cifar(int classes, bool coarse, const std::string& dir);

}  // namespace plexus::data
