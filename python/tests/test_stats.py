"""bitsim.stats.load: a statistics file as one pandas DataFrame, equal to `bitsim stats --step all --csv`."""

import numpy as np
import pandas as pd
import pytest

import bitsim.stats
from conftest import ROOT

SHRINK = ["--set", "model.width=8", "--set", "data.limit_train=256", "--set", "data.limit_test=64", "--set", "data.batch=64",
          "--set", "train.epochs=1", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def stats_file(cli, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    cli("train", str(ROOT / "experiments/banner2018/cnn_q8_rangebn_bif.toml"), *SHRINK, "--set", f"run.dir={run}",
        "--set", "stats.every=2")
    return run / "stats.h5"


def test_load_equals_the_csv_export(cli, stats_file, tmp_path):
    df = bitsim.stats.load(stats_file)
    cli("stats", str(stats_file), "--step", "all", "--csv", str(tmp_path / "all.csv"))
    csv = pd.read_csv(tmp_path / "all.csv", float_precision="round_trip")
    assert list(df.columns) == list(csv.columns)
    key = ["step", "layer", "site"]
    a = df.sort_values(key).reset_index(drop=True)
    b = csv.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) > 0
    assert sorted(df["step"].unique()) == [0, 2]
    for column in df.columns:
        if df[column].dtype.kind in "biuf":
            assert np.array_equal(a[column].to_numpy(np.float64), b[column].to_numpy(np.float64), equal_nan=True), column
        else:
            assert list(a[column].astype(str)) == list(b[column].fillna("").astype(str)), column  # pandas reads "" as NaN
    # Rows come in step order, then model order (conv1 before fc).
    assert df["step"].is_monotonic_increasing
    first = df[df["step"] == 0]["layer"].tolist()
    assert first.index("conv1") < first.index("fc1")


def test_load_refuses_other_files(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises((ValueError, OSError), match="x.h5"):
        bitsim.stats.load(tmp_path / "x.h5")
