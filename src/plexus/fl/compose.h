// Everything an algorithm file composes its parts from (fl/algorithms/*.cpp, fl/pfl/*.cpp), and shorthands
// for the common compositions. See parts.h for the hooks and algorithm.h for registration.
#pragma once

#include <memory>
#include <optional>

#include "plexus/fl/algorithm.h"
#include "plexus/fl/communicator.h"
#include "plexus/fl/dp_wrapper.h"
#include "plexus/fl/global_evaluator.h"
#include "plexus/fl/pfl/alternating_rule.h"
#include "plexus/fl/pfl/personalized_evaluator.h"
#include "plexus/fl/pfl/pfl_comm.h"
#include "plexus/fl/step_rule.h"

namespace plexus::fl {

/// Server or gossip FL: `rule` and `comm`, measured by the GlobalEvaluator.
inline Parts global_parts(Session& s, std::unique_ptr<LocalRule> rule, std::unique_ptr<Communicator> comm) {
  return Parts{std::move(rule), std::move(comm), std::make_unique<GlobalEvaluator>(s)};
}

/// Personalized FL: `rule` and `comm`, measured by a PersonalizedEvaluator of comm's models on its communicated
/// columns, with `finetune` columns fine-tuned before the "after" measurement (nullopt: none; empty: all).
inline Parts personalized_parts(Session& s, std::unique_ptr<LocalRule> rule, std::unique_ptr<ColumnCommunicator> comm,
                                std::optional<std::vector<ColumnRange>> finetune = std::nullopt) {
  const ColumnCommunicator* c = comm.get();
  auto eval = std::make_unique<PersonalizedEvaluator>(s, [c] { return c->models(); }, c->communicated(),
                                                      std::move(finetune));
  return Parts{std::move(rule), std::move(comm), std::move(eval)};
}

/// Client-level DP (DpWrapper with `sparsifier`) around server averaging.
inline std::unique_ptr<Communicator> dp_server_average(Session& s, Sparsifier sparsifier) {
  return std::make_unique<DpWrapper>(s, std::make_unique<ServerAverage>(s), sparsifier);
}

/// The step rule with options `o` (SGD on every column by default).
inline std::unique_ptr<LocalRule> step_rule(Session& s, StepRule::Options o = {}) {
  return std::make_unique<StepRule>(s, std::move(o));
}

}  // namespace plexus::fl
