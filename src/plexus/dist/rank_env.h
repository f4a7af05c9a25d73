// Where this process stands in a multi-process run: rank, world size and rendezvous address, read from the
// environment a launcher sets (docs/distributed.md):
//   torchrun / plexus --ranks   RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//                               (TORCHELASTIC_USE_AGENT_STORE=True: the launcher hosts the TCPStore)
//   OpenMPI (mpirun)            OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//   Slurm (srun)                SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
// MPI and Slurm give no rendezvous address: MASTER_ADDR and MASTER_PORT must be exported by the job script.
// With none of these set the run has one rank and no process group (the single-process path, unchanged).
// A launcher's world of one needs no MASTER_ADDR/MASTER_PORT; they are kept when set (llm pretrain then runs one rank
// through a process group, as DDP does under torchrun --nproc-per-node 1).
// Letters: R ranks, k a rank in [0, R).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace plexus::dist {

struct RankEnv {
  int rank = 0;                 ///< k, in [0, world)
  int world = 1;                ///< R; 1 = single process
  int local_rank = 0;           ///< rank on this host (device choice on multi-GPU hosts; unused on CPU)
  std::string master_addr;      ///< TCPStore host (rank 0 or the launcher)
  int master_port = 0;          ///< TCPStore port
  bool agent_store = false;     ///< the launcher hosts the store (every rank is a client)
  std::string launcher;         ///< "torchrun", "mpirun", "srun" or "" (single process)

  bool distributed() const { return world > 1; }
};

/// The rank environment read through `get` (a getenv; nullptr = unset).
/// Throws: Error(Config) with one line naming the variables when they are incomplete or inconsistent
/// (RANK without WORLD_SIZE, rank outside [0, world), a non-numeric value, a missing MASTER_ADDR/MASTER_PORT
/// when world > 1).
RankEnv rank_env_from(const std::function<const char*(const char*)>& get);

/// rank_env_from(std::getenv). Throws: as rank_env_from.
RankEnv rank_env();

/// Seconds a rank waits on another (rendezvous, each transfer) before it gives up with an error:
/// $PLEXUS_DIST_TIMEOUT, default 300. Throws: Error(Config) if the value is not a positive number.
double dist_timeout_seconds();

}  // namespace plexus::dist
