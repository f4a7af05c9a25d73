// Every line a rank writes to stderr starts with "[rank k] ", whoever writes it (plexus's logs and progress,
// main's `error:` line, LibTorch and Gloo warnings): stderr is routed through a pipe whose reader thread adds
// the prefix. The launchers' own labels (mpirun --tag-output, srun --label) are then not needed.
#pragma once

#include <string>

namespace plexus::dist {

/// From now on, prefix every line this process writes to stderr with `prefix` (e.g. "[rank 1] "); the lines
/// still in the pipe are flushed at exit (a process killed by a signal may lose its last lines). Idempotent
/// per process (a second call changes nothing). Throws: Error(Io) if the pipe cannot be made.
void prefix_stderr(const std::string& prefix);

/// Stop prefixing: flush stderr, deliver every line still in the pipe, and write to the real stderr again
/// (a rank's last `error:` line then reads exactly as one process's; rank_failure.h). No-op if not prefixing.
void end_stderr_prefix();

}  // namespace plexus::dist
