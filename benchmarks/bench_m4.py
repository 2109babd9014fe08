"""M4 Hourly: one global RevINRegressor across 414 series, scored as the competition.

Run by hand, never as a test::

    python benchmarks/bench_m4.py                 # all 414 series, minutes
    python benchmarks/bench_m4.py --quick         # 12 series, every 48th window,
                                                  # 10 trees: seconds (CI smoke)
    python benchmarks/bench_m4.py --gbdt-windows 168 --no-autoets  # a loaded machine
    python benchmarks/bench_m4.py --data-dir DIR  # where m4/Hourly-*.csv are

Data: the 414 hourly series of the M4 competition (Makridakis, Spiliotis and
Assimakopoulos, IJF 2020), ``Dataset/Train/Hourly-train.csv`` and
``Dataset/Test/Hourly-test.csv`` of the public repository
Mcompetitions/M4-methods, read from ``DIR/m4/`` (default ``../shared/data``
next to the project); never copied into the project.

Protocol: 48 hours ahead from the end of each training series; sMAPE, MASE
(seasonal naive scale, m=24) and OWA relative to Naive2 exactly as the
competition computes them (:mod:`sklearn_revin.metrics`, pinned to the
published Naive2 18.383 / 2.395 by tests/test_metrics.py). The package's
one-liners are global models on the windows of all series, cut by
``make_windows(long_frame, window, 48, step=12, id_col="unique_id",
time_col="ds")`` (every 12th window of each series, the last one ending at
its last hour), direct multi-output over the 48 steps:
``RevINRegressor(Ridge(), seasonality=24)`` and
``RevINRegressor(MultiOutputRegressor(LGBMRegressor()), seasonality=24)``,
fitted with ``fit(X, Y)``: ``X``'s ``(unique_id, ds)`` index tells the
series, so ``window_weights="auto"`` is ``"scale_free"`` in MASE's units.
The window length is chosen on a validation split (the last 48 hours of each
training series held out, fitted on the rest) among ``--windows`` for Ridge
and ``--gbdt-windows`` for LightGBM (one value: fixed, not validated).
Peers where installed: statsforecast SeasonalNaive and AutoETS (AutoETS
once, cached in the results), mlforecast with LightGBM and its target
transforms. Published M4 results are cited.

Results: ``benchmarks/results/bench_m4.json``, ``.md`` and ``.rst`` (the
table of the docs page "Many series"), and the figure
``docs/figures/m4_forecasts.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.multioutput import MultiOutputRegressor

from sklearn_revin import RevINRegressor, make_windows
from sklearn_revin.metrics import mase, naive2_forecast, owa, smape

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FIGURE = ROOT / "docs" / "figures" / "m4_forecasts.png"
HORIZON, SEASON, STEP = 48, 24, 12
NAIVE2 = {"smape": 18.383, "mase": 2.395}  # published, all 414 series

PUBLISHED = [
    ("ES-RNN (Smyl), M4 winner", 9.328, 0.893, 0.440),
    ("FFORMA (Montero-Manso et al.), M4 second", 11.506, 0.819, 0.484),
    ("best Hourly OWA of the competition", None, None, 0.410),
    ("mlforecast tuned LightGBM (its M4 test)", 10.298, 0.872, 0.462),
    ("sNaive (published)", None, None, 0.628),
]


def read_m4_hourly(data_dir: Path, n_series: int | None = None):
    """Training series (list of arrays) and test values (n_series, 48)."""
    folder = data_dir / "m4"
    train = pd.read_csv(folder / "Hourly-train.csv", index_col=0)
    test = pd.read_csv(folder / "Hourly-test.csv", index_col=0)
    if n_series is not None:
        rows = np.linspace(0, len(train) - 1, n_series).round().astype(int)
        train, test = train.iloc[rows], test.iloc[rows]
    series = [row.dropna().to_numpy(dtype=np.float64) for _, row in train.iterrows()]
    return list(train.index), series, test.to_numpy(dtype=np.float64)


def panel_windows(series: list[np.ndarray], window: int, horizon: int, step: int):
    """Every ``step``-th window of each series, the last one ending at its end.

    ``make_windows`` with ``id_col`` on the long frame of the series, each
    series started ``(n - window - horizon) % step`` hours late so that its
    last window ends at its last value. ``X`` and ``Y`` are pandas frames
    indexed by ``(unique_id, ds)``.
    """
    offsets = [(values.size - window - horizon) % step for values in series]
    frame = long_frame([values[k:] for values, k in zip(series, offsets, strict=True)])
    return make_windows(
        frame, window, horizon, step=step, id_col="unique_id", time_col="ds"
    )


def last_windows(series: list[np.ndarray], window: int):
    """Each series' last window, to forecast from (``horizon=0``)."""
    X, _ = make_windows(
        long_frame(series), window, 0, id_col="unique_id", time_col="ds"
    )
    return X


def score(actual, forecast, train) -> dict:
    s = smape(actual, forecast)
    m = mase(actual, forecast, train, seasonality=SEASON)
    return {"smape": s, "mase": m}


def with_owa(scores: dict, naive2: dict) -> dict:
    value = owa(
        scores["smape"],
        scores["mase"],
        naive2_smape=naive2["smape"],
        naive2_mase=naive2["mase"],
    )
    return {**scores, "owa": value}


def fit_forecast(model, series, window, step=STEP):
    """Fit a global model on every series' windows; forecast each series' next 48.

    The ``(unique_id, ds)`` index of the windows tells ``fit`` the series of
    each window: ``window_weights="auto"`` weighs every series in its own
    units ("scale_free").
    """
    X, Y = panel_windows(series, window, HORIZON, step)
    X_last = last_windows(series, window)
    tracemalloc.start()
    start = time.perf_counter()
    fitted = clone(model).fit(X, Y)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    forecast = np.asarray(fitted.predict(X_last), dtype=np.float64)
    predict_time = time.perf_counter() - start
    # rows in the order of the series (unique_id k is the k-th series)
    forecast = forecast[np.argsort(X_last.index.get_level_values("unique_id"))]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    timing = {
        "fit_s": fit_time,
        "predict_s": predict_time,
        "peak_mib": peak / 2**20,
        "n_windows": len(X),
        "window": window,
        "window_weights_": fitted.window_weights_,
    }
    return forecast, timing


def choose_window(model, series, windows, step=STEP):
    """The window length of best OWA on the last 48 hours of each training series."""
    fit_part = [values[:-HORIZON] for values in series]
    held_out = np.array([values[-HORIZON:] for values in series])
    naive2 = score(
        held_out, naive2_forecast(fit_part, HORIZON, seasonality=SEASON), fit_part
    )
    validation = {}
    for window in windows:
        forecast, _ = fit_forecast(model, fit_part, window, step)
        scores = with_owa(score(held_out, forecast, fit_part), naive2)
        validation[window] = scores["owa"]
    return min(validation, key=validation.get), validation


def gbdt(n_estimators: int):
    """LightGBM where installed, else scikit-learn's HistGradientBoosting."""
    try:
        from lightgbm import LGBMRegressor
    except ImportError:
        from sklearn.ensemble import HistGradientBoostingRegressor

        return "HistGradientBoosting", MultiOutputRegressor(
            HistGradientBoostingRegressor(max_iter=n_estimators)
        )
    return "LightGBM", MultiOutputRegressor(
        LGBMRegressor(n_estimators=n_estimators, verbose=-1, n_jobs=1)
    )


def one_liners(args, window_weights: str):
    """The documented one-liners, named by what differs from their defaults."""
    name, boosted = gbdt(args.n_estimators)
    if args.n_estimators != 100:
        name += f", {args.n_estimators} trees"
    options = {"seasonality": args.seasonality} if args.seasonality != 1 else {}
    if window_weights != "auto":
        options["window_weights"] = window_weights
    if args.window_statistics:
        options["window_statistics"] = True
    described = "".join(f", {key}={value!r}" for key, value in options.items())
    models = {
        "ridge": (f"RevINRegressor(Ridge(){described})", Ridge()),
        "gbdt": (f"RevINRegressor({name}{described})", boosted),
    }
    return {
        label: RevINRegressor(regressor, **options)
        for key, (label, regressor) in models.items()
        if key in args.models
    }


def long_frame(series: list[np.ndarray]) -> pd.DataFrame:
    """The training series as the long frame of Nixtla's libraries, hourly ``ds``."""
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": k,
                    "ds": pd.date_range("2000-01-01", periods=values.size, freq="h"),
                    "y": values,
                }
            )
            for k, values in enumerate(series)
        ],
        ignore_index=True,
    )


def _as_rows(forecast: pd.DataFrame, column: str, n_series: int) -> np.ndarray:
    forecast = forecast.sort_values(["unique_id", "ds"])
    return forecast[column].to_numpy(dtype=np.float64).reshape(n_series, HORIZON)


def _timed(run):
    tracemalloc.start()
    start = time.perf_counter()
    forecast = run()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return forecast, {"fit_s": elapsed, "predict_s": None, "peak_mib": peak / 2**20}


def peers(series, quick: bool, cache: dict):
    """Yield (name, (forecast, timing)) of the peers that are installed."""
    frame, n = long_frame(series), len(series)
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS, SeasonalNaive
    except ImportError:
        print("statsforecast is not installed: its rows are left out")
        StatsForecast = None

    def run_stats(model, column):
        def run():
            fitted = StatsForecast(models=[model], freq="h", n_jobs=1)
            return _as_rows(fitted.forecast(df=frame, h=HORIZON), column, n)

        return _timed(run)

    if StatsForecast is not None:
        yield (
            "statsforecast SeasonalNaive(24)",
            run_stats(SeasonalNaive(season_length=SEASON), "SeasonalNaive"),
        )
    try:
        from lightgbm import LGBMRegressor
        from mlforecast import MLForecast
        from mlforecast.target_transforms import Differences, LocalStandardScaler
    except ImportError:
        print("mlforecast or lightgbm is not installed: their rows are left out")
    else:

        def run_ml(transforms):
            def run():
                fitted = MLForecast(
                    models={"lgbm": LGBMRegressor(verbose=-1, n_jobs=1)},
                    freq="h",
                    lags=[1, 2, 3, 24, 48, 168],
                    target_transforms=transforms,
                ).fit(frame)
                return _as_rows(fitted.predict(HORIZON), "lgbm", n)

            return _timed(run)

        yield (
            "mlforecast LightGBM, Differences(24) + LocalStandardScaler",
            run_ml([Differences([SEASON]), LocalStandardScaler()]),
        )
        if not quick:
            yield (
                "mlforecast LightGBM, LocalStandardScaler",
                run_ml([LocalStandardScaler()]),
            )
    name = "statsforecast AutoETS(season_length=24)"
    if StatsForecast is not None and not quick and name not in cache:
        # minutes: run once, then read from the previous results
        yield name, run_stats(AutoETS(season_length=SEASON), "AutoETS")


def plot_forecasts(series, test, forecasts: dict, path: Path) -> None:
    """A few series: the last two weeks of training, the test and the forecasts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.linspace(0, len(series) - 1, 4).round().astype(int)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), constrained_layout=True)
    for ax, k in zip(axes.ravel(), picks, strict=True):
        history = series[k][-336:]
        t = np.arange(-history.size, 0)
        future = np.arange(HORIZON)
        ax.plot(t, history, color="0.4", lw=1, label="training")
        ax.plot(future, test[k], color="black", lw=1.5, label="actual")
        for name, forecast in forecasts.items():
            ax.plot(future, forecast[k], lw=1.2, label=name)
        ax.set_title(f"M4 Hourly series {k + 1}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.supxlabel("hours from the forecast origin", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(results: dict) -> str:
    lines = [
        f"# M4 Hourly ({results['n_series']} series, 48 hours ahead)",
        "",
        "| method | sMAPE | MASE | OWA | window | fit s | predict s | peak MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(value, digits=3):
        return "" if value is None else f"{value:.{digits}f}"

    for name, row in results["rows"].items():
        lines.append(
            f"| {name} | {cell(row['smape'])} | {cell(row['mase'])} | "
            f"{cell(row['owa'])} | {row.get('window', '')} | "
            f"{cell(row.get('fit_s'), 1)} | {cell(row.get('predict_s'), 2)} | "
            f"{cell(row.get('peak_mib'), 0)} |"
        )
    lines += ["", "Published (M4 competition and mlforecast's own M4 test):", ""]
    lines += ["| method | sMAPE | MASE | OWA |", "|---|---|---|---|"]
    for row in results["published"]:
        lines.append(
            f"| {row['method']} | {cell(row['smape'])} | {cell(row['mase'])} | "
            f"{cell(row['owa'])} |"
        )
    lines += ["", f"Machine: {results['machine']}.", ""]
    return "\n".join(lines)


def rst(results: dict) -> str:
    """The tables of the docs page "Many series" (included from there)."""

    def cell(value, digits=3):
        return "" if value is None else f"{value:.{digits}f}"

    lines = [
        ".. list-table:: M4 Hourly, 414 series, 48 hours ahead (measured here)",
        "   :header-rows: 1",
        "",
        "   * - method",
        "     - sMAPE",
        "     - MASE",
        "     - OWA",
        "     - fit + predict (s)",
        "     - peak MiB",
    ]
    for name, row in results["rows"].items():
        seconds = (row.get("fit_s") or 0) + (row.get("predict_s") or 0)
        lines += [
            f"   * - {name}",
            f"     - {cell(row['smape'])}",
            f"     - {cell(row['mase'])}",
            f"     - {cell(row['owa'])}",
            f"     - {cell(seconds, 0) if 'fit_s' in row else ''}",
            f"     - {cell(row.get('peak_mib'), 0)}",
        ]
    lines += [
        "",
        ".. list-table:: Published",
        "   :header-rows: 1",
        "",
        "   * - method",
        "     - sMAPE",
        "     - MASE",
        "     - OWA",
    ]
    for row in results["published"]:
        lines += [
            f"   * - {row['method']}",
            f"     - {cell(row['smape'])}",
            f"     - {cell(row['mase'])}",
            f"     - {cell(row['owa'])}",
        ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="folder holding m4/Hourly-train.csv and m4/Hourly-test.csv "
        "(public: github.com/Mcompetitions/M4-methods, Dataset/)",
    )
    parser.add_argument("--quick", action="store_true", help="12 series, seconds")
    parser.add_argument(
        "--window-weights",
        nargs="+",
        default=["auto"],
        help="window_weights values to run the one-liners with",
    )
    parser.add_argument("--windows", type=int, nargs="+", default=[168, 336])
    parser.add_argument(
        "--gbdt-windows",
        type=int,
        nargs="+",
        default=None,
        help="window lengths to validate for the GBDT (default: --windows); "
        "one value skips its validation, for a loaded machine",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=["ridge", "gbdt"],
        default=["ridge", "gbdt"],
        help="the one-liners to run",
    )
    parser.add_argument(
        "--n-estimators",
        type=int,
        default=None,
        help="trees of the GBDT (default 100; 10 with --quick)",
    )
    parser.add_argument(
        "--seasonality",
        type=int,
        default=SEASON,
        help="RevINRegressor(seasonality=): the lag of the scale_free weights",
    )
    parser.add_argument(
        "--window-statistics",
        action="store_true",
        help="window_statistics=True: each window's mean and scale as features",
    )
    parser.add_argument(
        "--validation-only",
        action="store_true",
        help="only score the one-liners on the validation split, at every window "
        "of --windows / --gbdt-windows (to split a long validation into runs)",
    )
    parser.add_argument(
        "--no-autoets", action="store_true", help="leave out AutoETS (minutes)"
    )
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results path without suffix (default benchmarks/results/bench_m4, "
        "bench_m4_quick with --quick: the smoke never replaces the docs' table)",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = RESULTS / ("bench_m4_quick" if args.quick else "bench_m4")
    if args.n_estimators is None:
        args.n_estimators = 10 if args.quick else 100

    _, series, test = read_m4_hourly(args.data_dir, 12 if args.quick else None)
    windows = [168] if args.quick else args.windows
    # --quick: every 48th window, fewer than 256 per fit, where
    # HistGradientBoosting (without LightGBM) bins weighted data fast.
    step = 48 if args.quick else STEP
    rows = {}
    naive2_forecasts = naive2_forecast(series, HORIZON, seasonality=SEASON)
    naive2 = score(test, naive2_forecasts, series)
    rows["Naive2 (sklearn_revin.metrics)"] = with_owa(naive2, naive2)
    snaive = np.array([np.resize(values[-SEASON:], HORIZON) for values in series])
    rows["seasonal naive (numpy)"] = with_owa(score(test, snaive, series), naive2)
    forecasts = {}
    previous = args.output.with_suffix(".json")
    cache = {}
    if previous.exists() and not args.quick:
        cache = {
            name: row
            for name, row in json.loads(previous.read_text())["rows"].items()
            if name.startswith("statsforecast AutoETS")
        }
    results = {
        "n_series": len(series),
        "quick": args.quick,
        "horizon": HORIZON,
        "step_between_windows": step,
        "naive2_published": NAIVE2,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "load_average_at_start": os.getloadavg(),
        "rows": rows,
        "published": [
            dict(zip(["method", "smape", "mase", "owa"], row, strict=True))
            for row in PUBLISHED
        ],
    }

    def save():  # after every row: a long run leaves what it measured
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".json").write_text(json.dumps(results, indent=2))
        if args.validation_only:  # no test scores: no tables
            return
        args.output.with_suffix(".md").write_text(markdown(results))
        args.output.with_suffix(".rst").write_text(rst(results))

    for weights in args.window_weights:
        for name, model in one_liners(args, weights).items():
            candidates = windows
            if "Ridge" not in name and args.gbdt_windows and not args.quick:
                candidates = args.gbdt_windows
            if len(candidates) == 1 and not args.validation_only:
                window, validation = candidates[0], {}
            else:
                window, validation = choose_window(model, series, candidates, step)
            if args.validation_only:
                rows[name] = {"validation_owa": validation}
                print(name, rows[name], flush=True)
                save()
                continue
            forecast, timing = fit_forecast(model, series, window, step)
            forecasts[name] = forecast
            rows[name] = {
                **with_owa(score(test, forecast, series), naive2),
                **timing,
                "validation_owa": validation,
            }
            print(name, rows[name], flush=True)
            save()
    if args.validation_only:
        return results
    if not args.quick and forecasts and args.output == RESULTS / "bench_m4":
        # the docs' figure, from the run that writes the docs' table
        picks = dict(list(forecasts.items())[-1:])
        plot_forecasts(series, test, picks, FIGURE)
    if not args.no_peers:
        if args.no_autoets:
            cache = {**cache, "statsforecast AutoETS(season_length=24)": None}
        for name, (forecast, timing) in peers(series, args.quick, cache):
            rows[name] = {**with_owa(score(test, forecast, series), naive2), **timing}
            print(name, rows[name], flush=True)
            save()
        rows.update({name: row for name, row in cache.items() if row is not None})
    results["load_average_at_end"] = os.getloadavg()
    save()
    for name, row in rows.items():
        errors = f"{row['smape']:.3f} / {row['mase']:.3f} / {row['owa']:.3f}"
        print(f"{name:60s} sMAPE / MASE / OWA {errors}")
    return results


if __name__ == "__main__":
    import sys

    if "--quick" in sys.argv:
        import sklearn.ensemble  # noqa: F401  (loads OpenMP, to be limited)
        from threadpoolctl import threadpool_limits

        # The smoke's tiny fits: OpenMP threads on a busy machine cost
        # minutes (HistGradientBoosting) instead of saving any.
        with threadpool_limits(limits=1, user_api="openmp"):
            main()
    else:
        main()
