// tb_dpi_main: the C++ main of the Verilator test bench tb_dpi.sv. It checks that bitsim's C library
// answers, runs the model until $finish, and turns $fatal / $stop into exit status 1 (Verilator's
// default would abort()).
#include <cstdio>
#include <memory>

#include "Vtb_dpi.h"
#include "bitsim.h"
#include "verilated.h"

int main(int argc, char** argv) {
    char canonical[64];
    if (bitsim_format_width("fp8_e4m3") != 8 ||
        bitsim_format_canonical("fp8_e4m3", canonical, sizeof canonical) < 0) {
        std::fprintf(stderr, "tb_dpi: bitsim's C library does not know fp8_e4m3: %s\n", bitsim_last_error());
        return 2;
    }
    std::printf("tb_dpi: golden model bitsim, format fp8_e4m3 = %s\n", canonical);

    const auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);
    context->fatalOnError(false);  // $fatal: finish and report through gotError() instead of abort()
    const auto top = std::make_unique<Vtb_dpi>(context.get());
    while (!context->gotFinish()) {
        top->eval();
        if (!top->eventsPending()) break;
        context->time(top->nextTimeSlot());
    }
    top->final();
    if (!context->gotFinish()) {
        std::fprintf(stderr, "tb_dpi: simulation ended without $finish\n");
        return 1;
    }
    return context->gotError() ? 1 : 0;
}
