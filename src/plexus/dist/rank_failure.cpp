#include "plexus/dist/rank_failure.h"

#include <cstdio>
#include <cstdlib>

#include "plexus/core/error.h"
#include "plexus/dist/stderr_prefix.h"

namespace plexus::dist {

void end_rank(std::unique_ptr<Group>& group, int rank, const std::exception& e) {
  const auto* pe = dynamic_cast<const Error*>(&e);
  const int code = pe ? exit_code(pe->kind()) : 1;
  // Without a group the ranks cannot agree who is first; what fails before it exists (the config, the rank
  // variables) fails alike on every rank, so rank 0 speaks for all. A failed rendezvous is per rank: printed.
  const bool before_group = !group && pe && pe->kind() == ErrorKind::Config;
  const bool first = group ? group->claim_failure() : (!before_group || rank == 0);
  if (first) {
    end_stderr_prefix();  // the pending lines first, then the error line as one process prints it
    std::fprintf(stderr, "error: %s\n", describe_exception(e).c_str());
    std::fflush(stderr);
  }
  group.reset();  // close the connections now: the ranks still waiting on this one fail at once
  std::exit(first ? code : kFollowerExit);
}

}  // namespace plexus::dist
