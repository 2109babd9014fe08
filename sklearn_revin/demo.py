"""Forecast real series with and without RevIN, print the errors, plot the test period.

Run it as ``python -m sklearn_revin.demo`` or ``sklearn-revin-demo``; ``--help``
lists the options. Each shipped series (see :mod:`sklearn_revin.datasets`) is
cut into windows with :func:`~sklearn_revin.make_windows`; regressors are
trained on the first 70% of the series, in time order, and scored by their
mean squared error on forecasts of the last 30%: raw, and inside
:class:`~sklearn_revin.RevINRegressor`, next to the naive forecast that
repeats the last observed value.

The plot needs matplotlib and the progress bar tqdm (``pip install
".[demo]"`` from a clone); without them the table is still printed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.multioutput import MultiOutputRegressor
from threadpoolctl import threadpool_limits

from ._regressor import RevINRegressor
from ._windows import make_windows
from .datasets import load_co2, load_elnino, load_macrodata, load_sunspots

__all__ = ["CASES", "Case", "Forecasts", "compare", "format_table", "main"]

TRAIN_FRACTION = 0.7
NAIVE = "naive (last value)"
DIFFERENCED = "Ridge on differences"
PLOTTED_MODEL = "RandomForest"


@dataclass(frozen=True)
class Case:
    """A series to forecast, and how it is windowed."""

    name: str
    title: str
    load: Callable
    window: int
    horizon: int
    columns: tuple[str, ...] | None = None  # the variates of a multivariate frame
    target: str | None = None  # the forecast variate of a multivariate frame

    def series(self):
        """Return the series (a pandas Series, or a frame of ``columns``)."""
        data = self.load()
        return data if self.columns is None else data.loc[:, list(self.columns)]


CASES = {
    case.name: case
    for case in (
        Case("co2", "Mauna Loa CO2 (ppm), monthly", load_co2, window=24, horizon=12),
        Case("sunspots", "Sunspot number, yearly", load_sunspots, window=22, horizon=6),
        Case("elnino", "Nino 1+2 sea temperature (°C), monthly", load_elnino, 24, 12),
        Case(
            "macrodata",
            "US real GDP ($bn), quarterly, from 4 variates",
            load_macrodata,
            window=12,
            horizon=4,
            columns=("realgdp", "realcons", "realinv", "unemp"),
            target="realgdp",
        ),
    )
}


@dataclass
class Forecasts:
    """Test-period truth and forecasts of one case, and each model's error."""

    case: Case
    times: object  # the time of each target step of Y_test, shape Y_test.shape
    truth: np.ndarray  # (n_test_windows, horizon)
    context: object  # the training values just before the test period (pandas)
    mse: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)


def make_models(*, quick: bool = False) -> dict[str, object]:
    """Return the regressors to compare, by name.

    HistGradientBoosting forecasts one step at a time (one model per step of
    the horizon, through MultiOutputRegressor); the others forecast the whole
    horizon at once. ``quick`` leaves HistGradientBoosting out (its dozens of
    fits are most of the run time) and grows a small forest.
    """
    models = {"Ridge": Ridge()}
    if not quick:
        models["HistGradientBoosting"] = MultiOutputRegressor(
            HistGradientBoostingRegressor(random_state=0)
        )
    models["RandomForest"] = RandomForestRegressor(
        n_estimators=10 if quick else 100, random_state=0
    )
    return models


def split_windows(case: Case, series):
    """Windows of the first 70% for training, and of the forecasts of the rest.

    The test windows' targets all lie in the last 30% of the series; their
    inputs may reach back into the training period, as a forecast made at the
    split would.
    """
    cut = int(TRAIN_FRACTION * len(series))
    X_train, Y_train = make_windows(
        series.iloc[:cut], case.window, case.horizon, target=case.target
    )
    X_test, Y_test = make_windows(
        series.iloc[cut - case.window :], case.window, case.horizon, target=case.target
    )
    return (
        X_train.to_numpy(dtype=float),
        Y_train.to_numpy(dtype=float),
        X_test.to_numpy(dtype=float),
        Y_test.to_numpy(dtype=float),
        cut,
    )


def compare(
    cases: Sequence[Case], *, quick: bool = False, progress: bool = False
) -> list[Forecasts]:
    """Fit every model raw and with RevIN on every case; return the forecasts.

    Parameters
    ----------
    cases : sequence of Case
        The series to forecast.
    quick : bool, default=False
        Use smaller tree ensembles, for a run of a few seconds.
    progress : bool, default=False
        Show a tqdm progress bar (if tqdm is installed).

    Returns
    -------
    results : list of Forecasts
        One per case, with the test MSE of the naive forecast and of each
        model, raw and ``"<model> + RevIN"``.
    """
    models = make_models(quick=quick)
    tasks = [
        (case, name, revin)
        for case in cases
        for name in models
        for revin in (False, True)
    ]
    bar = _progress_bar(len(tasks), enabled=progress)
    results, arrays = {}, {}
    # Dozens of small HistGradientBoosting fits: on data this small, OpenMP
    # threads cost more in start-up and spinning than they save.
    with threadpool_limits(limits=1, user_api="openmp"):
        for case, name, revin in tasks:
            if case.name not in results:
                results[case.name], arrays[case.name] = _prepare(case)
            forecasts = results[case.name]
            X_train, Y_train, X_test = arrays[case.name]
            label = f"{name} + RevIN" if revin else name
            if bar is not None:
                bar.set_description(f"{case.name}: {label}")
            model = clone(models[name])
            if revin:
                model = RevINRegressor(
                    model,
                    n_variates=X_train.shape[1] // case.window,
                    target_variates=_target_index(case),
                )
            Y_pred = (
                model.fit(X_train, Y_train)
                .predict(X_test)
                .reshape(forecasts.truth.shape)
            )
            forecasts.predictions[label] = Y_pred
            forecasts.mse[label] = float(np.mean((Y_pred - forecasts.truth) ** 2))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    return list(results.values())


def format_table(results: Sequence[Forecasts]) -> str:
    """Return the MSE table: one row per model, one column per case.

    Each cell holds the test MSE and, in brackets, its ratio to the MSE of the
    naive forecast (below 1: better than repeating the last value).
    """
    labels = list(results[0].mse)
    header = ["model", *(forecasts.case.name for forecasts in results)]
    rows = []
    for label in labels:
        cells = [label]
        for forecasts in results:
            mse, naive = forecasts.mse[label], forecasts.mse[NAIVE]
            cells.append(f"{_number(mse)} ({mse / naive:.2f})")
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = (
            cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)
        )
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def plot_forecasts(results: Sequence[Forecasts], path: Path) -> None:
    """Plot truth, raw and RevIN forecasts of the test period, one panel per case.

    The forecasts shown are those of :data:`PLOTTED_MODEL`, made every
    ``horizon`` steps for the ``horizon`` steps that follow, so that they
    tile the test period.
    """
    # A Figure of its own draws with the Agg renderer, whatever pyplot's
    # backend is: no display is needed and no global state changes.
    from matplotlib.figure import Figure

    n_columns = 2 if len(results) > 1 else 1
    n_rows = -(-len(results) // n_columns)
    figure = Figure(figsize=(6 * n_columns, 3.6 * n_rows))
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    for axis, forecasts in zip(axes.flat, results, strict=False):
        case = forecasts.case
        origins = slice(None, None, case.horizon)
        times = np.asarray(forecasts.times[origins]).ravel()
        axis.plot(
            forecasts.context.index,
            forecasts.context.to_numpy(),
            color="0.6",
            lw=1,
            label="training data",
        )
        axis.plot(
            times,
            forecasts.truth[origins].ravel(),
            color="black",
            lw=1.2,
            label="truth",
        )
        for label, color, style in (
            (PLOTTED_MODEL, "tab:red", "--"),
            (f"{PLOTTED_MODEL} + RevIN", "tab:blue", "-"),
        ):
            axis.plot(
                times,
                forecasts.predictions[label][origins].ravel(),
                style,
                color=color,
                lw=1.2,
                label=f"{label} (MSE {_number(forecasts.mse[label])})",
            )
        axis.set_title(
            f"{case.title}\n{case.horizon}-step forecasts; naive MSE "
            f"{_number(forecasts.mse[NAIVE])}",
            fontsize=10,
        )
        axis.legend(fontsize=8, loc="best")
        axis.tick_params(labelsize=8)
    for axis in axes.flat[len(results) :]:
        axis.set_visible(False)
    figure.suptitle(
        "Test period (last 30%): trees cannot extrapolate a level they have not "
        "seen; with RevIN they forecast shapes",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo from the command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, default=None
        Command line arguments; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_revin.demo",
        description=(
            "Forecast real series that ship with sklearn-revin with Ridge, "
            "HistGradientBoosting and RandomForest, raw and with RevIN, and "
            "compare their test MSE with the naive last-value forecast."
        ),
    )
    parser.add_argument(
        "--dataset",
        action="append",
        choices=list(CASES),
        help="a series to use (repeat for several; default: all)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("revin_demo_output"),
        metavar="DIR",
        help="where to write forecasts.png and results.csv (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Ridge and a small RandomForest only: a run of a few seconds",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        import pandas  # noqa: F401  (the shipped series load as pandas)
    except ImportError:
        parser.exit(
            2,
            "The demo needs pandas (the shipped series load as pandas), which "
            'a plain install does not bring: pip install ".[demo]" from a '
            "clone of sklearn-revin, or pip install pandas.\n",
        )

    names = list(dict.fromkeys(args.dataset)) if args.dataset else list(CASES)
    progress = not args.quiet and sys.stderr.isatty()
    results = compare(
        [CASES[name] for name in names], quick=args.quick, progress=progress
    )

    print(
        f"Trained on the first {TRAIN_FRACTION:.0%} of each series, tested on "
        "forecasts of the rest:"
    )
    width = max(len(name) for name in names)
    for forecasts in results:
        case = forecasts.case
        print(
            f"  {case.name:<{width}}  {case.title}: {case.window} steps in, "
            f"{case.horizon} out"
        )
    print(
        "\nTest MSE (in brackets: relative to the naive last-value forecast; "
        "lower is better)"
    )
    print(format_table(results))

    args.output.mkdir(parents=True, exist_ok=True)
    table_path = args.output / "results.csv"
    _write_csv(results, table_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            f"\nWrote {table_path}. matplotlib is not installed, so there is no "
            'plot: pip install ".[demo]" from a clone of sklearn-revin.'
        )
        return 0
    plot_path = args.output / "forecasts.png"
    plot_forecasts(results, plot_path)
    print(f"\nWrote {table_path} and {plot_path}")
    return 0


# ---------------------------------------------------------------------- private


def _target_index(case: Case) -> int | None:
    return None if case.target is None else case.columns.index(case.target)


def _prepare(case: Case):
    """Return the case's Forecasts (naive one included) and its training arrays."""
    series = case.series()
    X_train, Y_train, X_test, Y_test, cut = split_windows(case, series)
    target = series if case.target is None else series[case.target]
    horizon = np.arange(case.horizon)
    times = target.index[cut:].to_numpy()[np.arange(len(Y_test))[:, None] + horizon]
    forecasts = Forecasts(
        case=case,
        times=times,
        truth=Y_test,
        context=target.iloc[max(cut - 3 * case.window, 0) : cut],
    )
    # The last input value of the target variate, repeated over the horizon.
    last_column = (_target_index(case) or 0) * case.window + case.window - 1
    naive = np.repeat(X_test[:, [last_column]], case.horizon, axis=1)
    forecasts.predictions[NAIVE] = naive
    forecasts.mse[NAIVE] = float(np.mean((naive - Y_test) ** 2))
    differenced = differenced_forecast(
        X_train, Y_train, X_test, window=case.window, target_column=last_column
    )
    forecasts.predictions[DIFFERENCED] = differenced
    forecasts.mse[DIFFERENCED] = float(np.mean((differenced - Y_test) ** 2))
    return forecasts, (X_train, Y_train, X_test)


def differenced_forecast(X_train, Y_train, X_test, *, window, target_column):
    """Ridge on differences: each window and target less the window's last value.

    The baseline a forecaster would try before RevIN: ``y - last value``, the
    level removed by subtraction, not rescaled (each variate of a window less
    its own last value, the targets less the target variate's).
    """
    n_variates = X_train.shape[1] // window

    def last_values(X):
        return np.repeat(X[:, window - 1 :: window], window, axis=1)[
            :, : n_variates * window
        ]

    model = Ridge().fit(
        X_train - last_values(X_train), Y_train - X_train[:, [target_column]]
    )
    return model.predict(X_test - last_values(X_test)) + X_test[:, [target_column]]


def _progress_bar(total: int, *, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="fit", leave=False)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:#.3g}"


def _write_csv(results: Sequence[Forecasts], path: Path) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["dataset", "model", "mse", "mse_relative_to_naive"])
        for forecasts in results:
            naive = forecasts.mse[NAIVE]
            for label, mse in forecasts.mse.items():
                writer.writerow(
                    [forecasts.case.name, label, repr(mse), repr(mse / naive)]
                )


if __name__ == "__main__":
    raise SystemExit(main())
