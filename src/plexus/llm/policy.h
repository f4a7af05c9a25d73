// A trained policy as the RL pipeline passes it around: a run directory (pretrain, sft, grpo or distill)
// holding config.toml with a [model] table, tokenizer.model and checkpoints/round_<n>.pt. Loading checks that
// the checkpoint fits the configured architecture and that the tokenizer has the R1 tag pieces.
#pragma once

#include <torch/torch.h>
#include <toml++/toml.h>

#include <filesystem>
#include <memory>
#include <string>

#include "plexus/llm/model.h"
#include "plexus/llm/tokenizer.h"

namespace plexus::llm {

struct Policy {
  ModelArgs args;
  toml::table model_table;  ///< the resolved [model] table (copied into derived runs)
  std::shared_ptr<Tokenizer> tok;
  Transformer model{nullptr};
  std::filesystem::path run;
  int64_t stop_id = -1;     ///< id of the `</answer>` piece (-1 if the tokenizer lacks it)
};

/// Load the newest checkpoint of `run_dir` onto `dev` (bf16 matmuls on CUDA). `what` names the config key
/// for messages (e.g. "base.run"). Throws: Error(Io) if the directory, config, tokenizer or checkpoint is
/// missing; Error(Data) if the checkpoint belongs to another architecture.
Policy load_policy(const std::filesystem::path& run_dir, torch::Device dev, const std::string& what);

/// Id of `piece` when the tokenizer encodes it as one token, else −1.
int64_t single_token_id(const Tokenizer& tok, const std::string& piece);

/// The first token of " <word>" that is not blank (a tokenizer may emit the word-start piece on its own): the
/// token a verbalizer reads for a label word, and the token a discrete prompt word stands for. −1 if none.
int64_t first_word_token(const Tokenizer& tok, const std::string& word);

/// Tokens of `text` as int64.
std::vector<int64_t> encode64(const Tokenizer& tok, const std::string& text);

/// Copy the policy's tokenizer into `dir` (a derived run stays loadable by load_policy).
void copy_tokenizer(const Policy& p, const std::filesystem::path& dir);

}  // namespace plexus::llm
