// The black-box prompt-tuning algorithms (family BlackBox, configured by [bbpt]; docs/bbpt.md). Each one is a
// tuner plus whether the server averages, run by bbpt_runner's loop:
//   fed_bbpt       SPSA-GC through the API + FedAvg of the prompt generators   (Fed-BBPT, arXiv 2310.03123)
//   bbpt_local     SPSA-GC through the API, no federation                     (the paper's local baseline)
//   bbpt_whitebox  true gradients through a local copy of the model + FedAvg  (the white-box upper bound)
// The zero-shot baseline (no prompt) is every run's round-0 evaluation.
#include "plexus/bbpt/bbpt_runner.h"
#include "plexus/fl/algorithm.h"

namespace plexus::bbpt {

namespace {

// A training minibatch is one API call: it must fit the served model's batch limit.
void check_batch(const fl::FlConfig& c) {
  if (c.train.batch_size > c.bbpt.max_batch) {
    throw Error::config("[train] batch_size = {} exceeds bbpt.max_batch = {}: one minibatch is one API call (lower "
                        "train.batch_size or raise bbpt.max_batch)", c.train.batch_size, c.bbpt.max_batch);
  }
}

fl::Algorithm black_box(std::string name, std::string title, std::string source, BbptRecipe recipe) {
  return {.name = std::move(name), .title = std::move(title), .source = std::move(source),
          .family = fl::Family::BlackBox, .check = check_batch, .build = {},
          .run = [recipe](const fl::FlConfig& cfg, bool resume) { return run_bbpt(cfg, resume, recipe); }};
}

auto zeroth_order = [](const PromptTask& t) { return t.zeroth_order_tuner(); };

const fl::AlgorithmRegistrar kFedBbpt(black_box(
    "fed_bbpt", "Fed-BBPT", "Lin et al. 2023, arXiv 2310.03123 (SPSA-GC of BlackVIP, arXiv 2303.14773; BDPL, arXiv 2201.08531)",
    {.tuner = zeroth_order, .federated = true}));

const fl::AlgorithmRegistrar kLocal(black_box(
    "bbpt_local", "BBPT-local", "black-box tuning per client without federation (BlackVIP / BDPL alone)",
    {.tuner = zeroth_order, .federated = false}));

const fl::AlgorithmRegistrar kWhiteBox(black_box(
    "bbpt_whitebox", "BBPT-white-box", "white-box prompt tuning, true gradients (upper bound of arXiv 2310.03123)",
    {.tuner = [](const PromptTask& t) { return t.white_box_tuner(); }, .federated = true}));

}  // namespace

}  // namespace plexus::bbpt
