"""
Forecasting real series, with and without RevIN
===============================================

Four real series ship with the package (:mod:`sklearn_revin.datasets`): two
with a trend (atmospheric CO2, US real GDP) and two without (sunspot numbers,
the sea surface temperature of the El Nino region). On each, regressors are
fitted on the first 70% of the series, in time order, and forecast the last
30%: once on the raw windows, once inside
:class:`~sklearn_revin.RevINRegressor`. The yardstick is the naive forecast
that repeats the last observed value.

This is a small version of the package's demo (``python -m
sklearn_revin.demo``), which also runs HistGradientBoosting and a larger
forest; :doc:`/forecasting` discusses its results.
"""

# %%
# The series and how they are windowed
# ------------------------------------
#
# Each case gives a window (the input steps) and a horizon (the forecast
# steps). GDP is forecast from four variates of the US macroeconomic data;
# RevIN normalizes each of them by its own window statistics, and only the GDP
# block of the forecast is mapped back.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from sklearn_revin import RevINRegressor, make_windows
from sklearn_revin.datasets import load_co2, load_elnino, load_macrodata, load_sunspots

macro_columns = ["realgdp", "realcons", "realinv", "unemp"]
cases = {
    "co2": (load_co2(), 24, 12, None),
    "sunspots": (load_sunspots(), 22, 6, None),
    "elnino": (load_elnino(), 24, 12, None),
    "gdp": (load_macrodata()[macro_columns], 12, 4, "realgdp"),
}

# %%
# A split in time
# ---------------
#
# Training windows come from the first 70% of the series; the targets of the
# test windows all lie in the last 30% (their inputs may reach back before the
# cut, as a forecast made at the cut would).


def split(series, window, horizon, target):
    cut = int(0.7 * len(series))
    X_train, Y_train = make_windows(series.iloc[:cut], window, horizon, target=target)
    X_test, Y_test = make_windows(
        series.iloc[cut - window :], window, horizon, target=target
    )
    return X_train, Y_train, X_test, Y_test


models = {
    "Ridge": Ridge(),
    "RandomForest": RandomForestRegressor(n_estimators=50, random_state=0),
}

# %%
# Fit, forecast, score
# --------------------
mse, forecasts = {}, {}
for name, (series, window, horizon, target) in cases.items():
    X_train, Y_train, X_test, Y_test = split(series, window, horizon, target)
    truth = Y_test.to_numpy()
    n_variates = X_train.shape[1] // window
    target_variate = None if target is None else macro_columns.index(target)
    last_value = X_test.to_numpy()[:, [(target_variate or 0) * window + window - 1]]
    predictions = {"naive (last value)": np.repeat(last_value, horizon, axis=1)}
    for model_name, model in models.items():
        predictions[model_name] = clone(model).fit(X_train, Y_train).predict(X_test)
        revin_model = RevINRegressor(
            clone(model), n_variates=n_variates, target_variates=target_variate
        )
        # Frames in (make_windows of a frame), a frame out, indexed like
        # X_test: to_numpy() for the arrays the other models give.
        predictions[f"{model_name} + RevIN"] = (
            revin_model.fit(X_train, Y_train).predict(X_test).to_numpy()
        )
    mse[name] = {
        label: np.mean((Y_hat - truth) ** 2) for label, Y_hat in predictions.items()
    }
    forecasts[name] = (Y_test, predictions, horizon)

table = pd.DataFrame(mse)
print("Test MSE relative to the naive forecast (below 1: better than naive)")
print((table / table.loc["naive (last value)"]).round(3).to_string())

# %%
# On the two trending series (CO2 and GDP), the raw forest is far worse than
# the naive forecast: it cannot predict a level above those it was trained on.
# With RevIN it forecasts shapes, and beats the naive forecast; so does Ridge,
# which gains too. On El Nino, a series with a stable level, RevIN makes both
# models *worse*: the level of a window carries information (a warm spell
# tends to end), and per-window normalization removes it. On sunspots, which
# have no trend either but cycles of changing amplitude, it helps here. Compare
# on your own held-out data before adopting it.
#
# The test period
# ---------------
#
# The forest's forecasts, made every ``horizon`` steps for the steps that
# follow, so that they tile the test period.
fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
for axis, (name, (Y_test, predictions, horizon)) in zip(
    axes.flat, forecasts.items(), strict=True
):
    origins = slice(None, None, horizon)
    steps = np.arange(len(Y_test.iloc[origins]) * horizon)
    axis.plot(steps, Y_test.to_numpy()[origins].ravel(), color="black", label="truth")
    axis.plot(
        steps,
        predictions["RandomForest"][origins].ravel(),
        "--",
        color="tab:red",
        label="RandomForest",
    )
    axis.plot(
        steps,
        predictions["RandomForest + RevIN"][origins].ravel(),
        color="tab:blue",
        label="RandomForest + RevIN",
    )
    axis.set_title(name)
    axis.set_xlabel("step of the test period")
axes[0, 0].legend(fontsize="small")
fig.tight_layout()
