"""Differencing against RevIN inside mlforecast, on the CO2 record.

Run by hand (needs the ``ecosystem`` extra), never as a test::

    python benchmarks/differencing_mlforecast.py

Ridge on 24 lags of the monthly Mauna Loa CO2 series, forecasting 12 months
recursively from each of the windows of mlforecast's ``cross_validation``
that tile the last 30% of the series (every 12 months). Three ways to remove
the level: none, mlforecast's ``Differences([1])`` target transform, and
``RevINRegressor`` around Ridge (lags newest first, centred on the mean or
on the last value). Prints the test MSE of each; docs/comparison.rst quotes
the result.
"""

from __future__ import annotations

import warnings

import numpy as np


def main() -> None:
    import pandas as pd
    from mlforecast import MLForecast
    from mlforecast.target_transforms import Differences
    from sklearn.linear_model import Ridge

    from sklearn_revin import RevINRegressor, RevINTransformer
    from sklearn_revin.datasets import load_co2

    co2 = load_co2()
    frame = pd.DataFrame({"unique_id": "co2", "ds": co2.index, "y": co2.to_numpy()})
    horizon = 12
    n_windows = (int(0.3 * len(frame)) - horizon) // horizon + 1

    def test_mse(model, **kwargs) -> float:
        forecaster = MLForecast(
            models={"model": model}, freq="MS", lags=range(1, 25), **kwargs
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = forecaster.cross_validation(
                frame, n_windows=n_windows, h=horizon, step_size=horizon
            )
        return float(np.mean((result["model"] - result["y"]) ** 2))

    rows = {
        "Ridge": test_mse(Ridge()),
        "Ridge, Differences([1])": test_mse(
            Ridge(), target_transforms=[Differences([1])]
        ),
    }
    for center in ("mean", "last"):
        model = RevINRegressor(
            Ridge(),
            step_order="newest_first",
            revin=RevINTransformer(center=center),
        )
        rows[f'RevINRegressor(Ridge), center="{center}"'] = test_mse(model)
    print(f"CO2, 24 lags, {n_windows} forecasts of {horizon} months: test MSE")
    for label, mse in rows.items():
        print(f"  {label:<36} {mse:.3f}")


if __name__ == "__main__":
    main()
