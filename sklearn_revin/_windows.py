"""make_windows: a time series as tabular (input window, forecast horizon) pairs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _dask, _panel
from ._layout import input_name, positions_of, target_name

__all__ = ["frame_library", "make_windows"]


def make_windows(
    data,
    window: int,
    horizon: int,
    *,
    step: int = 1,
    target: int | str | Sequence[int | str] | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
) -> tuple[Any, Any]:
    """Cut a time series into input windows and the horizons that follow them.

    Window ``i`` starts at time ``i * step``: its inputs are the ``window``
    values from there, its targets the ``horizon`` values right after. The
    result is laid out as :class:`RevINTransformer` and
    :class:`RevINRegressor` expect: one row per window, variate-major (the
    first ``window`` columns of ``X`` are variate 0, the next ones variate 1,
    and so on; likewise for ``Y`` with ``horizon`` columns per target).

    Parameters
    ----------
    data : array-like of shape (n_times,) or (n_times, n_variates)
        The series, oldest value first: a 1-D or 2-D array-like, a pandas
        Series or DataFrame, or a polars Series or DataFrame, of numbers. NaN
        is kept as it is. A dask array or DataFrame gives lazy dask arrays
        (see the scaling page).
    window : int
        Number of steps in each input window, at least 1.
    horizon : int
        Number of steps to forecast after each window. ``0`` gives the
        windows to forecast from beyond the data: every window of the series,
        the last one ending at its last value (with ``step=1``), and a ``Y``
        with no columns.
    step : int, default=1
        Distance in steps between the starts of consecutive windows.
    target : int, str or sequence of them, default=None
        The variates to forecast, by position or (for data frames) by column
        name, in the order of ``Y``'s blocks; None means all variates. With
        ``id_col``, the value columns of the long frame.
    id_col : str, default=None
        For a long frame of several series (pandas or polars, one row per
        series and time; or a dask DataFrame): the column naming the series.
        Windows are then cut within each series only, series in the order of
        their sorted ids; every other column but ``time_col`` is a value to
        window. See :ref:`panels`.
    time_col : str, default=None
        With ``id_col``, the column to sort each series by; a time that
        repeats within a series, is missing, or cannot be sorted is an error
        naming the series. None keeps the rows' order within each series and
        keys them by their position.

    Returns
    -------
    X : ndarray, pandas.DataFrame or polars.DataFrame of shape \
            (n_windows, n_variates * window)
        Input windows, with ``n_windows = (n_times - window - horizon) // step
        + 1``. Row ``i`` ends at time ``i * step + window - 1``.
    Y : ndarray, pandas.DataFrame or polars.DataFrame of shape \
            (n_windows, n_targets * horizon)
        The ``horizon`` values after each window, for each target variate.

        With ``id_col``: pandas frames indexed by ``(id_col, time_col)``, the
        series and the time of each window's last input step; polars and
        dask ``X`` start with those two columns instead (they have no such
        index). ``horizon=0`` gives each series' last window only. A series
        shorter than ``window + horizon`` is named in a warning: it gives no
        rows for ``horizon > 0``, and a last window front-padded with NaN for
        ``horizon=0``.

    Raises
    ------
    ValueError
        If the series is shorter than ``window + horizon``, is not 1-D or 2-D,
        holds no numbers, or if ``target`` names no variate of it; if it is a
        long panel given without ``id_col`` (a MultiIndex, an index whose
        values repeat, columns that are not numbers); with ``id_col``, for
        the times above, or a dask DataFrame with a series split across
        partitions.

    See Also
    --------
    RevINRegressor : Fits a regressor on these windows with RevIN around it.
    numpy.lib.stride_tricks.sliding_window_view : The strided view used here.

    Notes
    -----
    Nothing is copied when it need not be: for NumPy input with one variate
    (or one target), ``X`` (or ``Y``) is a read-only strided view of
    ``data``; with several variates each of ``X`` and ``Y`` is one copy
    (variate-major rows do not exist in the memory of a (time, variate)
    array). Copy a view before writing into it.

    NumPy windows carry no layout: give ``n_variates`` (the number of columns
    of ``data``) to :class:`RevINRegressor` or :class:`RevINTransformer`,
    which otherwise read each row as one variate (and warn where the windows,
    in time order, show several). Data frames carry it in their column names.

    pandas and polars input give a data frame of the same library, with
    feature names such as ``"co2[t-2]"``, ``"co2[t-1]"``, ``"co2[t]"`` for
    the inputs (``t`` is the last input step) and ``"co2[t+1]"``... for the
    targets, so that ``get_feature_names_out`` and ``set_output`` carry them.
    A pandas result is indexed by the time of each window's last input step.
    An unnamed pandas Series is called ``"x0"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_revin import make_windows
    >>> X, Y = make_windows(np.arange(7.0), window=3, horizon=2)
    >>> X
    array([[0., 1., 2.],
           [1., 2., 3.],
           [2., 3., 4.]])
    >>> Y
    array([[3., 4.],
           [4., 5.],
           [5., 6.]])
    >>> series = np.column_stack([np.arange(6.0), 10 * np.arange(6.0)])
    >>> X, Y = make_windows(series, window=2, horizon=1, step=2, target=1)
    >>> X  # variate 0 then variate 1
    array([[ 0.,  1.,  0., 10.],
           [ 2.,  3., 20., 30.]])
    >>> Y
    array([[20.],
           [40.]])
    >>> import pandas as pd
    >>> X, Y = make_windows(pd.Series([1.0, 2.0, 3.0, 4.0], name="co2"), 2, 1)
    >>> list(X.columns), list(Y.columns)
    (['co2[t-1]', 'co2[t]'], ['co2[t+1]'])

    ``horizon=0`` gives the last window, to forecast what comes after the data:

    >>> X_last, _ = make_windows(pd.Series([1.0, 2.0, 3.0, 4.0], name="co2"), 2, 0)
    >>> X_last.iloc[[-1]]
       co2[t-1]  co2[t]
    3       3.0     4.0

    A long frame of several series, cut within each one:

    >>> panel = pd.DataFrame({
    ...     "unique_id": ["b", "a", "a", "b", "a", "b", "a"],
    ...     "ds": [2, 3, 1, 1, 2, 3, 4],
    ...     "y": [20.0, 3.0, 1.0, 10.0, 2.0, 30.0, 4.0],
    ... })
    >>> X, Y = make_windows(panel, 2, 1, id_col="unique_id", time_col="ds")
    >>> X.join(Y)
                  y[t-1]  y[t]  y[t+1]
    unique_id ds
    a         2      1.0   2.0     3.0
              3      2.0   3.0     4.0
    b         2     10.0  20.0    30.0
    """
    window = _check_positive_int(window, "window")
    horizon = _check_positive_int(horizon, "horizon", minimum=0)
    step = _check_positive_int(step, "step")
    # --- panels (issue 23): a long frame of many series, cut within each one.
    if id_col is not None:
        return _panel.make_panel_windows(
            data,
            window,
            horizon,
            step=step,
            target=target,
            id_col=id_col,
            time_col=time_col,
            windowing=make_windows,
        )
    if time_col is not None:
        raise ValueError(
            f"time_col={time_col!r} sorts the rows of each series of a long "
            "frame: it needs id_col, the column naming the series (for one "
            "series, sort the frame by time and pass its value columns)."
        )
    _panel.check_not_long(data)
    # --- end panels
    if _dask.is_dask_collection(data):
        return _dask.make_windows(
            data, window, horizon, step=step, target=target, windowing=make_windows
        )
    values, names, index, library = _as_time_by_variate(data)
    targets = _resolve_target(target, names, values.shape[1])

    n_times, n_variates = values.shape
    if n_times < window + horizon:
        raise ValueError(
            f"The series has {n_times} step(s), but window + horizon = "
            f"{window} + {horizon} = {window + horizon} are needed for one "
            "window and its horizon."
        )
    # (n_windows, n_variates, window + horizon): a strided view, no copy.
    spans = sliding_window_view(values, window + horizon, axis=0)[::step]
    n_windows = spans.shape[0]
    X = spans[:, :, :window].reshape(n_windows, n_variates * window)
    # A slice keeps Y a view where it can be; a list of several targets is
    # fancy indexing, which makes the one copy.
    Y = spans[:, targets, window:].reshape(n_windows, -1)

    if library is None:
        return X, Y
    target_names = (
        names[targets]
        if isinstance(targets, slice)
        else [names[position] for position in targets]
    )
    x_names = [
        input_name(name, lag) for name in names for lag in range(window - 1, -1, -1)
    ]
    y_names = [
        target_name(name, h) for name in target_names for h in range(1, horizon + 1)
    ]
    if library == "pandas":
        import pandas as pd

        row_index = index[window - 1 :: step][:n_windows]
        return (
            pd.DataFrame(X, index=row_index, columns=x_names, copy=False),
            pd.DataFrame(Y, index=row_index, columns=y_names, copy=False),
        )
    import polars as pl

    return (
        pl.DataFrame(X, schema=x_names, orient="row"),
        pl.DataFrame(Y, schema=y_names, orient="row"),
    )


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def frame_library(obj) -> str | None:
    """Return "pandas" or "polars" for a DataFrame or Series of it, else None."""
    for library in ("pandas", "polars"):
        if _is_frame_of(obj, library):
            return library
    return None


def _is_frame_of(series, library: str) -> bool:
    """Return True for a DataFrame or Series of ``library`` ("pandas" or "polars").

    Never imports the library: an object of it can only exist once it is imported.
    """
    module = sys.modules.get(library)
    return module is not None and isinstance(series, (module.DataFrame, module.Series))


def _as_time_by_variate(series):
    """Return the values as (n_times, n_variates), the names, the index, the library."""
    if _is_frame_of(series, "pandas"):
        if series.ndim == 1:
            names = ["x0" if series.name is None else str(series.name)]
        else:
            names = [str(column) for column in series.columns]
        values, index, library = series.to_numpy(), series.index, "pandas"
    elif _is_frame_of(series, "polars"):
        names = [series.name] if hasattr(series, "dtype") else list(series.columns)
        names = [name if name else "x0" for name in names]
        values, index, library = series.to_numpy(), None, "polars"
    else:
        names, index, library = None, None, None
        values = np.asarray(series)
    if values.ndim == 1:
        values = values[:, np.newaxis]
    if values.ndim != 2:
        raise ValueError(
            "series must be 1-D (n_times,) or 2-D (n_times, n_variates); got "
            f"shape {values.shape}."
        )
    if values.dtype.kind not in "biuf":
        raise ValueError(
            "series must hold numbers (bool, integer or float); got dtype "
            f"{values.dtype}."
        )
    if values.shape[1] == 0:
        raise ValueError("series has no variate (0 columns).")
    return values, names, index, library


def _resolve_target(target, names, n_variates):
    """Return the target variates as a slice (all) or a list of positions."""
    if target is None:
        return slice(None)
    if isinstance(target, str) or np.ndim(target) == 0:
        requested = [target]
    else:
        requested = list(target)
    if not requested:
        raise ValueError("target must name at least one variate; got an empty list.")
    positions = positions_of(
        requested,
        names,
        n_variates,
        label="target",
        member="a variate of the series",
        unnamed="it has no column names",
        holder=f"a series with {n_variates} variate(s)",
        kinds="variate positions or column names",
    )
    if len(set(positions)) != len(positions):
        raise ValueError(f"target must not repeat a variate; got {requested!r}.")
    if len(positions) == 1:  # a basic index: Y stays a view of the series
        return slice(positions[0], positions[0] + 1)
    return positions
