#!/usr/bin/env python3
"""The HTML report of a sweep (`bitsim report OUT`, docs/sweeps.md): one self-contained page.

Reads OUT/sweep.json (written by `bitsim sweep`: rows, seeds, run folders), OUT/table.csv and each
run's metrics.csv and, where runs logged statistics (`stats.every`), their stats.h5; draws with
matplotlib and writes OUT/report.html with every figure embedded (base64 PNG), so the page opens
offline and can be mailed as one file. Figures:

* test accuracy per epoch of every row (mean over the seeds, min-max band);
* final test error per row, mean and sample sd over the seeds (the reference row marked);
* when runs logged statistics: the std of the layer errors E and of the weight gradients G.weight per
  layer at the last logged step, one line per row (the first seed that has a statistics file).

A small script in the page marks every image as loaded (data-loaded="yes") or broken, so a headless
browser can check the page (tests/cli/report.sh). Exit status 2 for a folder that is not a sweep's
output or a missing dependency; the page is written atomically.
"""
import base64
import csv
import html
import io
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fail(msg):
    print(f"bitsim report: {msg}", file=sys.stderr)
    sys.exit(2)


try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np
except ImportError as e:
    fail(f"{e.name} is missing (Debian: apt-get install python3-matplotlib python3-numpy)")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def colors(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "viridis")
    return [cmap(i if n <= 10 else i / max(1, n - 1)) for i in range(n)]


def accuracy_curves(rows):
    """Mean test accuracy per epoch over the seeds, with the min-max band."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = 0
    for row, color in zip(rows, colors(len(rows))):
        per_seed = []
        for run in row["runs"]:
            m = Path(run["dir"]) / "metrics.csv"
            if m.is_file():
                recs = read_csv(m)
                if recs:
                    per_seed.append([100 * float(r["test_accuracy"]) for r in recs])
        if not per_seed:
            continue
        n = min(len(a) for a in per_seed)
        acc = np.array([a[:n] for a in per_seed])
        epochs = np.arange(1, n + 1)
        ax.plot(epochs, acc.mean(axis=0), marker="o", color=color, label=f"{row['label']} ({len(per_seed)} seeds)")
        if len(per_seed) > 1:
            ax.fill_between(epochs, acc.min(axis=0), acc.max(axis=0), color=color, alpha=0.15)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlim(0.5, max(line.get_xdata().max() for line in ax.get_lines()) + 0.5)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy per epoch (mean over seeds; band: min-max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return png(fig)


def final_errors(rows, table, reference):
    stats = {r["id"]: r for r in table}
    shown = [r for r in rows if stats.get(r["id"], {}).get("err_mean")]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(shown) + 1.2))
    y = np.arange(len(shown))
    means = [float(stats[r["id"]]["err_mean"]) for r in shown]
    sds = [float(stats[r["id"]]["err_std"] or 0) for r in shown]
    cols = ["tab:red" if r["id"] == reference else "tab:blue" for r in shown]
    ax.barh(y, means, xerr=sds, color=cols, alpha=0.8, capsize=3)
    ax.set_yticks(y, [f"{r['label']} (n={stats[r['id']]['n']})" for r in shown], fontsize=8)
    ax.invert_yaxis()
    lo = min(m - s for m, s in zip(means, sds))
    ax.set_xlim(max(0, lo - 0.1 * (max(means) - lo + 1e-9) - 0.5), None)
    ax.set_xlabel("test error (%), mean ± sample sd over seeds" + ("; red: reference row" if reference else ""))
    ax.set_title("Final test error per row")
    ax.grid(axis="x", alpha=0.3)
    return png(fig)


def gradient_stats(rows):
    """std of E and G.weight per layer at the last logged step, one line per row."""
    files = []
    for row in rows:
        for run in row["runs"]:
            p = Path(run["dir"]) / "stats.h5"
            if p.is_file():
                files.append((row, p))
                break
    if not files:
        return []
    sys.path.insert(0, str(HERE.parent / "notebooks"))
    try:
        import bitsim_stats
    except ImportError as e:
        fail(f"{e.name} is missing (Debian: apt-get install python3-h5py)")
    figures = []
    for role, title in (("E", "layer errors E = dL/dx"), ("G.weight", "weight gradients G")):
        fig, ax = plt.subplots(figsize=(9, 4))
        layers_seen = []
        for (row, path), color in zip(files, colors(len(files))):
            try:
                f = bitsim_stats.open_stats(path)
            except (ValueError, OSError) as e:
                print(f"bitsim report: warning: {path}: {e}; skipped", file=sys.stderr)
                continue
            with f:
                xs, ys = [], []
                for site in f.sites:
                    if site.name != role:
                        continue
                    std = site.column("after_std")
                    if len(std) == 0:
                        continue
                    if site.layer not in layers_seen:
                        layers_seen.append(site.layer)
                    xs.append(layers_seen.index(site.layer))
                    ys.append(std[-1])
                if xs:
                    ax.plot(xs, ys, marker="o", color=color, label=f"{row['label']} (step {f.last_step})")
        if not layers_seen:
            plt.close(fig)
            continue
        ax.set_xticks(range(len(layers_seen)), layers_seen, rotation=45, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("std after rounding")
        ax.set_title(f"std of the {title} per layer, last logged step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        figures.append((f"std of {role} per layer", png(fig)))
    return figures


def html_table(table, reference):
    head = ["configuration", "runs", "test error % (mean ± sd)", "min–max", "Δ vs reference (pp)",
            "Δ resolvable at 5% (pp)", "train s/run", "per seed", "reference (paper)"]
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in table:
        err = r["err_mean"] + (f" ± {r['err_std']}" if r["err_std"] else "") if r["err_mean"] else "not run"
        rng = f"{r['err_min']}–{r['err_max']}" if r["err_min"] else ""
        delta = "reference" if r["id"] == reference else r["delta_vs_ref"]
        cells = [r["label"], r["n"], err, rng, delta, r.get("delta_resolvable", ""), r["train_seconds_mean"], r["per_seed"],
                 r["paper"]]
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return "\n".join(out + ["</table>"])


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 80em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; }}
th {{ background: #eee; }}
img {{ max-width: 100%; display: block; margin: 1em 0; }}
.broken {{ outline: 3px solid red; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{provenance}</p>
<h2>Table</h2>
{table}
{figures}
<script>
// Marks each figure as loaded or broken, for people and for headless checks.
window.addEventListener("load", function () {{
  for (const img of document.querySelectorAll("img")) {{
    const ok = img.complete && img.naturalWidth > 0;
    img.setAttribute("data-loaded", ok ? "yes" : "no");
    if (!ok) img.classList.add("broken");
  }}
  document.body.setAttribute("data-report-ready", "yes");
}});
</script>
</body></html>
"""


def main(argv):
    if len(argv) != 2:
        print("usage: sweep_report.py SWEEP_OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[1])
    meta = out / "sweep.json"
    if not meta.is_file():
        fail(f"{out}: not the output folder of a sweep (no sweep.json; run `bitsim sweep SWEEP.toml` first)")
    try:
        plan = json.loads(meta.read_text())
        table = read_csv(out / "table.csv")
    except (OSError, ValueError) as e:
        fail(f"{out}: unreadable sweep output: {e}")
    rows, reference = plan["rows"], plan.get("reference_row")
    figures = []
    for name, data in (("Accuracy curves", accuracy_curves(rows)), ("Final test error", final_errors(rows, table, reference))):
        if data:
            figures.append((name, data))
    figures += gradient_stats(rows)
    body = "\n".join(f'<h2>{html.escape(name)}</h2>\n<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                     for name, data in figures)
    seeds = ", ".join(str(s) for s in plan["seeds"])
    provenance = (f"Sweep file {html.escape(plan['source'])}; seeds {seeds}; {len(rows)} rows. "
                  f"Test error = 100 × (1 − test accuracy). Generated by <code>bitsim report</code> from {html.escape(str(out))}.")
    page = PAGE.format(title=html.escape(plan["title"]), provenance=provenance, table=html_table(table, reference),
                       figures=body)
    # bitsim's rule for every output (docs/RELIABILITY.md): only a regular file is replaced, atomically;
    # a symbolic link stays a link and the file it points to is replaced, in that file's folder.
    target = Path(os.path.realpath(out / "report.html"))
    if os.path.lexists(target) and not target.is_file():
        fail(f"{target}: is not a regular file; bitsim writes its output only to regular files")
    tmp = target.parent / f".{target.name}.tmp{os.getpid()}"
    try:
        tmp.write_text(page)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        fail(f"{target}: cannot write the report: {e.strerror}")
    print(f"report: {target} ({len(figures)} figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
