"""to_long_forecast: forecasts of a panel as a long frame (unique_id, ds, model).

One job: turn the wide forecasts of :class:`RevINRegressor` (one row per
series, ``horizon`` columns) into the long frame that mlforecast and
statsforecast return: one row per series and future time.
"""

from __future__ import annotations

import datetime
import sys
from numbers import Integral

import numpy as np

from ._layout import parse_target_names

__all__ = ["to_long_forecast"]


def to_long_forecast(y_pred, keys=None, *, freq=None, name: str = "RevINRegressor"):
    """Turn wide forecasts of several series into a long frame with future times.

    Row ``i`` of ``y_pred`` holds the ``horizon`` steps after the time of row
    ``i`` of ``keys`` (the last input step of its window, as
    :func:`make_windows` with ``id_col`` gives it); the result has one row per
    series and forecast step, ``id, time, name``, sorted by series and time,
    as ``MLForecast.predict`` and ``StatsForecast.forecast`` return them.

    Parameters
    ----------
    y_pred : pandas.DataFrame, polars.DataFrame or ndarray of shape \
            (n_series, n_targets * horizon)
        Forecasts, one row per series: ``RevINRegressor.predict`` of the
        ``X`` of ``make_windows(..., horizon=0, id_col=...)``. Column names
        ``name[t+h]`` tell the target variates and the horizon; without them
        every column is one step of one target.
    keys : pandas.DataFrame or polars.DataFrame, default=None
        Where the series and times come from: a pandas object indexed by
        ``(id, time)`` (``y_pred`` itself when None), or a frame whose first
        two columns are the id and the time (the polars ``X`` of
        :func:`make_windows`), row by row as ``y_pred``.
    freq : int, str or timedelta, default=None
        The distance between two steps of the series: a pandas offset alias
        (``"h"``, ``"D"``, ``"MS"``) or a polars duration (``"1h"``,
        ``"1mo"``) for times that are dates, a timedelta, or an int for
        integer times. None means 1, for integer times only.
    name : str, default="RevINRegressor"
        Name of the forecast column; with several target variates, one column
        per target, ``name[target]``.

    Returns
    -------
    forecast : pandas.DataFrame or polars.DataFrame of shape \
            (n_series * horizon, 2 + n_targets)
        The columns id, time (named as in ``keys``) and the forecasts, in the
        library of ``keys``.

    Raises
    ------
    ValueError
        If the keys are missing or do not match ``y_pred`` row by row, or if
        ``freq`` is None for times that are not integers.

    See Also
    --------
    make_windows : Its ``id_col`` and ``horizon=0`` give the windows to
        forecast from.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn_revin import RevINRegressor, make_windows, to_long_forecast
    >>> t = np.arange(40.0)
    >>> panel = pd.DataFrame({
    ...     "unique_id": np.repeat(["a", "b"], 20),
    ...     "ds": np.tile(pd.date_range("2024-01-01", periods=20, freq="D"), 2),
    ...     "y": np.r_[10 + np.sin(t[:20]), 500 + 9 * np.sin(t[20:])],
    ... })
    >>> X, Y = make_windows(panel, 8, 2, id_col="unique_id", time_col="ds")
    >>> X_last, _ = make_windows(panel, 8, 0, id_col="unique_id", time_col="ds")
    >>> model = RevINRegressor().fit(X, Y)
    >>> forecast = to_long_forecast(model.predict(X_last), freq="D")
    >>> forecast[["unique_id", "ds"]]
      unique_id         ds
    0         a 2024-01-21
    1         a 2024-01-22
    2         b 2024-01-21
    3         b 2024-01-22
    >>> list(forecast.columns)
    ['unique_id', 'ds', 'RevINRegressor']
    """
    library, ids, times, id_name, time_name = _keys(y_pred if keys is None else keys)
    values = np.asarray(
        y_pred.to_numpy() if hasattr(y_pred, "to_numpy") else y_pred, dtype=float
    )
    if values.ndim == 1:
        values = values[:, np.newaxis]
    if values.shape[0] != len(ids):
        raise ValueError(
            f"y_pred has {values.shape[0]} row(s) but keys has {len(ids)}; they "
            "must be the same windows, row by row."
        )
    targets, horizon = _targets(y_pred, values.shape[1])
    n_series = values.shape[0]
    # (n_series, n_targets, horizon) -> rows (series, step), a column per target
    steps = values.reshape(n_series, len(targets), horizon).transpose(0, 2, 1)
    steps = steps.reshape(n_series * horizon, len(targets))
    columns = [name] if len(targets) == 1 else [f"{name}[{t}]" for t in targets]
    future = _future_times(times, horizon, freq, library)
    row_ids = np.repeat(np.asarray(ids, dtype=object), horizon)
    if library == "pandas":
        import pandas as pd

        frame = pd.DataFrame({id_name: row_ids, time_name: future})
        if isinstance(getattr(ids, "dtype", None), pd.CategoricalDtype):
            frame[id_name] = frame[id_name].astype(ids.dtype)
        for position, column in enumerate(columns):
            frame[column] = steps[:, position]
        return frame.sort_values([id_name, time_name], kind="stable").reset_index(
            drop=True
        )
    import polars as pl

    frame = pl.DataFrame(
        [pl.Series(id_name, row_ids.tolist()), pl.Series(time_name, future)]
        + [pl.Series(column, steps[:, p]) for p, column in enumerate(columns)]
    )
    return frame.sort([id_name, time_name], maintain_order=True)


def _keys(keys):
    """Return (library, ids, last times, id name, time name) of ``keys``."""
    pd, pl = sys.modules.get("pandas"), sys.modules.get("polars")
    if pd is not None and isinstance(keys, (pd.DataFrame, pd.Series)):
        index = keys.index
        if isinstance(index, pd.MultiIndex) and index.nlevels == 2:
            id_name, time_name = (str(name) for name in index.names)
            return (
                "pandas",
                index.get_level_values(0),
                index.get_level_values(1),
                id_name,
                time_name,
            )
        if isinstance(keys, pd.DataFrame) and keys.shape[1] >= 2:
            id_name, time_name = (str(name) for name in keys.columns[:2])
            return "pandas", keys.iloc[:, 0], keys.iloc[:, 1], id_name, time_name
    elif pl is not None and isinstance(keys, pl.DataFrame) and keys.width >= 2:
        id_name, time_name = keys.columns[:2]
        ids, times = keys.get_column(id_name), keys.get_column(time_name)
        return "polars", ids, times, id_name, time_name
    raise ValueError(
        "to_long_forecast needs the series and the time of each row: a pandas "
        "object indexed by (id, time), as make_windows(..., id_col=...) gives "
        "it, or keys=X, a frame whose first two columns are the id and the "
        f"time (the polars X of make_windows); got {type(keys).__name__}."
    )


def _targets(y_pred, n_columns: int) -> tuple[list[str], int]:
    """Return (target names, horizon) from ``name[t+h]`` columns, or one target."""
    columns = getattr(y_pred, "columns", None)
    parsed = None if columns is None else parse_target_names(list(columns))
    if parsed is None:
        return ["y"], n_columns
    return parsed


def _future_times(times, horizon: int, freq, library: str):
    """Return the times ``times + h * freq``, h = 1..horizon, series-major."""
    if library == "pandas":
        import pandas as pd

        last = pd.Index(times)
        if freq is None:
            _check_integer_times(last.dtype.kind)
            freq = 1
        if isinstance(freq, str):
            freq = pd.tseries.frequencies.to_offset(freq)
        ahead = [last + h * freq for h in range(1, horizon + 1)]
        columns = np.column_stack([np.asarray(step) for step in ahead])
        return columns.ravel()

    last = times
    if freq is None:
        _check_integer_times("i" if last.dtype.is_integer() else "M")
        freq = 1
    ahead, current = [], last
    for h in range(1, horizon + 1):
        if isinstance(freq, str):
            current = current.dt.offset_by(freq)
        elif isinstance(freq, (Integral, datetime.timedelta)):
            current = last + h * freq
        else:
            raise ValueError(
                "freq must be an int, a timedelta or a polars duration string "
                f"such as '1h'; got {freq!r}."
            )
        ahead.append(current)
    return _interleave(ahead)


def _interleave(columns):
    """Return the polars Series ``columns`` interleaved: row 0 of each, then row 1."""
    import polars as pl

    frame = pl.DataFrame({str(h): column for h, column in enumerate(columns)})
    return frame.select(pl.concat_list(pl.all()).alias("t")).explode("t").to_series()


def _check_integer_times(kind: str) -> None:
    if kind not in "iu":
        raise ValueError(
            "freq is needed for times that are not integers: the distance between "
            "two steps, e.g. freq='h' (pandas) or freq='1h' (polars)."
        )
