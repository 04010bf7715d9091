#!/usr/bin/env python3
"""Regenerate an ablation table (Banner et al. 2018 style) from `bitsim train` runs.

Each row of the table is one training config; each is trained once per seed, and the table reports
the test error over the seeds (mean ± sample sd, min-max), the difference to a reference row and the
paper's claim, so that "does our simulator reproduce the paper's ordering?" can be read off one page.
Runs are resumable: a run whose folder already holds result.json is not run again, so an interrupted
sweep is continued by re-running the same command, and `--table-only` just re-aggregates.

Usage, from the repository root:

    python3 experiments/banner2018/ablation.py experiments/banner2018/cnn_table.toml
    python3 experiments/banner2018/ablation.py PLAN --only fp32_bn,q8_rbn --seeds 1 \\
        --set train.epochs=1 --runs-root runs/smoke --out /tmp/smoke     # quick smoke run
    python3 experiments/banner2018/ablation.py PLAN --table-only

Options: --bitsim PATH (default build/apps/bitsim, else build/bitsim, else `bitsim` on PATH),
--seeds 1,2 (instead of the plan's), --only ID[,ID] (run only these rows; the table still lists all
rows, "not run" where no result exists), --set k=v (repeatable; appended to every run's overrides),
--threads N (passed to bitsim), --table-only (run nothing), --out DIR, --runs-root DIR.

Plan file (TOML; paths are relative to the current directory):

    title = "Banner et al. 2018 ablation: small CNN on Fashion-MNIST"
    seeds = [1, 2, 3]
    out = "experiments/banner2018/results/cnn"        # table.md and table.csv are written here
    runs_root = "runs/banner2018/cnn"                  # run folders: <runs_root>/<row id>/seed<S>
    reference_row = "fp32_bn"                          # optional: deltas are against this row's mean

    [[row]]
    id = "fp32_bn"                                     # letters, digits, '.', '_', '-'; unique
    label = "fp32 + BN"                                # optional, default: the id
    config = "experiments/banner2018/cnn_fp32_bn.toml"
    set = ["train.epochs=5"]                           # optional extra --set overrides
    paper = "baseline"                                 # optional: the paper's claim, free text

Each run is
    <bitsim> train <config> --set seed=<S> --set run.dir=<D> [--set <row set>...] [--set <cli set>...]
             --overwrite --no-progress --quiet [--threads N]
and after it succeeds the script notes its overrides in <D>/ablation_run.json, so that a later
invocation with other overrides (say a full run after a shortened smoke run into the same folders)
warns instead of silently reusing results from a different schedule.

Outputs: <out>/table.csv (id,label,n,err_mean,err_std,err_min,err_max,delta_vs_ref,
train_seconds_mean,per_seed,paper) and <out>/table.md, both written atomically; the Markdown table is
also printed. Errors are in percent (100 * (1 - test_accuracy)), deltas in percentage points.

Exit status: 0 all runs succeeded (or nothing to run), 1 at least one run failed (the table of the
runs that succeeded is still written), 2 bad input (plan, options, missing config or executable).
"""
import argparse
import csv
import io
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

RESULT = "result.json"
RUN_NOTE = "ablation_run.json"  # the overrides a run was made with, to detect stale resumes
ID_RE = re.compile(r"^[A-Za-z0-9._-]+$")
CSV_HEADER = ["id", "label", "n", "err_mean", "err_std", "err_min", "err_max", "delta_vs_ref",
              "train_seconds_mean", "per_seed", "paper"]


class BadInput(Exception):
    """A problem with the plan or the options: reported as one clear line and exit code 2."""


# ----------------------------------------------------------------------------------------- plan

def load_plan(path):
    """Parse the plan TOML; syntax errors are reported with the file name, as the user must fix it."""
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"plan file not found: {path}")
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path}: TOML syntax error: {e}")


def require(table, key, where, kind, kind_name):
    """Fetch a mandatory key with a type check, so a typo in the plan fails before hours of training."""
    if key not in table:
        raise BadInput(f"{where}: missing key '{key}'")
    value = table[key]
    if not isinstance(value, kind):
        raise BadInput(f"{where}: '{key}' must be {kind_name}")
    return value


def check_sets(sets, where):
    """--set items must be key=value: catching it here beats a failed bitsim run per seed."""
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        raise BadInput(f"{where}: 'set' must be an array of strings")
    for s in sets:
        if "=" not in s or s.startswith("="):
            raise BadInput(f"{where}: set item '{s}' is not key=value")
    return list(sets)


def check_seeds(seeds, where):
    """Seeds become folder names and bitsim's `seed`, so they must be distinct non-negative ints."""
    if not isinstance(seeds, list) or not seeds or \
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise BadInput(f"{where}: seeds must be a non-empty list of non-negative integers")
    if len(set(seeds)) != len(seeds):
        raise BadInput(f"{where}: seeds repeat: {seeds}")
    return list(seeds)


def parse_rows(plan, plan_path):
    """Validate the [[row]] tables; ids are folder names, so they must be unique and path-safe."""
    rows = plan.get("row")
    if rows is None:
        raise BadInput(f"{plan_path}: missing key 'row' (at least one [[row]] table)")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise BadInput(f"{plan_path}: 'row' must be one or more [[row]] tables")
    out, seen = [], set()
    for i, r in enumerate(rows):
        where = f"{plan_path}: row {i + 1}"
        rid = require(r, "id", where, str, "a string")
        where = f"{plan_path}: row '{rid}'"
        if not ID_RE.match(rid) or rid in (".", ".."):
            raise BadInput(f"{where}: id may hold only letters, digits, '.', '_' and '-'")
        if rid in seen:
            raise BadInput(f"{plan_path}: duplicate row id '{rid}'")
        seen.add(rid)
        out.append({
            "id": rid,
            "label": str(r.get("label", rid)),
            "config": require(r, "config", where, str, "a string (path to a training config)"),
            "set": check_sets(r.get("set", []), where),
            "paper": str(r.get("paper", "")),
        })
    return out


def build_settings(args):
    """Merge plan and command line into one validated description of what to run and aggregate."""
    plan = load_plan(args.plan)
    p = args.plan
    rows = parse_rows(plan, p)
    seeds = check_seeds(require(plan, "seeds", p, list, "a list of integers"), p)
    out = require(plan, "out", p, str, "a string (directory)")
    runs_root = require(plan, "runs_root", p, str, "a string (directory)")
    ids = [r["id"] for r in rows]
    ref = plan.get("reference_row")
    if ref is not None and ref not in ids:
        raise BadInput(f"{p}: reference_row '{ref}' is not a row id (rows: {', '.join(ids)})")
    if args.seeds is not None:
        seeds = check_seeds(parse_int_list(args.seeds, "--seeds"), "--seeds")
    only = ids
    if args.only is not None:
        only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in only if s not in ids]
        if unknown or not only:
            raise BadInput(f"--only: unknown row id(s) {', '.join(unknown) or '(none given)'}; "
                           f"rows: {', '.join(ids)}")
    cli_sets = check_sets(args.set, "--set")
    if args.threads is not None and args.threads < 1:
        raise BadInput("--threads must be at least 1")
    return {
        "title": str(plan.get("title", Path(p).stem)),
        "rows": rows, "seeds": seeds, "ref": ref, "only": only, "cli_sets": cli_sets,
        "out": Path(args.out or out), "runs_root": Path(args.runs_root or runs_root),
    }


def parse_int_list(text, opt):
    """'1,2,3' -> [1, 2, 3]; a bad item is bad input, not a traceback."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise BadInput(f"{opt}: expected comma-separated integers, got '{text}'")


def check_configs(settings):
    """Every row that will run needs its config now, not after the earlier rows have trained."""
    for r in settings["rows"]:
        if r["id"] in settings["only"] and not Path(r["config"]).is_file():
            raise BadInput(f"row '{r['id']}': config file not found: {r['config']}")


def find_bitsim(arg):
    """The binary from --bitsim, else the build tree (CMake puts it in build/), else PATH."""
    if arg:
        return arg
    for cand in ("build/apps/bitsim", "build/bitsim"):
        if os.access(cand, os.X_OK) and Path(cand).is_file():
            return cand
    return shutil.which("bitsim") or "bitsim"


def check_executable(bitsim):
    """Fail before the first run rather than once per run if the binary is missing."""
    found = (os.sep in bitsim and os.access(bitsim, os.X_OK) and Path(bitsim).is_file()) or \
        (os.sep not in bitsim and shutil.which(bitsim))
    if not found:
        raise BadInput(f"bitsim executable not found: {bitsim} (build it, or pass --bitsim PATH)")


def bitsim_version(bitsim):
    """`bitsim --version` for the table's provenance line; any failure just leaves it out."""
    try:
        r = subprocess.run([bitsim, "--version"], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


# ------------------------------------------------------------------------------------------ runs

def run_dir(settings, rid, seed):
    """<runs_root>/<id>/seed<S>: one folder per run, so runs resume independently."""
    return settings["runs_root"] / rid / f"seed{seed}"


def run_overrides(settings, row):
    """The --set list beyond seed and run.dir: what makes two runs of a row comparable."""
    return row["set"] + settings["cli_sets"]


def read_result(d):
    """result.json of a run folder, or None; a damaged file is reported and treated as absent."""
    f = d / RESULT
    if not f.is_file():
        return None
    try:
        with f.open() as fh:
            res = json.load(fh)
        float(res["test_accuracy"])
        return res
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"warning: {f}: unreadable result ({e}); ignored", file=sys.stderr)
        return None


def warn_if_stale(settings, row, d):
    """A skipped run made with other overrides (e.g. a smoke run) would silently enter the table."""
    note = d / RUN_NOTE
    try:
        with note.open() as fh:
            recorded = json.load(fh)
    except (OSError, ValueError):
        return
    want = {"config": row["config"], "set": run_overrides(settings, row)}
    got = {"config": recorded.get("config"), "set": recorded.get("set")}
    if got != want:
        print(f"  warning: {d} was made with config {got['config']} --set {got['set']}, not "
              f"{want['config']} --set {want['set']}; delete the folder to redo it", file=sys.stderr)


def write_atomically(path, text):
    """Temp file in the same directory, then os.replace: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def train_command(settings, bitsim, row, seed, d, threads):
    """The exact bitsim invocation for one run (documented in the module docstring)."""
    cmd = [bitsim, "train", row["config"], "--set", f"seed={seed}", "--set", f"run.dir={d}"]
    for s in run_overrides(settings, row):
        cmd += ["--set", s]
    cmd += ["--overwrite", "--no-progress", "--quiet"]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    return cmd


def run_one(settings, bitsim, row, seed, threads, tag):
    """Train one (row, seed) unless its result exists; returns False only if the run failed."""
    d = run_dir(settings, row["id"], seed)
    name = f"{tag} {row['id']} seed {seed}"
    res = read_result(d)
    if res is not None:
        print(f"{name}: skipped, {d / RESULT} exists (test accuracy {100 * res['test_accuracy']:.2f}%)",
              flush=True)
        warn_if_stale(settings, row, d)
        return True
    cmd = train_command(settings, bitsim, row, seed, d, threads)
    print(f"{name}: running  {shlex.join(cmd)}", flush=True)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=None, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        print(f"{name}: FAILED to start {bitsim}: {e}", flush=True)
        return False
    secs = time.monotonic() - t0
    if proc.stderr.strip() and proc.returncode == 0:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        print(f"{name}: FAILED (exit {proc.returncode}) after {secs:.1f} s; bitsim's stderr:", flush=True)
        print("    " + (proc.stderr.strip() or "(empty)").replace("\n", "\n    "), flush=True)
        return False
    res = read_result(d)
    if res is None:
        print(f"{name}: FAILED: bitsim exited 0 after {secs:.1f} s but wrote no {d / RESULT}", flush=True)
        return False
    write_atomically(d / RUN_NOTE, json.dumps({"config": row["config"], "set": run_overrides(settings, row),
                                               "argv": cmd}, indent=2) + "\n")
    print(f"{name}: done in {secs:.1f} s, test accuracy {100 * res['test_accuracy']:.2f}%", flush=True)
    return True


def run_all(settings, bitsim, threads):
    """Every selected (row, seed), row by row; failures are collected so one bad row costs no others."""
    pending = [(r, s) for r in settings["rows"] if r["id"] in settings["only"] for s in settings["seeds"]]
    failed = []
    for i, (row, seed) in enumerate(pending, 1):
        if not run_one(settings, bitsim, row, seed, threads, f"[{i}/{len(pending)}]"):
            failed.append(f"{row['id']} seed {seed}")
    return failed


# ----------------------------------------------------------------------------------- aggregation

def aggregate_row(settings, row):
    """Error statistics of one row over the seeds that have a result (n may be below len(seeds))."""
    errs, secs, per_seed = [], [], []
    for seed in settings["seeds"]:
        res = read_result(run_dir(settings, row["id"], seed))
        if res is None:
            continue
        err = 100.0 * (1.0 - float(res["test_accuracy"]))
        errs.append(err)
        per_seed.append((seed, err))
        if isinstance(res.get("train_seconds"), (int, float)):
            secs.append(float(res["train_seconds"]))
    n = len(errs)
    return {
        "row": row, "n": n, "per_seed": per_seed,
        "mean": statistics.fmean(errs) if n else None,
        "std": statistics.stdev(errs) if n >= 2 else None,
        "min": min(errs) if n else None,
        "max": max(errs) if n else None,
        "secs": statistics.fmean(secs) if secs else None,
    }


def aggregate(settings):
    """All rows of the plan (not only --only's), with deltas against the reference row's mean."""
    stats = [aggregate_row(settings, r) for r in settings["rows"]]
    ref_mean = next((s["mean"] for s in stats if s["row"]["id"] == settings["ref"]), None)
    for s in stats:
        s["delta"] = s["mean"] - ref_mean if s["mean"] is not None and ref_mean is not None else None
    return stats


def fmt(x, signed=False):
    """Two decimals, '' for missing; deltas carry their sign (+0.42 / -0.10)."""
    if x is None:
        return ""
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def csv_text(stats):
    """table.csv: one line per row, numbers as in the Markdown table but one per column."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for s in stats:
        r = s["row"]
        w.writerow([r["id"], r["label"], s["n"], fmt(s["mean"]), fmt(s["std"]), fmt(s["min"]), fmt(s["max"]),
                    fmt(s["delta"], signed=True), fmt(s["secs"]),
                    " ".join(f"s{seed}={err:.2f}" for seed, err in s["per_seed"]), r["paper"]])
    return buf.getvalue()


def md_cell(text):
    """Free text (labels, claims) must not break the Markdown table."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_row(s, settings, has_ref):
    """One Markdown line; rows without any result say so instead of showing blanks."""
    r = s["row"]
    cells = [md_cell(r["label"])]
    if s["n"] == 0:
        cells += ["0", "not run", "not run"] + (["not run"] if has_ref else []) + ["", md_cell(r["paper"])]
        return "| " + " | ".join(cells) + " |"
    err = fmt(s["mean"]) + (f" ± {fmt(s['std'])}" if s["std"] is not None else "")
    runs = str(s["n"]) if s["n"] == len(settings["seeds"]) else f"{s['n']} of {len(settings['seeds'])}"
    cells += [runs, err, f"{fmt(s['min'])}–{fmt(s['max'])}"]
    if has_ref:
        cells.append("reference" if r["id"] == settings["ref"] else (fmt(s["delta"], signed=True) or "n/a"))
    cells += [fmt(s["secs"]), md_cell(r["paper"])]
    return "| " + " | ".join(cells) + " |"


def md_table(stats, settings):
    """The table itself (also printed to stdout)."""
    has_ref = settings["ref"] is not None
    head = ["configuration", "runs", "test error % (mean ± sd)", "min–max"]
    if has_ref:
        ref_label = next(s["row"]["label"] for s in stats if s["row"]["id"] == settings["ref"])
        head.append(f"Δ vs {md_cell(ref_label)} (pp)")
    head += ["train s/run", "paper's claim"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + [md_row(s, settings, has_ref) for s in stats]) + "\n"


def md_text(stats, settings, version, table):
    """table.md: title, provenance (seeds, exact command, bitsim version), then the table."""
    seeds = ", ".join(str(s) for s in settings["seeds"])
    cmd = shlex.join(["python3"] + sys.argv)
    parts = [f"# {settings['title']}", "",
             f"Test error in percent (100 × (1 − test accuracy)) over seeds {seeds}; "
             f"generated by `{cmd}`" + (f" with {version}." if version else ".")]
    if settings["cli_sets"]:
        parts.append(f"Every run also had `--set {' --set '.join(settings['cli_sets'])}`.")
    return "\n".join(parts) + "\n\n" + table


# ------------------------------------------------------------------------------------------ main

def parse_args(argv):
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description="Run the trainings of an ablation plan and write its table.")
    ap.add_argument("plan", help="plan file (TOML; format in this script's docstring)")
    ap.add_argument("--bitsim", help="bitsim executable (default: build/apps/bitsim, build/bitsim, PATH)")
    ap.add_argument("--seeds", help="comma-separated seeds instead of the plan's, e.g. 1,2")
    ap.add_argument("--only", help="comma-separated row ids to run (the table still lists all rows)")
    ap.add_argument("--set", action="append", default=[], metavar="K=V",
                    help="extra bitsim --set for every run (repeatable)")
    ap.add_argument("--threads", type=int, help="passed to bitsim train --threads")
    ap.add_argument("--table-only", action="store_true", help="run nothing; aggregate existing results")
    ap.add_argument("--out", help="output directory for table.md/table.csv (instead of the plan's)")
    ap.add_argument("--runs-root", help="root of the run folders (instead of the plan's)")
    return ap.parse_args(argv)


def write_tables(settings, bitsim):
    """Aggregate, write both files atomically and return the Markdown table for stdout."""
    stats = aggregate(settings)
    table = md_table(stats, settings)
    out = settings["out"]
    write_atomically(out / "table.csv", csv_text(stats))
    write_atomically(out / "table.md", md_text(stats, settings, bitsim_version(bitsim), table))
    return table


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = build_settings(args)
        bitsim = find_bitsim(args.bitsim)
        if not args.table_only:
            check_configs(settings)
            check_executable(bitsim)
    except BadInput as e:
        print(f"ablation.py: {e}", file=sys.stderr)
        return 2
    failed, interrupted = [], False
    if not args.table_only:
        try:
            failed = run_all(settings, bitsim, args.threads)
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted; writing the table of the results so far", file=sys.stderr)
    table = write_tables(settings, bitsim)
    print()
    print(table, end="")
    print(f"\nwrote {settings['out'] / 'table.md'} and {settings['out'] / 'table.csv'}")
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
