// tb_readmemh: plain Verilog-2005 test bench (Icarus Verilog) that checks fp8_e4m3_mul against test
// vectors written by bitsim, the golden model:
//
//   bitsim vectors mul --format fp8_e4m3 --exhaustive > vectors.hex
//   iverilog -g2005 -P tb_readmemh.BUG=0 -o tb.vvp tb_readmemh.v fp8_e4m3_mul.v
//   vvp -n tb.vvp +vectors=vectors.hex +count=65536
//
// The file has one vector per line in Berkeley TestFloat's format, "A B RESULT FLAGS", each an
// upper-case two-digit hex token (e.g. "38 40 40 00"), so $readmemh reads four words per vector.
// Plusargs: +vectors=FILE (default vectors.hex), +count=N (default 65536, at most MAX_VECTORS).
//
// vvp's exit status does not reflect $finish, so the verdict is the last line printed:
//   "tb_readmemh: PASS" (zero mismatches) or "tb_readmemh: FAIL" (mismatches, or a bad vectors file).
// A script must treat a missing PASS line as a failure.
module tb_readmemh;
    parameter BUG = 0;                       // passed on to the DUT: iverilog -P tb_readmemh.BUG=1
    parameter MAX_VECTORS = 65536;
    parameter MAX_SHOWN = 10;                // mismatches printed in full

    reg  [7:0] mem [0:4*MAX_VECTORS-1];
    reg  [8*1024-1:0] vectors_file;
    integer count, i, mismatches, bad_file;

    reg  [7:0] a, b;
    wire [7:0] y;
    wire [4:0] flags;
    reg  [7:0] exp_y, exp_flags;

    fp8_e4m3_mul #(.BUG(BUG)) dut (.a(a), .b(b), .y(y), .flags(flags));

    initial begin
        if (!$value$plusargs("vectors=%s", vectors_file)) vectors_file = "vectors.hex";
        if (!$value$plusargs("count=%d", count)) count = MAX_VECTORS;
        mismatches = 0;
        bad_file = 0;
        if (count < 1 || count > MAX_VECTORS) begin
            $display("tb_readmemh: +count=%0d out of range 1..%0d", count, MAX_VECTORS);
            $display("tb_readmemh: FAIL");
            $finish;
        end
        for (i = 0; i < 4 * count; i = i + 1) mem[i] = 8'bx;
        $readmemh(vectors_file, mem, 0, 4 * count - 1);
        // A short or unreadable file leaves words at x: refuse to "pass" on missing vectors.
        for (i = 0; i < 4 * count; i = i + 1)
            if (^mem[i] === 1'bx) bad_file = bad_file + 1;
        if (bad_file != 0) begin
            $display("tb_readmemh: %0s: %0d of %0d words missing or not hex (expected %0d vectors)",
                     vectors_file, bad_file, 4 * count, count);
            $display("tb_readmemh: FAIL");
            $finish;
        end

        for (i = 0; i < count; i = i + 1) begin
            a         = mem[4*i];
            b         = mem[4*i+1];
            exp_y     = mem[4*i+2];
            exp_flags = mem[4*i+3];
            #1;
            if (y !== exp_y || {3'b000, flags} !== exp_flags) begin
                mismatches = mismatches + 1;
                if (mismatches <= MAX_SHOWN)
                    $display("tb_readmemh: mismatch %02X * %02X: expected %02X flags %02X, got %02X flags %02X",
                             a, b, exp_y, exp_flags, y, {3'b000, flags});
            end
        end

        $display("tb_readmemh: %0d mismatches in %0d products (BUG=%0d, vectors %0s)",
                 mismatches, count, BUG, vectors_file);
        if (mismatches == 0) $display("tb_readmemh: PASS");
        else                 $display("tb_readmemh: FAIL");
        $finish;
    end
endmodule
