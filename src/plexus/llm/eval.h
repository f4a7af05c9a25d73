// Evaluation and rejection sampling of a policy on a task (DeepSeek-R1 §2.3.3 and Table 2 conventions):
//   pass@1 = (1/(n·k)) Σ_problems Σ_j 1[completion j correct]     (k samples per problem, averaged)
//   cons@k = (1/n) Σ_problems 1[the majority answer is correct]    (majority over the extracted answer text,
//            whitespace-normalised; ties go to the answer seen first; no answer never wins)
// R1 evaluates at temperature 0.6, top-p 0.95 (the defaults here). Sampling keeps the completions that
// pass the verifier (`--filter verified`), the data of rejection-sampling SFT and of distillation.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "plexus/llm/policy.h"
#include "plexus/llm/rollout.h"
#include "plexus/llm/tasks/task.h"

namespace plexus::llm {

struct EvalOptions {
  int64_t k = 4;                  ///< samples per problem
  double temperature = 0.6;       ///< R1's evaluation setting
  double top_p = 0.95;
  int64_t max_new_tokens = 128;
  int64_t batch_rows = 256;       ///< rows per rollout call
  uint64_t seed = 0;
};

struct EvalResult {
  double pass1 = 0, cons = 0, format_rate = 0, answer_rate = 0, mean_length = 0;
  int64_t problems = 0, k = 0;
};

/// One judged completion.
struct Sample {
  int64_t problem = 0;  ///< index into the problem list
  std::string prompt, completion;
  Verdict verdict;
  int64_t length = 0;   ///< completion tokens
};

/// Roll out k completions of every problem and judge them (purpose "llm.eval" / "llm.rs" streams).
std::vector<Sample> sample_problems(Policy& p, const Task& task, const std::vector<Problem>& problems,
                                    const EvalOptions& o, const std::string& purpose);

/// pass@1, cons@k, format and answer rates over the samples of `n_problems` problems with k each.
EvalResult score_samples(const std::vector<Sample>& s, int64_t n_problems, int64_t k);

/// Write samples as JSONL {"problem","prompt","completion","correct","well_formed"}; with `only_verified`
/// keep the correct ones. Returns how many were written. Throws: Error(Io).
int64_t write_samples(const std::filesystem::path& path, const std::vector<Sample>& s, bool only_verified);

/// Read (prompt, completion) pairs written by write_samples. Throws: Error(Io|Data) (missing, malformed, empty).
std::vector<std::pair<std::string, std::string>> read_samples(const std::filesystem::path& path);

}  // namespace plexus::llm
