// A user's own data set as NumPy arrays: x [N,H,W] or [N,H,W,C] (uint8 on 0..255 or float32 as is), y [N]
// integer labels 0..C−1 (C = the largest label + 1 over train and test).
//
// Accepted layouts of [data] path (else $PLEXUS_NPZ, else data/dataset.npz):
//   a file  F.npz   with members x_train, y_train, x_test, y_test       (the keras mnist.npz convention)
//   a directory     with train.npz and test.npz, each with members x, y
//   a directory     with x_train.npy, y_train.npy, x_test.npy, y_test.npy
// Written from Python with e.g. numpy.savez("d.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte).
#pragma once

#include <filesystem>
#include <string>

#include "plexus/data/dataset.h"
#include "plexus/data/numpy_reader.h"

namespace plexus::data {

constexpr const char* kNpzEnv = "PLEXUS_NPZ";
constexpr const char* kNpzDefaultPath = "data/dataset.npz";

/// Images and labels from two arrays, with labels checked against [0, num_classes).
/// Shapes: x [N,H,W] → [N,1,H,W], x [N,H,W,C] → [N,C,H,W] f32 (uint8 divided by 255, float32 kept); y [N] → i64.
/// `name` becomes the dataset's name; `where` (the file and split) starts every error message.
/// Throws: Error(Data) naming `where` on a wrong rank, a non-uint8/float32 x, a non-integer y, N mismatch, an
/// empty set, non-finite pixels or a label outside [0, num_classes).
Dataset dataset_from_arrays(const NpyArray& x, const NpyArray& y, int64_t num_classes, const std::string& name,
                            const std::string& where);

/// Load train and test from `path` (see the file comment). Throws: Error(Data) if no layout matches (listing them),
/// if a member is missing, or as dataset_from_arrays; Error(Data) if train and test images differ in shape.
TrainTest load_npz_dataset(const std::string& path);

}  // namespace plexus::data
