// tb_dpi: Verilator test bench that checks fp8_e4m3_mul against bitsim, the golden model, called
// through DPI-C from bitsim's C library (libbitsim_c.so, cabi/bitsim.h). Every one of the 65536
// (a, b) pairs is multiplied by the DUT and by bitsim_op("mul", "fp8_e4m3", ...); the result code and
// the five exception flags must agree bit for bit.
//
// Build and run (see run_examples.sh; BUG selects the DUT's deliberate bug):
//   $ verilator --cc --exe --build --timing -GBUG=0 --top-module tb_dpi -CFLAGS -I<cabi dir> \
//       -LDFLAGS "-L<lib dir> -lbitsim_c -Wl,-rpath,<lib dir>" tb_dpi.sv fp8_e4m3_mul.v tb_dpi_main.cpp
//   $ obj_dir/Vtb_dpi
// It prints the first MAX_SHOWN mismatches and "tb_dpi: N mismatches in 65536 products", and ends
// with $fatal (exit status 1 through tb_dpi_main.cpp) if N > 0 or bitsim reports an error.
module tb_dpi;
    parameter int BUG = 0;          // passed on to the DUT: verilator -GBUG=1
    parameter int MAX_SHOWN = 10;   // mismatches printed in full

    // bitsim's C interface (cabi/bitsim.h): uint64_t <-> longint unsigned, uint32_t <-> int unsigned.
    import "DPI-C" function int bitsim_op(input string op, input string format, input string options,
                                          input longint unsigned a, input longint unsigned b,
                                          input longint unsigned c, input int unsigned word,
                                          output longint unsigned code, output int unsigned flags);
    import "DPI-C" function string bitsim_last_error();

    logic [7:0] a, b;
    logic [7:0] y;
    logic [4:0] flags;

    fp8_e4m3_mul #(.BUG(BUG)) dut (.a(a), .b(b), .y(y), .flags(flags));

    longint unsigned exp_code;
    int unsigned     exp_flags;
    int              mismatches = 0;
    int              checked = 0;
    bit              bitsim_failed = 0;

    initial begin
        for (int i = 0; i < 65536 && !bitsim_failed; i++) begin
            a = i[15:8];
            b = i[7:0];
            #1;
            if (bitsim_op("mul", "fp8_e4m3", "", {56'd0, a}, {56'd0, b}, 64'd0, 0, exp_code, exp_flags) != 0) begin
                $display("tb_dpi: bitsim_op(mul, fp8_e4m3, %02h, %02h) failed: %s", a, b, bitsim_last_error());
                bitsim_failed = 1;
            end else begin
                checked++;
                if (exp_code != {56'd0, y} || exp_flags != {27'd0, flags}) begin
                    mismatches++;
                    if (mismatches <= MAX_SHOWN)
                        $display("tb_dpi: mismatch %02h * %02h: expected %02h flags %02h, got %02h flags %02h",
                                 a, b, exp_code[7:0], exp_flags[7:0], y, {3'b000, flags});
                end
            end
        end
        $display("tb_dpi: %0d mismatches in %0d products (BUG=%0d)", mismatches, checked, BUG);
        // $fatal must be the last statement executed: with tb_dpi_main.cpp it does not stop the process
        // by itself, it marks the run failed (exit status 1) and ends the simulation.
        if (bitsim_failed || mismatches != 0) begin
            $fatal(1, "tb_dpi: FAIL");
        end else begin
            $display("tb_dpi: PASS");
            $finish;
        end
    end
endmodule
