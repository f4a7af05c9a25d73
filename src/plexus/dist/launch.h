// `plexus ... --ranks R`: R local ranks of this same binary, like `torchrun --nproc-per-node R` on one host.
// The launcher hosts the rendezvous TCPStore on a free port of 127.0.0.1 (it binds port 0, so two runs never
// race for a port) and starts rank k with RANK=k, LOCAL_RANK=k, WORLD_SIZE=R, MASTER_ADDR=127.0.0.1,
// MASTER_PORT=<port> and TORCHELASTIC_USE_AGENT_STORE=True (torchrun's convention: the ranks are all store
// clients). It waits for every rank; when one fails, it stops the others (SIGTERM, as torchrun does) and
// exits with the failed rank's code. The failed rank prints the run's one `error:` line (rank_failure.h). With
// R > 1 the ranks' stderr reaches the terminal through the launcher, line by line, and nothing after that line
// is shown (the other ranks' "[rank k] ..." lines written while they stop would otherwise follow it).
#pragma once

#include <string>
#include <vector>

namespace plexus::dist {

/// Run `argv` (argv[0] ignored: this binary, /proc/self/exe, is started) as `ranks` local ranks and wait.
/// Returns 0 if every rank exited 0, else the exit code of the first rank that failed (1 if it was killed by
/// a signal, after printing one line naming it; kFollowerExit if only followers failed).
/// Throws: Error(Config) if ranks < 1 or the environment already names a rank (--ranks under a launcher);
/// Error(Io) if the store cannot be started or a rank cannot be spawned.
int launch_local(int ranks, const std::vector<std::string>& argv);

/// This process's command line (from /proc/self/cmdline), argv[0] first.
/// Throws: Error(Io) if it cannot be read.
std::vector<std::string> own_command_line();

/// `args` without the option `name` and its value (`--ranks 3` or `--ranks=3`).
std::vector<std::string> without_option(const std::vector<std::string>& args, const std::string& name);

}  // namespace plexus::dist
