"""Long-horizon benchmark: RevINRegressor on ETTh1 and ETTh2 against RLinear.

Run by hand, never as a test::

    python benchmarks/bench_ltsf.py            # all 8 cells, a few minutes
    python benchmarks/bench_ltsf.py --quick    # ETTh2, 48 in, 12 out, 2000 windows
    python benchmarks/bench_ltsf.py --data-dir DIR   # ETTh1.csv, ETTh2.csv in DIR

The data are not part of the project: ``ETTh1.csv`` and ``ETTh2.csv`` are the
files ``ETT-small/ETTh1.csv`` and ``ETT-small/ETTh2.csv`` of the public
repository https://github.com/zhouhaoyi/ETDataset (CC BY-ND 4.0; Zhou et al.,
"Informer", AAAI 2021). Download them into a directory and pass it as
``--data-dir``; the default is ``../shared/data`` beside the clone, where the
project's CI keeps them.

The protocol is that of the long-horizon forecasting papers, as RLinear's own
code (plumprc/RTSF, ``data_provider/data_loader.py``, ``Dataset_ETT_hour``)
implements it:

- the 7 variates of ETTh1 / ETTh2 (ETT-small of zhouhaoyi/ETDataset), hourly,
  read from ``--data-dir`` (default ``../shared/data`` beside the clone);
- 12 / 4 / 4 months of 30 days for train / validation / test, each part but
  the first starting ``seq_len`` steps early, so that its first window's input
  lies in the previous part: ``border1s = [0, 12*30*24 - seq_len,
  12*30*24 + 4*30*24 - seq_len]``, ``border2s = [12*30*24, 12*30*24 +
  4*30*24, 12*30*24 + 8*30*24]``;
- a StandardScaler fitted on the training part, applied to all, and every
  error measured on that standardized scale;
- 336 input steps, horizons 96, 192, 336 and 720; every window of a part
  (``len(part) - seq_len - horizon + 1``, step 1).

Test MSE and MAE average over windows, horizon steps and the 7 variates, in
two ways: over every test window, and as RLinear's code evaluates, whose test
loader (``drop_last=True``) leaves out the last incomplete batch (batch 128
for ETTh1, 256 for ETTh2: the last 1 to 255 windows). Nothing here uses the
validation part: the models have no early stopping and keep their defaults.

Models: the naive last-value forecast; linear regression without RevIN, one
window per variate; ``RevINRegressor(Ridge(), channel_independent=True)``
with ``window_weights`` "scale" (its default here) and "uniform";
``RevINRegressor(Ridge(), n_variates=7)`` on the windows of all variates
(channel mixing), "scale" (one Ridge per target variate) and "uniform". The
reference is RLinear (RevIN and one linear layer trained end to end, Li et
al. 2023), as published, and as measured by hand on this machine from its own
code (``benchmarks/results/rlinear_cpu.json``; see the docs page "Long-horizon
benchmark" for how).

Results are printed and written to ``benchmarks/results/bench_ltsf.json``,
``.md``, ``.rst`` (included by the docs page) and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_revin import RESULTS, describe_machine, machine_info

from sklearn_revin import RevINRegressor, make_windows

# Public data beside the clone, never inside the project.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
ETT_SOURCE = (
    "ETT-small/ETTh1.csv and ETT-small/ETTh2.csv of "
    "https://github.com/zhouhaoyi/ETDataset (CC BY-ND 4.0)"
)
SEQ_LEN = 336
HORIZONS = (96, 192, 336, 720)
# RLinear's batch size per data set (RTSF's script.md); its test loader drops
# the last incomplete batch.
BATCH_SIZE = {"ETTh1": 128, "ETTh2": 256}
# Li et al. 2023, "Revisiting Long-term Time Series Forecasting: An
# Investigation on Linear Mapping" (arXiv:2305.10721), RLinear, test MSE.
RLINEAR_PUBLISHED = {
    "ETTh1": {96: 0.366, 192: 0.404, 336: 0.420, 720: 0.442},
    "ETTh2": {96: 0.262, 192: 0.320, 336: 0.325, 720: 0.372},
}
RLINEAR_MEASURED = RESULTS / "rlinear_cpu.json"
DEFAULTS = "RevINRegressor(Ridge(), channel_independent=True)"
# The defaults must stay within this factor of RLinear's published MSE.
TARGET_RATIO = 1.02


def find_data(data_dir: Path | None, names: list[str]) -> Path:
    """Return the directory that holds ``<name>.csv`` for every name.

    Exits with a message that says where to get the files when one is missing.
    """
    directory = DEFAULT_DATA_DIR if data_dir is None else data_dir
    missing = [name for name in names if not (directory / f"{name}.csv").is_file()]
    if missing:
        files = ", ".join(f"{name}.csv" for name in missing)
        raise SystemExit(
            f"{files} not found in {directory}. Download {ETT_SOURCE} into a "
            "directory and pass it as --data-dir DIR (the default, "
            f"{DEFAULT_DATA_DIR}, is where the project's CI keeps them)."
        )
    return directory


def load_parts(name: str, seq_len: int, data_dir: Path) -> dict[str, np.ndarray]:
    """Return the standardized train, val and test parts of ETTh1 or ETTh2.

    As ``Dataset_ETT_hour.__read_data__`` of RTSF with ``features="M"``: all
    columns but the date, a StandardScaler fitted on the training rows.
    """
    frame = pd.read_csv(data_dir / f"{name}.csv")
    values = frame.iloc[:, 1:].to_numpy(dtype=np.float64)
    month = 30 * 24
    border1s = [0, 12 * month - seq_len, 12 * month + 4 * month - seq_len]
    border2s = [12 * month, 12 * month + 4 * month, 12 * month + 8 * month]
    scaler = StandardScaler().fit(values[border1s[0] : border2s[0]])
    data = scaler.transform(values)
    return {
        part: data[start:stop]
        for part, start, stop in zip(
            ("train", "val", "test"), border1s, border2s, strict=True
        )
    }


@dataclass(frozen=True)
class Model:
    """A forecaster of the benchmark: ``fit(X, Y)`` then ``predict(X)``."""

    name: str
    make: Callable[[int], object]  # n_variates -> an unfitted estimator
    note: str = ""


class NaiveLastValue:
    """Repeat each variate's last input value over the horizon."""

    def __init__(self, n_variates: int):
        self.n_variates = n_variates

    def fit(self, X, Y):
        self.horizon_ = Y.shape[1] // self.n_variates
        return self

    def predict(self, X):
        windows = np.asarray(X).reshape(len(X), self.n_variates, -1)
        last = windows[:, :, -1:]
        return np.repeat(last, self.horizon_, axis=2).reshape(len(X), -1)


class ChannelIndependentLinear:
    """Linear regression without RevIN, one window per variate (by reshaping)."""

    def __init__(self, n_variates: int):
        self.n_variates = n_variates

    def _rows(self, values):
        return np.asarray(values).reshape(len(values) * self.n_variates, -1)

    def fit(self, X, Y):
        self.model_ = LinearRegression().fit(self._rows(X), self._rows(Y))
        return self

    def predict(self, X):
        return self.model_.predict(self._rows(X)).reshape(len(X), -1)


MODELS = [
    Model("naive (last value)", NaiveLastValue),
    Model(
        "linear regression, no RevIN (one window per variate)",
        ChannelIndependentLinear,
    ),
    Model(
        DEFAULTS,
        lambda n_variates: RevINRegressor(
            Ridge(), n_variates=n_variates, channel_independent=True
        ),
        "the defaults: window_weights='auto', i.e. 'scale'",
    ),
    Model(
        f"{DEFAULTS[:-1]}, window_weights='uniform')",
        lambda n_variates: RevINRegressor(
            Ridge(),
            n_variates=n_variates,
            channel_independent=True,
            window_weights="uniform",
        ),
    ),
    Model(
        "RevINRegressor(Ridge(), n_variates=7), channel mixing",
        lambda n_variates: RevINRegressor(Ridge(), n_variates=n_variates),
        "'scale': one Ridge per target variate, on the windows of all 7",
    ),
    Model(
        "RevINRegressor(Ridge(), n_variates=7, window_weights='uniform')",
        lambda n_variates: RevINRegressor(
            Ridge(), n_variates=n_variates, window_weights="uniform"
        ),
        "one Ridge for all 7 target variates",
    ),
]


def errors(predicted: np.ndarray, Y: np.ndarray, rows: int) -> dict[str, float]:
    """MSE and MAE over the first ``rows`` windows, every step and variate."""
    difference = predicted[:rows] - Y[:rows]
    return {
        "mse": float(np.mean(difference**2)),
        "mae": float(np.mean(np.abs(difference))),
    }


def run_cell(
    name: str, parts: dict, seq_len: int, horizon: int, models, *, last_train=None
) -> dict:
    """Fit every model on one data set and horizon; return its numbers.

    ``last_train`` keeps only the last windows of the training part (--quick).
    """
    X_train, Y_train = make_windows(parts["train"], seq_len, horizon)
    if last_train is not None:
        X_train, Y_train = X_train[-last_train:], Y_train[-last_train:]
    X_test, Y_test = make_windows(parts["test"], seq_len, horizon)
    n_variates = parts["train"].shape[1]
    n_test = len(X_test)
    kept = (n_test // BATCH_SIZE[name]) * BATCH_SIZE[name]
    cell = {
        "dataset": name,
        "seq_len": seq_len,
        "horizon": horizon,
        "n_train_windows": len(X_train),
        "n_test_windows": n_test,
        "n_test_windows_drop_last": kept,
        "batch_size": BATCH_SIZE[name],
        "models": {},
    }
    for model in models:
        estimator = model.make(n_variates)
        start = time.perf_counter()
        estimator.fit(X_train, Y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        predicted = np.asarray(estimator.predict(X_test))
        predict_s = time.perf_counter() - start
        cell["models"][model.name] = {
            "all_windows": errors(predicted, Y_test, n_test),
            "drop_last": errors(predicted, Y_test, kept),
            "fit_s": fit_s,
            "predict_s": predict_s,
            "window_weights_": getattr(estimator, "window_weights_", None),
        }
        line = cell["models"][model.name]
        print(
            f"{name} {horizon:>4}  {model.name:<66} "
            f"MSE {line['all_windows']['mse']:.4f} (drop-last "
            f"{line['drop_last']['mse']:.4f})  fit {fit_s:.1f} s",
            flush=True,
        )
    return cell


def load_measured_rlinear(path: Path = RLINEAR_MEASURED) -> dict:
    """RLinear's own code, run by hand on this machine (see the docs page)."""
    if not path.exists():
        return {}
    return json.loads(path.read_text())["results"]


# ------------------------------------------------------------------- tables


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def _columns(cells: list[dict]) -> list[tuple[str, int]]:
    return [(cell["dataset"], cell["horizon"]) for cell in cells]


def table_rows(cells: list[dict], measured: dict) -> dict[str, list[list[str]]]:
    """The tables of the page, each a list of rows (first row: the header)."""
    columns = _columns(cells)
    header = ["model", *(f"{name} {horizon}" for name, horizon in columns)]
    by_column = {(c["dataset"], c["horizon"]): c for c in cells}
    names = list(cells[0]["models"])

    def model_rows(evaluation, metric):
        rows = []
        for name in names:
            values = [
                by_column[column]["models"][name][evaluation][metric]
                for column in columns
            ]
            rows.append([name, *(_number(v) for v in values)])
        return rows

    def published_row():
        return [
            "RLinear, published (Li et al. 2023)",
            *(
                _number(RLINEAR_PUBLISHED.get(name, {}).get(horizon))
                for name, horizon in columns
            ),
        ]

    def measured_row(metric):
        values = [
            measured.get(name, {}).get(str(horizon), {}).get(metric)
            for name, horizon in columns
        ]
        return ["RLinear, its code run here (CPU)", *(_number(v) for v in values)]

    def ratio_row():
        values = []
        for name, horizon in columns:
            published = RLINEAR_PUBLISHED.get(name, {}).get(horizon)
            ours = by_column[(name, horizon)]["models"][DEFAULTS]["drop_last"]["mse"]
            values.append(f"{ours / published:.3f}" if published else "—")
        return [f"{DEFAULTS} / RLinear published", *values]

    def fit_rows():
        rows = []
        for name in names:
            values = [by_column[c]["models"][name]["fit_s"] for c in columns]
            rows.append([name, *(f"{v:.1f}" for v in values)])
        values = [
            measured.get(name, {}).get(str(horizon), {}).get("train_s")
            for name, horizon in columns
        ]
        rows.append(
            [
                "RLinear, its code run here: training epochs (CPU)",
                *(_number(v, 1) for v in values),
            ]
        )
        return rows

    return {
        "Test MSE, as RLinear's code evaluates (last incomplete batch left out)": [
            header,
            *model_rows("drop_last", "mse"),
            published_row(),
            measured_row("mse"),
            ratio_row(),
        ],
        "Test MSE, every test window": [header, *model_rows("all_windows", "mse")],
        "Test MAE, as RLinear's code evaluates": [
            header,
            *model_rows("drop_last", "mae"),
            measured_row("mae"),
        ],
        "Test MAE, every test window": [header, *model_rows("all_windows", "mae")],
        "Fit time (s)": [header, *fit_rows()],
    }


def markdown(tables: dict, cells: list[dict], machine: dict) -> str:
    lines = ["# Long-horizon benchmark (ETTh1, ETTh2)", "", describe_machine(machine)]
    lines += ["", _windows_sentence(cells), ""]
    for title, rows in tables.items():
        lines += [f"## {title}", ""]
        lines.append("| " + " | ".join(rows[0]) + " |")
        lines.append("|---|" + "---:|" * (len(rows[0]) - 1))
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        lines.append("")
    return "\n".join(lines)


def _rst_escape(text: str) -> str:
    return text.replace("*", r"\*").replace("_", r"\_")


def restructuredtext(tables: dict, cells: list[dict], machine: dict) -> str:
    lines = [describe_machine(machine), "", _windows_sentence(cells), ""]
    for title, rows in tables.items():
        lines += [f".. list-table:: {title}", "   :header-rows: 1", ""]
        for row in rows:
            first, *rest = (_rst_escape(cell) for cell in row)
            lines.append(f"   * - {first}")
            lines += [f"     - {cell}" for cell in rest]
        lines.append("")
    return "\n".join(lines)


def _windows_sentence(cells: list[dict]) -> str:
    parts = [
        f"{c['dataset']} {c['horizon']}: {c['n_test_windows']:,} test windows, "
        f"{c['n_test_windows_drop_last']:,} in batches of {c['batch_size']}"
        for c in cells
    ]
    return (
        f"{cells[0]['seq_len']} input steps; trained on "
        f"{cells[0]['n_train_windows']:,} windows at horizon {cells[0]['horizon']}. "
        "Test windows, all and as RLinear's test loader keeps them: "
        + "; ".join(parts)
        + "."
    )


def plot(cells: list[dict], measured: dict, path: Path) -> None:
    """MSE against horizon, RLinear's evaluation, one panel per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 12,
            "axes.titlesize": 14,
            "axes.labelsize": 12,
            "legend.fontsize": 11,
        }
    )
    names = sorted({cell["dataset"] for cell in cells})
    # Wide panels for a page 1280 px wide, and the legend under them, off the
    # lines.
    figure, axes = plt.subplots(
        1, len(names), figsize=(6.5 * len(names), 5.2), squeeze=False
    )
    axes = axes[0]
    for axis, dataset in zip(axes, names, strict=True):
        own = [c for c in cells if c["dataset"] == dataset]
        horizons = [c["horizon"] for c in own]
        for model in own[0]["models"]:
            values = [c["models"][model]["drop_last"]["mse"] for c in own]
            width = 2.5 if model == DEFAULTS else 1.2
            axis.plot(horizons, values, marker="o", linewidth=width, label=model)
        published = [RLINEAR_PUBLISHED.get(dataset, {}).get(h) for h in horizons]
        if all(v is not None for v in published):
            axis.plot(
                horizons, published, "k*", markersize=12, label="RLinear, published"
            )
        ran = [measured.get(dataset, {}).get(str(h), {}).get("mse") for h in horizons]
        if all(v is not None for v in ran):
            axis.plot(horizons, ran, "kx", markersize=10, label="RLinear, run here")
        axis.set_yscale("log")
        axis.set_xticks(horizons)
        axis.set_xlabel("horizon (hours)")
        axis.set_ylabel("test MSE (standardized)")
        axis.set_title(f"{dataset}, RLinear's evaluation")
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="lower center",
        ncol=2,
        frameon=False,
    )
    figure.tight_layout(rect=(0, 0.22, 1, 1))
    figure.savefig(path, dpi=130)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="ETTh2, 48 steps in, 12 out, the last 2000 training windows: seconds",
    )
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--horizons", nargs="*", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding ETTh1.csv and ETTh2.csv (default: "
        f"{DEFAULT_DATA_DIR}); the files: {ETT_SOURCE}",
    )
    parser.add_argument(
        "--plot-only",
        action="store_true",
        help="redraw bench_ltsf.png from the bench_ltsf.json in --out-dir; no fit",
    )
    args = parser.parse_args(argv)
    if args.plot_only:
        saved = json.loads((args.out_dir / "bench_ltsf.json").read_text())
        plot(saved["cells"], saved["rlinear_measured"], args.out_dir / "bench_ltsf.png")
        return
    seq_len = 48 if args.quick else SEQ_LEN
    datasets = args.datasets or (["ETTh2"] if args.quick else list(BATCH_SIZE))
    horizons = args.horizons or ([12] if args.quick else list(HORIZONS))

    data_dir = find_data(args.data_dir, datasets)
    machine = machine_info()
    cells = []
    for name in datasets:
        parts = load_parts(name, seq_len, data_dir)
        for horizon in horizons:
            cells.append(
                run_cell(
                    name,
                    parts,
                    seq_len,
                    horizon,
                    MODELS,
                    last_train=2000 if args.quick else None,
                )
            )
    measured = {} if args.quick else load_measured_rlinear()
    tables = table_rows(cells, measured)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine,
        "protocol": {
            "seq_len": seq_len,
            "borders": "RTSF Dataset_ETT_hour: 12/4/4 months of 30 days",
            "scaling": "StandardScaler fitted on the training part",
            "drop_last_batch_size": BATCH_SIZE,
        },
        "rlinear_published_mse": RLINEAR_PUBLISHED,
        "rlinear_measured": measured,
        "cells": cells,
    }
    (args.out_dir / "bench_ltsf.json").write_text(json.dumps(payload, indent=2))
    (args.out_dir / "bench_ltsf.md").write_text(markdown(tables, cells, machine))
    (args.out_dir / "bench_ltsf.rst").write_text(
        restructuredtext(tables, cells, machine)
    )
    try:
        plot(cells, measured, args.out_dir / "bench_ltsf.png")
    except ImportError:
        print("matplotlib is not installed: no plot")
    print(markdown(tables, cells, machine))


if __name__ == "__main__":
    main()
