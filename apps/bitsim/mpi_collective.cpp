#include "apps/bitsim/mpi_collective.hpp"

#include "apps/sweep/sweep_runner.hpp"
#include "io/error.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#ifdef BITSIM_HAVE_MPI
#include <mpi.h>
#endif

namespace bitsim::cli {

int launched_ranks() { return static_cast<int>(sweep::rank_from_environment().size); }

#ifdef BITSIM_HAVE_MPI
namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw bitsim::Error(std::string("MPI: ") + what + " failed");
}

class MpiCollective final : public sim::train::Collective {
 public:
  MpiCollective() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
      check(MPI_Init(nullptr, nullptr), "MPI_Init");
      std::atexit([] {
        int done = 0;
        MPI_Finalized(&done);
        if (!done) MPI_Finalize();
      });
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allgather(std::span<const float> mine, std::span<float> all) override {
    check(MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_FLOAT, all.data(), static_cast<int>(mine.size()), MPI_FLOAT,
                        MPI_COMM_WORLD),
          "MPI_Allgather");
  }
  void allgather(std::span<const double> mine, std::span<double> all) override {
    check(MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(), static_cast<int>(mine.size()),
                        MPI_DOUBLE, MPI_COMM_WORLD),
          "MPI_Allgather");
  }
  void broadcast(std::span<float> data, int root) override {
    check(MPI_Bcast(data.data(), static_cast<int>(data.size()), MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast");
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<sim::train::Collective> mpi_world() { return std::make_unique<MpiCollective>(); }
#else
std::unique_ptr<sim::train::Collective> mpi_world() {
  throw bitsim::Error("launched on several ranks, but this bitsim was built without MPI (install libopenmpi-dev and rebuild)");
}
#endif

}  // namespace bitsim::cli
