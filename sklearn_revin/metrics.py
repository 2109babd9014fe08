"""Forecast accuracy as the M4 competition scores it: sMAPE, MASE, OWA and Naive2.

The definitions are those of Makridakis, Spiliotis and Assimakopoulos, "The
M4 Competition: 100,000 time series and 61 forecasting methods",
International Journal of Forecasting 36 (2020), and of the competition's
code (``Benchmarks and Evaluation.R`` in the public repository
Mcompetitions/M4-methods). Every series is scored in its own scale-free
units, then the scores are averaged over the series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["mase", "naive2_forecast", "owa", "smape"]


def _as_rows(values, name: str) -> list[np.ndarray]:
    """One 1-D float array per series: a 1-D input is one series."""
    if isinstance(values, np.ndarray) and values.ndim <= 2:
        rows = [values] if values.ndim == 1 else list(values)
    elif isinstance(values, Sequence) and values and np.ndim(values[0]) == 0:
        rows = [values]
    else:
        rows = list(values)
    rows = [np.asarray(row, dtype=np.float64) for row in rows]
    if not rows or any(row.ndim != 1 or row.size == 0 for row in rows):
        raise ValueError(
            f"{name} must be one series (1-D) or one row of values per series, "
            f"each non-empty; got {len(rows)} row(s) of shapes "
            f"{[row.shape for row in rows][:5]}."
        )
    return rows


def _paired(y_true, y_pred) -> tuple[list[np.ndarray], list[np.ndarray]]:
    true_rows, pred_rows = _as_rows(y_true, "y_true"), _as_rows(y_pred, "y_pred")
    shapes = [row.shape for row in true_rows], [row.shape for row in pred_rows]
    if shapes[0] != shapes[1]:
        raise ValueError(
            "y_true and y_pred must hold the same series and horizons; got "
            f"{len(true_rows)} and {len(pred_rows)} series of lengths "
            f"{[s[0] for s in shapes[0]][:5]} and {[s[0] for s in shapes[1]][:5]}."
        )
    return true_rows, pred_rows


def smape(y_true, y_pred) -> float:
    r"""Symmetric mean absolute percentage error, in percent, as in M4.

    .. math::

        \mathrm{sMAPE} = \frac{1}{h} \sum_{t=1}^{h}
        \frac{200\,|y_t - \hat y_t|}{|y_t| + |\hat y_t|}

    for each series, averaged over the series.

    Parameters
    ----------
    y_true : array-like of shape (horizon,) or (n_series, horizon)
        The actual values: one series, or one row per series (a list of
        rows of different lengths is welcome).
    y_pred : array-like of the same shape as ``y_true``
        The forecasts.

    Returns
    -------
    float
        The sMAPE, between 0 and 200. A step where actual and forecast are
        both zero counts as no error.

    See Also
    --------
    mase : The scale-free absolute error.
    owa : Both, relative to the Naive2 benchmark.

    Examples
    --------
    >>> from sklearn_revin.metrics import smape
    >>> smape([100.0, 200.0], [110.0, 180.0])
    10.02...
    >>> smape([[1.0, 1.0], [10.0, 10.0]], [[1.0, 1.0], [0.0, 10.0]])
    50.0
    """
    true_rows, pred_rows = _paired(y_true, y_pred)
    scores = []
    for actual, forecast in zip(true_rows, pred_rows, strict=True):
        denominator = np.abs(actual) + np.abs(forecast)
        error = np.abs(actual - forecast)
        ratio = np.divide(
            error, denominator, out=np.zeros_like(error), where=denominator > 0
        )
        scores.append(200.0 * np.mean(ratio))
    return float(np.mean(scores))


def mase(y_true, y_pred, y_train, *, seasonality: int = 1) -> float:
    r"""Mean absolute scaled error, as in M4: the seasonal naive in-sample scale.

    .. math::

        \mathrm{MASE} = \frac{\frac{1}{h} \sum_{t=1}^{h} |y_t - \hat y_t|}
        {\frac{1}{n - m} \sum_{t=m+1}^{n} |x_t - x_{t-m}|}

    for each series, with :math:`x_1, \dots, x_n` its training values and
    :math:`m` the ``seasonality``, averaged over the series.

    Parameters
    ----------
    y_true : array-like of shape (horizon,) or (n_series, horizon)
        The actual values: one series, or one row per series.
    y_pred : array-like of the same shape as ``y_true``
        The forecasts.
    y_train : array-like of shape (n_train,) or a sequence of 1-D arrays
        The training values of each series (in the same order; lengths may
        differ), from which its scale is computed.
    seasonality : int, default=1
        The period :math:`m` of the seasonal naive forecast that scales the
        error: 24 for M4 Hourly, 12 for Monthly, 1 for Yearly.

    Returns
    -------
    float
        The MASE. Below 1: on average better than the in-sample seasonal
        naive one step ahead.

    Raises
    ------
    ValueError
        If a series has no more than ``seasonality`` training values, or
        its in-sample seasonal naive error is zero (a MASE is undefined).

    See Also
    --------
    smape : The percentage error.
    owa : Both, relative to the Naive2 benchmark.

    Examples
    --------
    >>> from sklearn_revin.metrics import mase
    >>> train = [1.0, 3.0, 2.0, 4.0, 3.0]  # mean |x_t - x_{t-2}| = 1
    >>> mase([5.0, 4.0], [4.0, 4.0], train, seasonality=2)
    0.5
    """
    true_rows, pred_rows = _paired(y_true, y_pred)
    train_rows = _as_rows(y_train, "y_train")
    if len(train_rows) != len(true_rows):
        raise ValueError(
            f"y_train holds {len(train_rows)} series, y_true {len(true_rows)}: "
            "one training series per row of y_true."
        )
    if int(seasonality) < 1:
        raise ValueError(f"seasonality must be a positive int; got {seasonality!r}.")
    m = int(seasonality)
    scores = []
    for k, (actual, forecast, train) in enumerate(
        zip(true_rows, pred_rows, train_rows, strict=True)
    ):
        if train.size <= m:
            raise ValueError(
                f"Series {k} has {train.size} training value(s); its MASE scale "
                f"needs more than seasonality={m}."
            )
        scale = np.mean(np.abs(train[m:] - train[:-m]))
        if not scale > 0:
            raise ValueError(
                f"Series {k} repeats itself every {m} step(s) in training: its "
                "in-sample seasonal naive error is zero and its MASE undefined."
            )
        scores.append(np.mean(np.abs(actual - forecast)) / scale)
    return float(np.mean(scores))


def owa(
    smape_value: float,
    mase_value: float,
    *,
    naive2_smape: float,
    naive2_mase: float,
) -> float:
    r"""Overall weighted average, as in M4: both errors relative to Naive2.

    .. math::

        \mathrm{OWA} = \frac{1}{2}\left(
        \frac{\mathrm{sMAPE}}{\mathrm{sMAPE}_{\mathrm{Naive2}}} +
        \frac{\mathrm{MASE}}{\mathrm{MASE}_{\mathrm{Naive2}}}\right)

    with the errors of a method and of Naive2 each averaged over the same
    series first (the competition's OWA is not a mean of per-series OWAs).

    Parameters
    ----------
    smape_value, mase_value : float
        The method's :func:`smape` and :func:`mase` on a set of series.
    naive2_smape, naive2_mase : float
        Those of the Naive2 benchmark (:func:`naive2_forecast`) on the same
        series; on all of M4 Hourly, 18.383 and 2.395.

    Returns
    -------
    float
        The OWA: 1 is Naive2's accuracy, below 1 better.

    Examples
    --------
    >>> from sklearn_revin.metrics import owa
    >>> owa(9.328, 0.893, naive2_smape=18.383, naive2_mase=2.395)  # M4's winner
    0.440...
    """
    if not (naive2_smape > 0 and naive2_mase > 0):
        raise ValueError(
            "naive2_smape and naive2_mase must be positive; got "
            f"{naive2_smape!r} and {naive2_mase!r}."
        )
    return 0.5 * (smape_value / naive2_smape + mase_value / naive2_mase)


def naive2_forecast(y_train, horizon: int, *, seasonality: int = 1) -> np.ndarray:
    """Forecast with M4's Naive2 benchmark: the naive on seasonally adjusted data.

    For each series, as the competition's code does: if its autocorrelation
    at lag ``seasonality`` is significant (90%, as in M4, and the series is
    at least three seasons long), the series is divided by the seasonal
    indices of a classical multiplicative decomposition (R's
    ``decompose``: a centred moving average of one season as the trend, the
    mean ratio to it at each position of the season, normalized to mean 1);
    the last adjusted value is repeated over the horizon and multiplied back
    by the indices of the season that follows. Otherwise the last value is
    repeated.

    Parameters
    ----------
    y_train : array-like of shape (n_train,) or a sequence of 1-D arrays
        The training values of each series (lengths may differ).
    horizon : int
        Number of steps to forecast.
    seasonality : int, default=1
        Period of the season: 24 for M4 Hourly. 1 means the plain naive.

    Returns
    -------
    ndarray of shape (n_series, horizon)
        One row of forecasts per series (one row for a 1-D ``y_train``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_revin.metrics import naive2_forecast
    >>> naive2_forecast([3.0, 1.0, 2.0], horizon=2)
    array([[2., 2.]])
    >>> season = np.tile([1.0, 2.0, 4.0, 1.0], 10)  # a strong season of 4
    >>> naive2_forecast(season, horizon=4, seasonality=4).round(6)
    array([[1., 2., 4., 1.]])
    """
    rows = _as_rows(y_train, "y_train")
    horizon, m = int(horizon), int(seasonality)
    forecasts = np.empty((len(rows), horizon))
    for k, series in enumerate(rows):
        indices = np.ones(horizon)
        adjusted = series
        if m > 1 and _is_seasonal(series, m):
            seasonal = _multiplicative_indices(series, m)
            adjusted = series / seasonal
            last_season = seasonal[-m:]
            indices = np.resize(last_season, horizon)
        forecasts[k] = adjusted[-1] * indices
    return forecasts


def _is_seasonal(series: np.ndarray, m: int) -> bool:
    """M4's 90% test of the autocorrelation at lag ``m`` (R's ``acf``, Bartlett)."""
    n = series.size
    if n < 3 * m:
        return False
    centred = series - series.mean()
    denominator = np.dot(centred, centred)
    if denominator == 0:
        return False
    acf = np.array(
        [
            np.dot(centred[lag:], centred[: n - lag]) / denominator
            for lag in range(1, m + 1)
        ]
    )
    limit = 1.645 / np.sqrt(n) * np.sqrt(1 + 2 * np.sum(acf[: m - 1] ** 2))
    return bool(abs(acf[m - 1]) > limit)


def _multiplicative_indices(series: np.ndarray, m: int) -> np.ndarray:
    """R's ``decompose(type="multiplicative")$seasonal``, one index per value."""
    n = series.size
    weights = np.full(m, 1.0 / m) if m % 2 else np.r_[0.5, np.ones(m - 1), 0.5] / m
    half = weights.size // 2
    trend = np.full(n, np.nan)
    trend[half : n - half] = np.convolve(series, weights, mode="valid")
    ratio = series / trend
    figure = np.array([np.nanmean(ratio[i::m]) for i in range(m)])
    figure = figure / figure.mean()
    return np.resize(figure, n)
