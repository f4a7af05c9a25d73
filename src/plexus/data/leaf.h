// LEAF (Caldas et al. 2018, arXiv 1812.01097) JSON data: the natural non-IID partition FL benchmarks use, one
// client per writer (FEMNIST) or user.
//
// Layout of [data] path (else $PLEXUS_LEAF, else data/leaf): train/*.json and test/*.json, as LEAF's
// preprocess.sh leaves them in data/<task>/data/. Each file is
//   {"users": ["f0000_14", ...], "num_samples": [n_0, ...],
//    "user_data": {"f0000_14": {"x": [[v, v, ...], ...], "y": [label, ...]}, ...}, "hierarchies": [...]?}
// x rows are numeric feature vectors of one length d (FEMNIST: 784 floats on [0,1], a 28×28 image row by row);
// a perfect square d becomes a [1, √d, √d] image, any other d a [1, 1, d] row. y are integer labels ≥ 0
// (C = largest label + 1 over train and test). Text tasks (Shakespeare, Sent140: x of strings) are rejected: plexus
// models classify numeric inputs.
// Every user's samples keep their user: TrainTest::users/train_users/test_users. Users are sorted by id.
#pragma once

#include <filesystem>
#include <string>

#include "plexus/data/dataset.h"

namespace plexus::data {

constexpr const char* kLeafEnv = "PLEXUS_LEAF";
constexpr const char* kLeafDefaultDir = "data/leaf";

/// Load LEAF train/ and test/ JSON files from `dir` (see the file comment).
/// Shapes: x [n, 1, s, s] (d = s²) or [n, 1, 1, d] f32 as stored; y [n] i64.
/// Throws: Error(Data) naming the file and user on malformed JSON, a missing key, num_samples that disagree
/// with x or y, rows of different lengths, string features, negative labels; or if the folders are missing
/// (saying the layout and where LEAF is published).
TrainTest load_leaf(const std::string& dir);

}  // namespace plexus::data
