// Child processes for sweeps and reports: fork + exec with output to a log file, no shell in between (so no
// quoting of config values or paths can go wrong).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace plexus::exp {

/// Start `argv[0]` with arguments `argv` (argv[0] is a path, not looked up in PATH unless it has no '/'),
/// stdout and stderr appended to `log` (empty: inherited). The child gets SIGTERM if this process dies
/// (Linux PR_SET_PDEATHSIG), so a killed sweep leaves no orphan writing into its run directories.
/// Returns the child's pid. Throws: Error(Io) if the log cannot be opened or fork fails.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log);

/// Exit status of a finished child as a shell reports it: the exit code, or 128 + signal number.
int exit_status(int wait_status);

/// Run `argv` to completion (output to `log`, or inherited) and return exit_status. Throws: as spawn.
int run_to_end(const std::vector<std::string>& argv, const std::filesystem::path& log = {});

}  // namespace plexus::exp
