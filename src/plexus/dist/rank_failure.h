// One `error:` line for a failed multi-process run (docs/distributed.md "Failures"). A mistake found inside
// the ranks (an existing run name, a --resume of a missing run, a changed key on resume, a missing data set)
// would otherwise be printed by the rank that found it, again by every rank whose next transfer fails because
// that rank left, and once more by the launcher. Instead:
//   * the first rank to fail claims the failure in the rendezvous store (an atomic add on one key,
//     Group::claim_failure), prints its error as one process would, `error: <kind>: <message>` without the
//     "[rank k] " prefix (the messages that depend on the rank name it), and exits with the kind's code;
//   * a rank that fails after that (the consequence: a peer left) exits with kFollowerExit and prints nothing;
//   * before the group exists (a config error every rank meets alike), rank 0 alone prints;
//   * the --ranks launcher prints nothing for a rank that exited with an error code (it printed its own line),
//     ignores kFollowerExit, and claims the failure itself before it reports a rank killed by a signal.
// A rank waiting for a value from rank 0 stops as soon as a failure is claimed (Group::share_from_rank0).
#pragma once

#include <exception>
#include <memory>

#include "plexus/dist/group.h"

namespace plexus::dist {

/// Exit code of a rank whose failure followed another rank's (that rank printed the error).
inline constexpr int kFollowerExit = 99;

/// End this rank after `e` as described above: print the error if this is the run's first failure (without a
/// group: unless it is a config error and `rank` is not 0), destroy `group` (closing its connections), and
/// exit with the error's code (exit_code of its kind; 1 for other exceptions) or kFollowerExit.
[[noreturn]] void end_rank(std::unique_ptr<Group>& group, int rank, const std::exception& e);

/// Run `body` as rank `rank` of a multi-process run (`distributed`): an exception from it ends the rank
/// through end_rank. One process (`distributed` false): exceptions propagate to main unchanged.
template <class Body>
void run_as_rank(bool distributed, int rank, std::unique_ptr<Group>& group, Body&& body) {
  if (!distributed) return body();
  try {
    body();
  } catch (const std::exception& e) {
    end_rank(group, rank, e);
  }
}

}  // namespace plexus::dist
