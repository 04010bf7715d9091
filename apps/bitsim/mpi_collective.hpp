// The MPI implementation of sim::train::Collective, for `mpirun -np P bitsim train` (data-parallel
// training, docs/training.md). Built when CMake finds MPI (BITSIM_HAVE_MPI).
#pragma once

#include "sim/train/collective.hpp"

#include <memory>

namespace bitsim::cli {

// The number of ranks the launcher (mpirun: OMPI_COMM_WORLD_SIZE, else PMI_SIZE) started, 1 without one.
int launched_ranks();

// Initializes MPI (once, finalized at exit) and returns the world communicator's collective; throws
// std::runtime_error when this bitsim was built without MPI.
std::unique_ptr<sim::train::Collective> mpi_world();

}  // namespace bitsim::cli
