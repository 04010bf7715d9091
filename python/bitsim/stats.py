"""Reading the HDF5 statistics files that `bitsim train` writes (`[stats]`, schema "bitsim-stats" v1).

The layout is described in analysis/stats_schema.hpp and the fields in analysis/tensor_stats.hpp.
This module only reads; it hides three details that every plot would otherwise repeat:

* only the steps listed in /steps are complete: a site may hold an extra row from a step that was
  interrupted while its tensors were being written, so rows are matched to /steps by their `step`;
* sites are listed in model order (the `node` attribute, then `order`), not in HDF5's alphabetical one;
* identity roles (quantizer "fp32") have after == before.

`load(path)` returns every complete step of every site as one pandas DataFrame. The module is
`bitsim.stats` of the Python package and, through notebooks/bitsim_stats.py, what the notebooks
gradient_statistics.ipynb and compare_runs.ipynb import; it needs h5py and numpy (pandas for load()),
not the package's extension. As a script, `python3 notebooks/bitsim_stats.py FILE...` checks that each
file is a readable statistics file and prints a short description (exit status 2 and a message naming
the file otherwise).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np

SCHEMA = "bitsim-stats"
SCHEMA_VERSION = 1
IDENTITY_QUANTIZER = "fp32"


def _text(value) -> str:
    # h5py returns variable-length strings as str, fixed-length ones as bytes.
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def _committed_rows(steps: np.ndarray) -> int:
    """How many leading rows are committed steps: the rows while `step` increases. A run killed
    inside a flush can leave one more row that reads as zeros (docs/hdf5-schema.md); the C++
    reader applies the same rule (complete_step_rows, analysis/stats_schema.hpp)."""
    torn = np.flatnonzero(np.diff(np.asarray(steps, dtype=np.int64)) <= 0)
    return int(torn[0]) + 1 if len(torn) else len(steps)


@dataclass
class Site:
    """One rounding site: /layers/<layer>/<name> and its attributes."""

    file: "StatsFile" = field(repr=False)
    path: str
    layer: str
    name: str
    kind: str
    node: int
    role: str
    tensor: str
    slot: int
    quantizer: str
    format: str
    format_bits: int
    codes: int
    max_finite: float
    order: int
    _rows: np.ndarray | None = field(default=None, repr=False)
    _index: np.ndarray | None = field(default=None, repr=False)

    @property
    def identity(self) -> bool:
        """True when the rounding changes nothing, so the `after` side repeats `before`."""
        return self.quantizer == IDENTITY_QUANTIZER

    @property
    def label(self) -> str:
        return f"{self.layer} {self.name}"

    def _row_index(self) -> np.ndarray:
        # Row numbers of the complete steps, ascending by step. Should a step appear twice (a step
        # re-logged after a resume), the last row written wins.
        if self._index is None:
            steps = self.file.read(self.path, "stats", field="step")
            # As for /steps (a torn row reads as zeros and would pass for step 0).
            steps = steps[: _committed_rows(steps)]
            complete = np.isin(steps, self.file.step_numbers)
            last = {}
            for i in np.flatnonzero(complete):
                last[int(steps[i])] = i
            self._index = np.array([last[s] for s in sorted(last)], dtype=np.int64)
        return self._index

    def rows(self) -> np.ndarray:
        """The `stats` rows of the complete steps (a structured array, ascending `step`)."""
        if self._rows is None:
            self._rows = self.file.read(self.path, "stats")[self._row_index()]
        return self._rows

    @property
    def steps(self) -> np.ndarray:
        return self.rows()["step"].astype(np.int64)

    def column(self, name: str) -> np.ndarray:
        """One field of `stats` for the complete steps, as float64 (for plotting and ratios)."""
        return self.rows()[name].astype(np.float64)

    def hist(self, side: str = "auto") -> np.ndarray:
        """Counts [steps, bins] of floor(log2|x|) for the complete steps.

        side: "before", "after", or "auto" = "after", read from "before" for identity roles (the two
        are equal there, and `before` is the side the writer computes). Columns are the exponents of
        StatsFile.exponents.
        """
        if side == "auto":
            side = "before" if self.identity else "after"
        if side not in ("before", "after"):
            raise ValueError(f"side must be 'before', 'after' or 'auto', not {side!r}")
        return self.file.read(self.path, f"hist_{side}")[self._row_index()]

    def hist_fraction(self, side: str = "auto") -> np.ndarray:
        """hist() divided by the tensor's element count: the fraction of all elements (zeros and
        non-finite values included in the denominator) in each binade, so a step's fractions sum to less
        than 1 when it has zeros (values flushed to zero included)."""
        return _ratio(self.hist(side), self.column("count")[:, None])

    def fractions(self) -> dict[str, np.ndarray]:
        """Per complete step: underflow = underflow / count (flushed to zero by the rounding) and
        saturated = (saturated + overflow) / count (clamped to max_finite or sent to inf/NaN)."""
        count = self.column("count")
        return {
            "step": self.steps,
            "underflow": _ratio(self.column("underflow"), count),
            "saturated": _ratio(self.column("saturated") + self.column("overflow"), count),
        }

    def exponent_limits(self) -> tuple[int | None, int | None]:
        """floor(log2) of the smallest positive and of the largest finite value of the site's format;
        (None, None) when max_finite is not finite (range quantizers: the scale changes every step)."""
        return format_exponent_limits(self.format, self.max_finite)


def _open_h5(path: Path) -> h5py.File:
    # The writer takes no lock, so the reader needs none either: without it, a file that a training is
    # still writing opens on HDF5 builds whose locking would refuse it. Older h5py/HDF5 lack the option.
    try:
        return h5py.File(path, "r", locking=False)
    except (TypeError, ValueError):
        return h5py.File(path, "r")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


class StatsFile:
    """An open statistics file. Use as a context manager, or call close()."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise ValueError(f"{self.path}: is a folder, not a bitsim statistics file")
        if not h5py.is_hdf5(self.path):
            raise ValueError(f"{self.path}: not a bitsim statistics file (not an HDF5 file)")
        try:
            self.h5 = _open_h5(self.path)
        except OSError as e:
            # Typically the file lock of a training that is still writing (HDF5 1.10+).
            raise ValueError(
                f"{self.path}: cannot be opened ({e}); if a training is writing it, "
                "set HDF5_USE_FILE_LOCKING=FALSE before starting Python") from e
        try:
            self._check_schema()
            self.attrs = {k: _scalar(v) if not isinstance(v, (bytes, str)) else _text(v)
                          for k, v in self.h5.attrs.items()}
            self.steps = self.h5["steps"][:]
            self.steps = self.steps[: _committed_rows(self.steps["step"])]
            self.step_numbers = self.steps["step"].astype(np.int64)
            self.exponents = (np.arange(int(self.attrs["hist_bins"]), dtype=np.int64)
                              + int(self.attrs["hist_min_exponent"]))
            self.sites = self._read_sites()
        except Exception:
            self.h5.close()
            raise

    def _check_schema(self):
        def bad(why):
            return ValueError(f"{self.path}: not a bitsim statistics file ({why})")

        if "schema" not in self.h5.attrs:
            raise bad("no 'schema' attribute")
        schema = _text(self.h5.attrs["schema"])
        if schema != SCHEMA:
            raise bad(f"schema attribute is {schema!r}, expected {SCHEMA!r}")
        version = _scalar(self.h5.attrs.get("schema_version"))
        if version != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: bitsim statistics schema_version {version} is not supported "
                             f"by this reader (it reads version {SCHEMA_VERSION})")
        for name in ("hist_bins", "hist_min_exponent"):
            if name not in self.h5.attrs:
                raise bad(f"no '{name}' attribute")
        if "steps" not in self.h5:
            raise bad("no /steps dataset")

    def _read_sites(self) -> list[Site]:
        sites = []
        layers = self.h5.get("layers")
        if layers is None:
            return sites
        for group_name, layer_group in layers.items():
            for name, g in layer_group.items():
                if not isinstance(g, h5py.Group) or "stats" not in g:
                    continue
                a = g.attrs
                sites.append(Site(
                    file=self, path=g.name, layer=_text(a.get("layer", group_name)), name=name,
                    kind=_text(a.get("kind", "")), node=int(a.get("node", -1)),
                    role=_text(a.get("role", name.split(".")[0])), tensor=_text(a.get("tensor", "")),
                    slot=int(a.get("slot", 0)), quantizer=_text(a.get("quantizer", "")),
                    format=_text(a.get("format", "")), format_bits=int(a.get("format_bits", 0)),
                    codes=int(a.get("codes", 0)), max_finite=float(a.get("max_finite", math.inf)),
                    order=int(a.get("order", 0))))
        sites.sort(key=lambda s: (s.node, s.order, s.name))
        return sites

    def read(self, group: str, dataset: str, field: str | None = None) -> np.ndarray:
        """All rows of one dataset of a site group (one field of a compound dataset with `field`)."""
        d = self.h5[group][dataset]
        try:
            return d.fields(field)[:] if field else d[:]
        except OSError as e:
            # Without SWMR, a reader's view of the file is fixed when it opens; a training that has
            # flushed further steps since may have moved what that view points to.
            raise OSError(f"{self.path}: reading {group}/{dataset} failed ({e}); if a training is "
                          "writing the file, it changed after it was opened: open it again") from e

    # -- queries ---------------------------------------------------------------------------------

    @property
    def run_name(self) -> str:
        return str(self.attrs.get("run_name", self.path.stem))

    @property
    def last_step(self) -> int | None:
        return int(self.step_numbers[-1]) if len(self.step_numbers) else None

    def layers(self) -> list[str]:
        """Layer names in model order."""
        seen = {}
        for s in self.sites:
            seen.setdefault(s.layer, None)
        return list(seen)

    def find(self, name: str | None = None, role: str | None = None, layer: str | None = None,
             quantized: bool | None = None) -> list[Site]:
        """Sites in model order, filtered by site name ("E", "G.weight"), role ("G"), layer, and
        quantized (True: quantizer != fp32 only; False: identity only)."""
        return [s for s in self.sites
                if (name is None or s.name == name) and (role is None or s.role == role)
                and (layer is None or s.layer == layer)
                and (quantized is None or quantized != s.identity)]

    def site(self, layer: str, name: str) -> Site | None:
        found = self.find(name=name, layer=layer)
        return found[0] if found else None

    def describe(self) -> str:
        n = len(self.step_numbers)
        span = f"steps {self.step_numbers[0]}..{self.step_numbers[-1]}" if n else "no complete step"
        return (f"{self.path}: run {self.run_name!r}, {n} logged step(s) ({span}), "
                f"{len(self.layers())} layers, {len(self.sites)} sites "
                f"({len(self.find(quantized=True))} quantized)")

    def close(self):
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_stats(path) -> StatsFile:
    """Opens a statistics file; FileNotFoundError or ValueError naming the file when it is not one."""
    return StatsFile(path)


# -- helpers for plots -----------------------------------------------------------------------------

_LOAD_COLUMNS = ("layer", "site", "role", "tensor", "quantizer", "format")


def load(path):
    """The statistics of every site at every complete step as a pandas DataFrame in long form: one row
    per (step, site), in step order and then model order, with the columns of `bitsim stats --step all
    --csv`: layer, site, role, tensor, quantizer, format, step, then every field of the site's `stats` rows (count, zeros, underflow,
    saturated, overflow, nonfinite, moments and extremes before and after rounding, ...: docs/hdf5-schema.md)
    and mean_log2, the mean of floor(log2|x|) over the non-zero finite values after rounding.
    Raises ValueError naming the file when it is not a statistics file."""
    import pandas as pd

    frames = []
    with open_stats(path) as f:
        for site in f.sites:
            rows = site.rows()
            frame = pd.DataFrame({name: rows[name] for name in rows.dtype.names})
            # mean of floor(log2|x|) over the non-zero finite values after rounding, as `bitsim stats`
            # computes it (bins summed in order, in double; NaN when there are none)
            hist = site.hist("after").astype(np.float64)
            total = np.cumsum(hist * f.exponents.astype(np.float64), axis=1)[:, -1]
            count = np.cumsum(hist, axis=1)[:, -1]
            with np.errstate(invalid="ignore", divide="ignore"):
                frame["mean_log2"] = np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)
            for column, value in reversed(list(zip(_LOAD_COLUMNS, (site.layer, site.name, site.role, site.tensor,
                                                                 site.quantizer, site.format)))):
                frame.insert(0, column, value)
            frame["_order"] = len(frames)
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*_LOAD_COLUMNS, "step"])
    df = pd.concat(frames, ignore_index=True)
    df["step"] = df["step"].astype("int64")
    df = df.sort_values(["step", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    return df


def occupied_exponents(exponents: np.ndarray, *counts: np.ndarray, margin: int = 2):
    """(lo, hi): the smallest and largest exponent with a non-zero count in any of the matrices, widened
    by `margin` binades; None when all are empty."""
    used = np.zeros(len(exponents), dtype=bool)
    for c in counts:
        if c.size:
            used |= np.asarray(c).reshape(-1, len(exponents)).any(axis=0)
    if not used.any():
        return None
    idx = np.flatnonzero(used)
    return int(exponents[idx[0]]) - margin, int(exponents[idx[-1]]) + margin


def step_edges(steps: np.ndarray) -> np.ndarray:
    """Cell edges around each logged step (midpoints between neighbours) for pcolormesh, so unevenly
    spaced or single steps still get cells of a sensible width."""
    s = np.asarray(steps, dtype=np.float64)
    if len(s) == 0:
        return np.array([0.0, 1.0])
    if len(s) == 1:
        return np.array([s[0] - 0.5, s[0] + 0.5])
    mid = (s[1:] + s[:-1]) / 2
    return np.concatenate([[s[0] - (mid[0] - s[0])], mid, [s[-1] + (s[-1] - mid[-1])]])


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with columns padded to their widest cell (numbers right-aligned)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def numeric(c):
        return bool(re.fullmatch(r"[-+]?(\d|inf|nan)[\d.eE+\-%]*|-", str(c)))

    def line(cells):
        return "  ".join(str(c).rjust(w) if numeric(c) else str(c).ljust(w)
                         for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


# -- format limits -------------------------------------------------------------------------------

# docs/spec/formats.md, "Aliases" (only the ones whose smallest value is needed here).
_ALIASES = {
    "fp64": "float(e=11,m=52)", "fp32": "float(e=8,m=23)", "fp16": "float(e=5,m=10)",
    "bf16": "float(e=8,m=7)", "tf32": "float(e=8,m=10)", "fp8_e5m2": "float(e=5,m=2)",
    "fp8_e4m3": "float(e=4,m=3,special=fn)", "fp8_e4m3fnuz": "float(e=4,m=3,special=fnuz)",
    "fp8_e5m2fnuz": "float(e=5,m=2,special=fnuz)", "fp6_e3m2": "float(e=3,m=2,special=none)",
    "fp6_e2m3": "float(e=2,m=3,special=none)", "fp4_e2m1": "float(e=2,m=1,special=none)",
    "int8": "fixed(i=7,f=0)", "int16": "fixed(i=15,f=0)", "int32": "fixed(i=31,f=0)",
    "uint8": "fixed(i=8,f=0,signed=no)",
    "graham_L2": "log(k=1,lo=-1,hi=0,scale=1.034,offset=0.5)",
    "graham_L3": "log(k=1,lo=-1,hi=2,scale=1.316)", "graham_L4": "log(k=1,lo=-3,hi=4,scale=1.36)",
    "graham_L5": "log(k=2,lo=-6,hi=9,scale=1.177)", "graham_U4": "midrise(s=2,lo=-8,hi=7)",
    "graham_U5": "midrise(s=3,lo=-16,hi=15)", "graham_U8": "midrise(s=8,lo=-128,hi=127)",
}


def _floor_log2(x: Fraction) -> int:
    # Exact for rationals: avoids log2 rounding up to the next integer just below a power of two.
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while Fraction(2) ** e > x:
        e -= 1
    while Fraction(2) ** (e + 1) <= x:
        e += 1
    return e


def smallest_exponent(format_name: str) -> int | None:
    """floor(log2) of the smallest positive value of a format (docs/spec/formats.md), or None when
    the name is not one of the float, fixed, log or midrise forms."""
    spec = _ALIASES.get(format_name.replace(" ", ""), format_name.replace(" ", ""))
    if spec == "graham_O4":  # sign(x) (a^(1/2) - 1), a = 1.29: 0.1358 = 2^-2.88
        return -3
    m = re.fullmatch(r"(float|fixed|log|midrise)\((.*)\)", spec)
    if not m:
        return None
    try:
        args = dict(item.split("=", 1) for item in m.group(2).split(",") if item)
        if m.group(1) == "float":
            e, mant = int(args["e"]), int(args["m"])
            special = args.get("special", "ieee")
            bias = int(args.get("bias", 2 ** (e - 1) if special in ("fnuz", "inuz") else 2 ** (e - 1) - 1))
            # Smallest subnormal 2^(1-bias-m); with subnormals=no the smallest normal 2^(1-bias).
            return 1 - bias - (mant if args.get("subnormals", "yes") == "yes" else 0)
        if m.group(1) == "fixed":
            return -int(args["f"])
        if m.group(1) == "log":  # value = 2^(offset + n/k), n >= lo
            return math.floor(Fraction(args.get("offset", "0")) + Fraction(int(args["lo"]), int(args["k"])))
        # midrise: the smallest magnitude is 1/(2s).
        return _floor_log2(1 / (2 * Fraction(args["s"])))
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def format_exponent_limits(format_name: str, max_finite: float) -> tuple[int | None, int | None]:
    """(floor(log2) of the smallest positive value, floor(log2 max_finite)) when max_finite is finite,
    else (None, None)."""
    if not math.isfinite(max_finite) or max_finite <= 0:
        return None, None
    return smallest_exponent(format_name), _floor_log2(Fraction(max_finite))


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python3 bitsim_stats.py STATS.h5...", file=sys.stderr)
        return 2
    status = 0
    for path in argv:
        try:
            with open_stats(path) as f:
                print(f.describe())
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
