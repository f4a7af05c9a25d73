// The text task's shared, read-only data (text_task.cpp): Brown passages with their genres and the discrete
// prompt's candidate words, and how a prompt and a passage become the text the black box reads.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plexus/bbpt/genre_data.h"

namespace plexus::bbpt {

/// What the tuner and the evaluation share: the passages and the prompt vocabulary (read-only after loading).
struct TextCorpus {
  GenreData genres;
  std::vector<std::string> candidates;  // [V]
  int64_t L = 0, V = 0;
  bool suffix = true;  // bbpt.prompt_position

  /// The prompt of candidate indices s [L] (−1 = no word at that position), joined by spaces.
  std::string prompt(const std::vector<int64_t>& s) const {
    std::string p;
    for (int64_t v : s) {
      if (v < 0) continue;
      if (!p.empty()) p += ' ';
      p += candidates[static_cast<size_t>(v)];
    }
    return p;
  }

  /// The texts passage + " " + prompt (suffix) or prompt + " " + passage of the examples `idx` of `split`.
  /// Shapes: idx B → B texts.
  std::vector<std::string> texts(const std::string& prompt, const data::Dataset& split,
                                 const std::vector<int64_t>& idx) const {
    auto ids = split.x.accessor<int64_t, 1>();
    std::vector<std::string> out;
    out.reserve(idx.size());
    for (int64_t j : idx) {
      const auto& passage = genres.passages[static_cast<size_t>(ids[j])];
      if (prompt.empty())
        out.push_back(passage);
      else
        out.push_back(suffix ? passage + " " + prompt : prompt + " " + passage);
    }
    return out;
  }

  /// The labels of examples `idx` of `split`. Shapes: → [B] int64.
  static torch::Tensor labels(const data::Dataset& split, const std::vector<int64_t>& idx) {
    return split.y.index_select(0, torch::tensor(idx, torch::kLong));
  }
};

}  // namespace plexus::bbpt
