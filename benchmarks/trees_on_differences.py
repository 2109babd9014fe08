"""Trees on differences against trees with RevIN, in the demo's protocol.

Run by hand, never as a test::

    python benchmarks/trees_on_differences.py
    python benchmarks/trees_on_differences.py --airline-csv PATH/Airline.csv

The forecaster's baseline for tree models on a trending series is not the raw
forest (which cannot leave the training levels) but the forest on
differences: each window and its targets less the window's last value, the
last value added back to the forecast. This script fits
``RandomForestRegressor(n_estimators=100, random_state=0)`` that way and
inside ``RevINRegressor`` on the demo's series (``sklearn_revin.demo``: first
70% of each series trains, forecasts of the rest test) and prints the test
MSE of both, with Ridge on differences and the naive last value for scale.

``--airline-csv``: the monthly airline passengers of Box and Jenkins (1976),
1949 to 1960, a CSV whose last column holds the 144 values (for example
``sktime/datasets/data/Airline/Airline.csv`` of an sktime install); 24 months
in, 12 out, the same 70 / 30 split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from sklearn_revin import RevINRegressor, make_windows
from sklearn_revin.demo import CASES


def windows(series, window, horizon, target=None):
    cut = int(0.7 * len(series))
    X_train, Y_train = make_windows(series.iloc[:cut], window, horizon, target=target)
    X_test, Y_test = make_windows(
        series.iloc[cut - window :], window, horizon, target=target
    )
    return [a.to_numpy(dtype=float) for a in (X_train, Y_train, X_test, Y_test)]


def on_differences(model, X_train, Y_train, X_test, *, window, target_index):
    """Fit ``model`` on windows and targets less each window's last value."""
    n_variates = X_train.shape[1] // window
    last_column = target_index * window + window - 1

    def less_last(X):
        return X - np.repeat(X[:, window - 1 :: window], window, axis=1)

    model.fit(less_last(X_train), Y_train - X_train[:, [last_column]])
    forecast = model.predict(less_last(X_test)) + X_test[:, [last_column]]
    assert n_variates * window == X_train.shape[1]
    return forecast


def scores(series, window, horizon, target=None, target_index=0):
    X_train, Y_train, X_test, Y_test = windows(series, window, horizon, target)
    n_variates = X_train.shape[1] // window
    last_column = target_index * window + window - 1

    def mse(Y_hat):
        return float(np.mean((Y_hat - Y_test) ** 2))

    forest = RandomForestRegressor(n_estimators=100, random_state=0)
    revin = RevINRegressor(
        forest,
        n_variates=n_variates,
        target_variates=target_index if n_variates > 1 else None,
    )
    return {
        "naive (last value)": mse(np.repeat(X_test[:, [last_column]], horizon, 1)),
        "Ridge on differences": mse(
            on_differences(
                Ridge(),
                X_train,
                Y_train,
                X_test,
                window=window,
                target_index=target_index,
            )
        ),
        "RandomForest on differences": mse(
            on_differences(
                forest,
                X_train,
                Y_train,
                X_test,
                window=window,
                target_index=target_index,
            )
        ),
        "RandomForest + RevIN": mse(revin.fit(X_train, Y_train).predict(X_test)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airline-csv", type=Path, default=None)
    args = parser.parse_args(argv)
    table = {}
    for name, case in CASES.items():
        series = case.load()
        if case.columns:
            series = series[list(case.columns)]
        index = case.columns.index(case.target) if case.target else 0
        table[name] = scores(series, case.window, case.horizon, case.target, index)
    if args.airline_csv is not None:
        airline = pd.read_csv(args.airline_csv).iloc[:, -1].astype(float)
        table["airline"] = scores(airline, 24, 12)
    frame = pd.DataFrame(table)
    print(
        frame.to_string(float_format=lambda v: f"{v:,.3f}" if v < 100 else f"{v:,.0f}")
    )


if __name__ == "__main__":
    main()
