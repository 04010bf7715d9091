"""The statistics reader of the Python package, python/bitsim/stats.py, loaded from its file: the
notebooks here and scripts/sweep_report.py import `bitsim_stats` from this folder and need neither a
build of the package's extension nor an installed package. See that file for the API;
`python3 bitsim_stats.py FILE...` checks and describes statistics files."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "bitsim_stats_impl", Path(__file__).resolve().parent.parent / "python" / "bitsim" / "stats.py")
_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _module  # dataclasses look their module up by name
_spec.loader.exec_module(_module)
globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
