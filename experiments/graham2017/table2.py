#!/usr/bin/env python3
"""Regenerates Graham 2017's Table 2 with `bitsim analyze quantizer` (docs/analyze.md):
correlation(X, L(N(X))) and sd(L(N(X))) for every Graham format, exactly for X ~ N(0,1) and by Monte
Carlo (mean ± sd over repeats) for the normal and for Student's t with 3 degrees of freedom, next to the
paper's printed values.

Usage, from the repository root:
    python3 experiments/graham2017/table2.py [--bitsim build/bitsim] [--samples 10000] [--repeats 100]
        [--seed 1] [--out experiments/graham2017/results/table2]

Writes <out>/table2.md and <out>/table2.csv (atomically) and prints the Markdown. The paper's t(3) rows
are one draw of 10,000 points (its Figure 1), hence the default sample size. Exit status 2 when bitsim
is missing or fails.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

FORMATS = ["L2", "L3", "L4", "L5", "U4", "U5", "U8", "O4"]
# The paper's Table 2: (bits, distribution) -> (correlation, sd), as printed.
PAPER = {("L2", "normal"): (0.918, 1.000), ("L3", "normal"): (0.965, 1.000), ("L4", "normal"): (0.981, 1.000),
         ("L2", "t3"): (0.769, 0.888), ("L3", "t3"): (0.857, 1.11), ("L4", "t3"): (0.970, 0.978)}


def find_bitsim(arg):
    for cand in ([arg] if arg else ["build/bitsim", "build/apps/bitsim", shutil.which("bitsim") or ""]):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    print(f"table2.py: no bitsim executable ({arg or 'build/bitsim'}); build it or pass --bitsim", file=sys.stderr)
    sys.exit(2)


def analyze(bitsim, args):
    cmd = [bitsim, "analyze", "quantizer", "--json"] + args
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"table2.py: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}", file=sys.stderr)
        sys.exit(2)
    return json.loads(p.stdout), " ".join(["bitsim"] + cmd[1:])


def num(v, digits=3):
    return v if isinstance(v, str) else f"{v:.{digits}f}"


def spread(mean, sd, digits=3):
    return f"{num(mean, digits)} ± {sd if isinstance(sd, str) else f'{sd:.2g}'}"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bitsim")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="experiments/graham2017/results/table2")
    a = ap.parse_args(argv)
    bitsim = find_bitsim(a.bitsim)
    mc = ["--samples", str(a.samples), "--repeats", str(a.repeats), "--seed", str(a.seed)]
    rows, commands = [], []
    for f in FORMATS:
        fmt_name = f"graham_{f}"
        normal, cmd_n = analyze(bitsim, ["--format", fmt_name, "--exact"] + mc)
        t3, cmd_t = analyze(bitsim, ["--format", fmt_name, "--dist", "student-t", "--df", "3"] + mc)
        commands += [cmd_n, cmd_t]
        rows.append((f, normal, t3))

    csv = ["format,width,dist,exact_corr,exact_sd,mc_corr_mean,mc_corr_sd,mc_sd_mean,mc_sd_sd,snr_db,clamped_low,"
           "clamped_high,paper_corr,paper_sd"]
    md = [f"# Graham 2017 Table 2, regenerated\n",
          f"Q = L(N(X)): X drawn from the distribution, normalized with its sample mean and sd, quantized by the "
          f"format. Exact: the population values for X ~ N(0,1) (closed form over the format's cells). Monte "
          f"Carlo: mean ± sd over {a.repeats} repeats of {a.samples} samples (seeds {a.seed}..{a.seed + a.repeats - 1}). "
          f"SNR and clamp fractions: exact for the normal, Monte-Carlo means for t(3).\n",
          "| format | bits | X | corr(X, Q) | sd(Q) | SNR dB | clamped low | clamped high | paper corr / sd |",
          "|---|---|---|---|---|---|---|---|---|"]
    for f, n, t in rows:
        e, nm, ns = n["exact"], n["sample_mean"], n["sample_sd"]
        tm, ts = t["sample_mean"], t["sample_sd"]
        pn, pt = PAPER.get((f, "normal")), PAPER.get((f, "t3"))
        md.append(f"| {f} | {n['width']} | N(0,1) exact | {num(e['correlation'])} | {num(e['sd'])} | {num(e['snr_db'], 2)} | "
                  f"{e['clamped_low']:.3g} | {e['clamped_high']:.3g} | {f'{pn[0]:.3f} / {pn[1]:.3f}' if pn else ''} |")
        md.append(f"| {f} | {n['width']} | N(0,1) sampled | {spread(nm['correlation'], ns['correlation'])} | "
                  f"{spread(nm['sd'], ns['sd'])} | {num(nm['snr_db'], 2)} | {nm['clamped_low']:.3g} | {nm['clamped_high']:.3g} | |")
        md.append(f"| {f} | {n['width']} | t(3) sampled | {spread(tm['correlation'], ts['correlation'])} | "
                  f"{spread(tm['sd'], ts['sd'])} | {num(tm['snr_db'], 2)} | {tm['clamped_low']:.3g} | {tm['clamped_high']:.3g} | "
                  f"{f'{pt[0]:.3f} / {pt[1]:.3g}' if pt else ''} |")
        for dist, s, sd, ex, p in (("normal", nm, ns, e, pn), ("t3", tm, ts, None, pt)):
            csv.append(",".join(str(x) for x in [
                f, n["width"], dist, ex["correlation"] if ex else "", ex["sd"] if ex else "", s["correlation"],
                sd["correlation"], s["sd"], sd["sd"], (ex or s)["snr_db"], (ex or s)["clamped_low"],
                (ex or s)["clamped_high"], p[0] if p else "", p[1] if p else ""]))
    # Where the paper's t(3) rows lie within the Monte-Carlo spread.
    md.append("\nThe paper's t(3) values in units of the Monte-Carlo sd (|z| < 2: consistent with one draw of "
              f"{a.samples} points):\n")
    md.append("| format | corr z | sd z |")
    md.append("|---|---|---|")
    for f, n, t in rows:
        pt = PAPER.get((f, "t3"))
        if pt:
            tm, ts = t["sample_mean"], t["sample_sd"]
            md.append(f"| {f} | {(pt[0] - tm['correlation']) / ts['correlation']:+.1f} | {(pt[1] - tm['sd']) / ts['sd']:+.1f} |")
    md.append("\nCommands (`bitsim analyze quantizer`, one per row):\n\n```\n" + "\n".join(commands) + "\n```")
    text = "\n".join(md) + "\n"
    os.makedirs(a.out, exist_ok=True)
    for name, body in (("table2.md", text), ("table2.csv", "\n".join(csv) + "\n")):
        tmp = os.path.join(a.out, name + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(body)
        os.replace(tmp, os.path.join(a.out, name))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
