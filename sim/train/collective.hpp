// What data-parallel training needs from the processes it runs on (mpirun -np P bitsim train): sim/
// defines it, the bitsim program implements it with MPI (apps/bitsim/mpi_collective.cpp), so sim/
// never links MPI. Every call is collective: all ranks make it, in the same order.
#pragma once

#include <span>

namespace bitsim::sim::train {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // all[r * n, (r + 1) * n) = rank r's `mine` on every rank (n = mine.size(), the same on all ranks).
  virtual void allgather(std::span<const float> mine, std::span<float> all) = 0;
  virtual void allgather(std::span<const double> mine, std::span<double> all) = 0;
  // data = root's data on every rank.
  virtual void broadcast(std::span<float> data, int root) = 0;
};

}  // namespace bitsim::sim::train
