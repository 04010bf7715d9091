// fp8_e4m3_mul: combinational multiplier for OCP FP8 E4M3 ("fp8_e4m3" in bitsim, i.e.
// float(e=4,m=3,special=fn)): 1 sign bit, 4 exponent bits (bias 7), 3 fraction bits, subnormals, no
// infinities, NaN only as S.1111.111, largest finite value 448 (0x7E).
//
// y = a * b rounded once to E4M3, round to nearest, ties to even (RNE):
//   - a NaN operand gives the canonical NaN 0x7F, flags 0 (E4M3 has no signalling NaN, no infinity,
//     so nothing is ever invalid);
//   - a zero result (exact, or a tiny product rounded to zero) has sign(a) ^ sign(b);
//   - a result whose magnitude rounds above 448 saturates to +-448 (0x7E / 0xFE), overflow|inexact.
// flags uses Berkeley TestFloat's bits: [4] invalid, [3] divide-by-zero, [2] overflow,
// [1] underflow (tininess detected after rounding), [0] inexact.
//
// Parameter BUG: 0 = correct RNE. 1 = a deliberate, realistic rounding bug for the test-bench
// examples: exact ties are rounded away from zero instead of to even ("round_up = guard"), so the
// design is right on every product except the ~4% that land exactly half-way between two codes.
//
// Verilog-2005, synthesizable style (one always @* block, no loops, no delays).
module fp8_e4m3_mul #(
    parameter BUG = 0
) (
    input  wire [7:0] a,
    input  wire [7:0] b,
    output reg  [7:0] y,
    output reg  [4:0] flags
);
    // flags[4] invalid and flags[3] divide-by-zero never occur in a multiplication without infinities.
    localparam [4:0] F_OVERFLOW = 5'h04, F_UNDERFLOW = 5'h02, F_INEXACT = 5'h01;

    // ---- unpack ------------------------------------------------------------------------------
    wire       sy    = a[7] ^ b[7];
    wire [3:0] ea    = a[6:3];
    wire [3:0] eb    = b[6:3];
    wire       a_nan = (a[6:0] == 7'h7F);
    wire       b_nan = (b[6:0] == 7'h7F);
    // Significands with the hidden bit (0 for subnormals); a subnormal's exponent field reads as 1.
    wire [3:0] ma    = {ea != 4'd0, a[2:0]};
    wire [3:0] mb    = {eb != 4'd0, b[2:0]};
    wire [4:0] eae   = (ea == 4'd0) ? 5'd1 : {1'b0, ea};
    wire [4:0] ebe   = (eb == 4'd0) ? 5'd1 : {1'b0, eb};

    // |a*b| = p * 2^(eae + ebe - 20) exactly.
    wire [7:0] p     = ma * mb;

    // ---- normalize: leading zeros of p ---------------------------------------------------------
    reg  [2:0] lz;
    always @* begin
        casez (p)
            8'b1???????: lz = 3'd0;
            8'b01??????: lz = 3'd1;
            8'b001?????: lz = 3'd2;
            8'b0001????: lz = 3'd3;
            8'b00001???: lz = 3'd4;
            8'b000001??: lz = 3'd5;
            8'b0000001?: lz = 3'd6;
            default:     lz = 3'd7;   // also p == 0, handled separately
        endcase
    end
    wire [7:0] pn = p << lz;          // pn[7] = 1 when p != 0: pn = 1.xxxxxxx

    // Biased exponent of the product with unbounded range: |a*b| = pn/128 * 2^(eb_u - 7), where
    // eb_u = eae + ebe - 6 - lz, in [-11, 24]. Kept signed, 7 bits.
    wire signed [6:0] eb_u = $signed({2'b00, eae}) + $signed({2'b00, ebe}) - 7'sd6
                             - $signed({4'b0000, lz});

    // ---- round, unbounded exponent (for tininess after rounding) -------------------------------
    wire       g_u   = pn[3];
    wire       s_u   = |pn[2:0];
    wire       up_u  = (BUG != 0) ? g_u : (g_u & (s_u | pn[4]));
    // Rounding 1.111 up carries into the next binade: the unbounded result is then 2^(eb_u - 6).
    wire       carry_u = up_u & (pn[6:4] == 3'b111);
    // Tiny after rounding: rounded (unbounded) result below 2^-6, i.e. biased exponent < 1.
    wire       tiny  = (eb_u < 7'sd0) | ((eb_u == 7'sd0) & ~carry_u);

    // ---- round to the format (subnormal results are shifted right first) -----------------------
    // d = 1 - eb_u right shift for subnormal results (1..12), else 0.
    wire [3:0] d     = (eb_u < 7'sd1) ? (4'd1 - eb_u[3:0]) : 4'd0;
    /* verilator lint_off UNUSEDSIGNAL */    // x[23]: the hidden bit, implied by eb_r != 0
    wire [23:0] x    = {pn, 16'b0} >> d;     // no bit falls off: 8 + 12 <= 24
    /* verilator lint_on UNUSEDSIGNAL */
    // x[23:20] = kept significand (hidden bit in x[23], 0 when subnormal), x[19] guard, rest sticky.
    wire       g     = x[19];
    wire       s     = |x[18:0];
    wire       up    = (BUG != 0) ? g : (g & (s | x[20]));
    wire [4:0] eb_r  = (eb_u < 7'sd1) ? 5'd0 : eb_u[4:0];   // 0 for subnormal, 1..24 normal
    // Codes are monotone in magnitude, so {exponent, fraction} + 1 rounds up across binades too.
    wire [8:0] mag   = {1'b0, eb_r, x[22:20]} + {8'b0, up};
    wire       inexact = g | s;

    // ---- result --------------------------------------------------------------------------------
    always @* begin
        if (a_nan | b_nan) begin
            y     = 8'h7F;
            flags = 5'h00;
        end else if (p == 8'd0) begin
            y     = {sy, 7'h00};
            flags = 5'h00;
        end else if (mag > 9'd126) begin               // above 448 (0x7F would be NaN / 480)
            y     = {sy, 7'h7E};
            flags = F_OVERFLOW | F_INEXACT;
        end else begin
            y     = {sy, mag[6:0]};
            flags = (inexact ? F_INEXACT : 5'h00) | ((inexact & tiny) ? F_UNDERFLOW : 5'h00);
        end
    end
endmodule
