#!/usr/bin/python3
"""Figure 2 of Graham 2017 for the width sweep: accuracy change of each format against fp32 batch norm.

Reads the runs of experiments/graham2017/mlp_width_sweep.toml (made by `bitsim sweep`)
and writes, into the plan's `out` folder:
  width_sweep.csv  format,width,seeds,train_acc,test_acc,train_delta_pp,test_delta_pp (accuracies in %,
                   means over the seeds found; deltas against fp32 at the same width, percentage points)
  width_sweep.png  two panels (training and test set), one line per format, width on a log2 axis
  width_sweep.md   the test-set table for docs/RESULTS.md: fp32 accuracy per width (mean ± sd), each
                   format's change against it, marked * where it exceeds the smallest difference a
                   two-sided t-test at 5% resolves with the seeds' pooled spread (needs python3-scipy)

Training accuracy is the last epoch's running accuracy over its training batches (metrics.csv, in train
mode), not a separate pass over the training set as in the paper.

Usage, from the repository root (needs matplotlib: apt-get install python3-matplotlib):
    /usr/bin/python3 experiments/graham2017/plot_width_sweep.py [PLAN] [--runs-root DIR] [--out DIR]
(--runs-root and --out replace the plan's, as for bitsim sweep.) Exit status 2 for a missing plan or no
runs at all; rows without runs are left out (and listed).
"""
import argparse
import csv
import json
import os
import statistics
import sys
import tomllib

FORMATS = ["L2", "L3", "L4", "L5", "U4", "U5", "U8", "O4"]


def read_run(folder):
    """(train_acc, test_acc) in percent from one run folder, or None."""
    try:
        with open(os.path.join(folder, "result.json")) as fh:
            test = 100 * json.load(fh)["test_accuracy"]
        with open(os.path.join(folder, "metrics.csv")) as fh:
            rows = list(csv.DictReader(fh))
        return 100 * float(rows[-1]["train_accuracy"]), test
    except (OSError, KeyError, ValueError, IndexError, json.JSONDecodeError):
        return None


def resolvable(a, b):
    """Smallest difference of means a two-sided t-test at 5% calls significant for samples a and b
    (pooled variance, n_a + n_b - 2 degrees of freedom; the rule of bitsim's sweep tables), or None."""
    from scipy.stats import t
    if len(a) < 2 or len(b) < 2:
        return None
    df = len(a) + len(b) - 2
    pooled = (((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b)) / df) ** 0.5
    return t.ppf(0.975, df) * pooled * (1 / len(a) + 1 / len(b)) ** 0.5


def write_markdown(out, plan, results, widths):
    """width_sweep.md: test accuracy of fp32 per width and each format's change, * where resolved."""
    head = "| width | fp32 test acc % | " + " | ".join(FORMATS) + " |"
    lines = [f"Test accuracy of fp32 batch norm (mean ± sd over {len(plan['seeds'])} seeds) and each format's change "
             "against it in percentage points; * where the change exceeds the smallest difference a two-sided "
             "t-test at 5% resolves with the two rows' pooled spread.", "", head,
             "|" + "---|" * (2 + len(FORMATS))]
    for w in widths:
        base = [e for _, e in results.get(("fp32", w), [])]
        if not base:
            continue
        cells = [str(w), f"{statistics.mean(base):.2f}" + (f" ± {statistics.stdev(base):.2f}" if len(base) > 1 else "")]
        for f in FORMATS:
            runs = [e for _, e in results.get((f, w), [])]
            if not runs:
                cells.append("")
                continue
            d = statistics.mean(runs) - statistics.mean(base)
            r = resolvable(runs, base)
            cells.append(f"{d:+.2f}" + ("*" if r is not None and abs(d) > r else ""))
        lines.append("| " + " | ".join(cells) + " |")
    tmp = os.path.join(out, "width_sweep.md.tmp")
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(out, "width_sweep.md"))


def main(argv):
    ap = argparse.ArgumentParser(description="Graham 2017 Figure 2 for the width sweep")
    ap.add_argument("plan", nargs="?", default="experiments/graham2017/mlp_width_sweep.toml")
    ap.add_argument("--runs-root")
    ap.add_argument("--out")
    a = ap.parse_args(argv[1:])
    try:
        with open(a.plan, "rb") as fh:
            plan = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as e:
        print(f"{a.plan}: {e}", file=sys.stderr)
        return 2
    runs_root, out = a.runs_root or plan["runs_root"], a.out or plan["out"]
    results, missing = {}, []  # (format, width) -> [(train, test) per seed]
    for row in plan["row"]:
        fmt_name, width = row["id"].rsplit("_w", 1)
        found = [r for s in plan["seeds"] if (r := read_run(os.path.join(runs_root, row["id"], f"seed{s}")))]
        if found:
            results[(fmt_name, int(width))] = found
        else:
            missing.append(row["id"])
    if not results:
        print(f"no runs found under {runs_root}", file=sys.stderr)
        return 2
    widths = sorted({w for (_, w) in results})
    mean = {k: (statistics.mean(t for t, _ in v), statistics.mean(e for _, e in v), len(v)) for k, v in results.items()}
    os.makedirs(out, exist_ok=True)
    lines = ["format,width,seeds,train_acc,test_acc,train_delta_pp,test_delta_pp"]
    for f in ["fp32"] + FORMATS:
        for w in widths:
            if (f, w) not in mean:
                continue
            tr, te, n = mean[(f, w)]
            base = mean.get(("fp32", w))
            dtr = f"{tr - base[0]:.2f}" if base else ""
            dte = f"{te - base[1]:.2f}" if base else ""
            lines.append(f"{f},{w},{n},{tr:.2f},{te:.2f},{dtr},{dte}")
    tmp = os.path.join(out, "width_sweep.csv.tmp")
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(out, "width_sweep.csv"))
    write_markdown(out, plan, results, widths)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    styles = {"L2": "o-", "L3": "s-", "L4": "^-", "L5": "v-", "U4": "o--", "U5": "s--", "U8": "^--", "O4": "d:"}
    for panel, (ax, title) in enumerate(zip(axes, ["training set (running accuracy, last epoch)", "test set"])):
        for f in FORMATS:
            xs = [w for w in widths if (f, w) in mean and ("fp32", w) in mean]
            ys = [mean[(f, w)][panel] - mean[("fp32", w)][panel] for w in xs]
            if xs:
                ax.plot(xs, ys, styles[f], label=f, markersize=4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width 2^n")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("accuracy change vs fp32 BN (percentage points)")
    axes[1].legend(ncol=2, fontsize=8)
    base = [f"{w}: {mean[('fp32', w)][1]:.1f}%" for w in widths if ("fp32", w) in mean]
    fig.suptitle(f"{plan.get('title', 'width sweep')}\nfp32 BN test accuracy " + ", ".join(base[:1] + base[-1:]), fontsize=9)
    fig.tight_layout()
    tmp = os.path.join(out, "width_sweep.tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, os.path.join(out, "width_sweep.png"))
    print(f"wrote {out}/width_sweep.csv, width_sweep.md and width_sweep.png ({len(results)} of {len(plan['row'])} rows)")
    if missing:
        print("no runs for: " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
