"""Windows of a long panel: many series in one frame, cut within each series only.

One job: :func:`make_windows` with ``id_col`` comes here. The frame (pandas or
polars, one row per series and time) is sorted by series and time, each
series is cut as a single series is, and the rows say which series and which
time they belong to: a ``(id_col, time_col)`` MultiIndex for pandas, leading
``id_col`` and ``time_col`` columns of ``X`` for polars, which has no index.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

import numpy as np

from . import _dask, _dask_panel
from ._layout import input_name, target_name
from ._nonnumeric import is_numeric_dtype

__all__ = ["check_not_long", "make_panel_windows", "series_of_rows"]


def make_panel_windows(
    data,
    window: int,
    horizon: int,
    *,
    step: int,
    target,
    id_col,
    time_col,
    windowing: Callable,
):
    """Cut each series of a long frame into windows; see :func:`make_windows`.

    ``windowing`` is :func:`make_windows` itself (for one series, as an
    array), passed in to keep the import graph acyclic.
    """
    if _dask.is_dask_collection(data):
        return _dask_panel.make_windows(
            data,
            window,
            horizon,
            step=step,
            target=target,
            id_col=id_col,
            time_col=time_col,
            panel_windows=lambda part, *args, **kwargs: make_panel_windows(
                part, *args, **kwargs, windowing=windowing
            ),
        )
    library = _library(data)
    columns = [str(column) for column in data.columns]
    for label, name in (("id_col", id_col), ("time_col", time_col)):
        if name is not None and name not in columns:
            raise ValueError(
                f"{label}={name!r} is not a column of the frame; its columns are "
                f"{columns}."
            )
    if time_col is not None and time_col == id_col:
        raise ValueError(f"id_col and time_col must differ; both are {id_col!r}.")
    value_names = [name for name in columns if name not in (id_col, time_col)]
    if not value_names:
        raise ValueError(
            f"The frame has no value column besides id_col={id_col!r} and "
            f"time_col={time_col!r}."
        )
    ids, times, values = _columns(data, library, id_col, time_col, value_names)
    codes, uniques = _factorize(ids)
    order = _sort_within_series(codes, times, uniques, time_col)
    codes, values = codes[order], values[order]
    times = _positions_within(codes) if times is None else times[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]][: len(codes)])
    ends = np.r_[starts[1:], len(codes)][: len(starts)]

    if target is None:
        target_positions = None
    else:
        # Resolve the names once, on the value columns, as a single series does.
        target_positions = _target_positions(target, value_names, windowing)
    needed = window + horizon
    short = [
        uniques[codes[start]]
        for start, end in zip(starts, ends, strict=True)
        if end - start < needed
    ]
    if short:
        _warn_short(short, window, horizon)

    X_parts, Y_parts, key_ids, key_times = [], [], [], []
    n_variates = len(value_names)
    for start, end in zip(starts, ends, strict=True):
        series = values[start:end]
        if len(series) < needed:
            if horizon:
                continue
            # Front-padded with NaN: the window statistics skip NaN.
            padding = np.full((window - len(series), n_variates), np.nan)
            series = np.vstack([padding, series.astype(np.float64)])
        X, Y = windowing(series, window, horizon, step=step, target=target_positions)
        if not horizon:  # the last window of each series, to forecast from
            X, Y = X[-1:], Y[-1:]
            rows = np.array([end - 1])
        else:
            rows = start + window - 1 + step * np.arange(X.shape[0])
        X_parts.append(X)
        Y_parts.append(Y)
        key_ids.append(codes[rows])
        key_times.append(times[rows])

    n_targets = n_variates if target_positions is None else len(target_positions)
    x_names = [
        input_name(name, lag)
        for name in value_names
        for lag in range(window - 1, -1, -1)
    ]
    target_names = (
        value_names
        if target_positions is None
        else [value_names[position] for position in target_positions]
    )
    y_names = [
        target_name(name, h) for name in target_names for h in range(1, horizon + 1)
    ]
    X = _stack(X_parts, n_variates * window, values.dtype)
    Y = _stack(Y_parts, n_targets * horizon, values.dtype)
    row_ids = uniques[np.concatenate(key_ids)] if key_ids else uniques[:0]
    row_times = np.concatenate(key_times) if key_times else times[:0]
    id_name = id_col
    time_name = "time" if time_col is None else time_col
    if library == "pandas":
        return _pandas_result(
            data, X, Y, x_names, y_names, row_ids, row_times, id_name, time_name
        )
    return _polars_result(
        data, X, Y, x_names, y_names, row_ids, row_times, id_name, time_name
    )


def series_of_rows(X) -> np.ndarray | None:
    """Return the series of each row of panel windows, or None for other X.

    Pandas windows from :func:`make_windows` with ``id_col`` are indexed by
    ``(id_col, time_col)``: the first level names each row's series. Any
    other X (NumPy, polars, a frame with another index) says nothing.
    """
    index = getattr(X, "index", None)
    if getattr(index, "nlevels", 1) != 2 or not hasattr(X, "columns"):
        return None
    return np.asarray(index.get_level_values(0))


def check_not_long(series) -> None:
    """Refuse a frame that is visibly a long panel given without id_col.

    A MultiIndex, or an index whose values repeat (the times of several series
    stacked), would give windows across series; a frame with columns that are
    not numbers (an id, a time) is named column by column.
    """
    library = _frame_library(series)
    if library is not None and hasattr(series, "columns"):
        schema = series.dtypes if library == "pandas" else series.schema
        other = [
            str(name)
            for name, dtype in schema.items()
            if not is_numeric_dtype(dtype, library)
        ]
        if other:
            raise ValueError(
                f"series must hold numbers; the columns {other} do not. A long "
                "frame of several series (one row per series and time) is cut "
                "within each series with id_col and time_col, e.g. "
                f"make_windows(frame, window, horizon, id_col={other[0]!r}, "
                "time_col='ds'); otherwise select the numeric columns."
            )
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(series, (pd.Series, pd.DataFrame)):
        return
    index = series.index
    if isinstance(index, pd.MultiIndex):
        names = [str(name) for name in index.names]
        raise ValueError(
            f"The series has a MultiIndex {names}, as a long panel of several "
            "series has: cut within each series with id_col, e.g. "
            "make_windows(data.reset_index(), window, horizon, "
            f"id_col={names[0]!r}, time_col={names[-1]!r}); windows of the "
            "stacked values would span two series."
        )
    if not index.is_unique:
        repeated = index[index.duplicated()][:3].tolist()
        raise ValueError(
            f"The index of the series repeats values ({repeated}...), as the "
            "times of a long panel of several series do: cut within each "
            "series with id_col, e.g. make_windows(frame, window, horizon, "
            "id_col='unique_id', time_col='ds'); windows of the stacked values "
            "would span two series."
        )


# ------------------------------------------------------------------ private


def _frame_library(data) -> str | None:
    for library in ("pandas", "polars"):
        module = sys.modules.get(library)
        if module is not None and isinstance(data, (module.DataFrame, module.Series)):
            return library
    return None


def _library(data) -> str:
    for library in ("pandas", "polars"):
        module = sys.modules.get(library)
        if module is not None and isinstance(data, module.DataFrame):
            return library
    raise ValueError(
        "With id_col, data must be a long pandas or polars DataFrame (one row "
        f"per series and time); got {type(data).__name__}."
    )


def _columns(data, library, id_col, time_col, value_names):
    """Return the ids, the times (or None) and the values as (n_rows, n_values)."""
    if library == "pandas":
        ids = data[id_col].to_numpy()
        times = None if time_col is None else data[time_col].to_numpy()
        frame = data[value_names]
    else:
        ids = data.get_column(id_col).to_numpy()
        times = None if time_col is None else data.get_column(time_col).to_numpy()
        frame = data.select(value_names)
    for name in value_names:
        column = frame[name]
        kind = column.to_numpy().dtype.kind
        if kind not in "biuf":
            raise ValueError(
                f"Column {name!r} must hold numbers to be windowed; got dtype "
                f"{column.dtype}. Pass the series id as id_col and the time as "
                "time_col; select the value columns to window (a frame of "
                "id_col, time_col and numbers)."
            )
    values = frame.to_numpy()
    if values.ndim == 1:
        values = values[:, np.newaxis]
    return ids, times, values


def _factorize(ids):
    """Return (codes, uniques): the series in the order of their sorted ids.

    Sorted, not in order of appearance, so that the same rows in another
    order (a dask shuffle, a sampled frame) give the same windows in the same
    order.
    """
    if ids.dtype == object and any(value is None for value in ids):
        raise ValueError("id_col holds missing ids (None); every row needs a series.")
    try:
        uniques, codes = np.unique(ids, return_inverse=True)
    except TypeError as error:
        raise ValueError(
            f"id_col holds ids that cannot be compared with each other: {error}"
        ) from None
    return codes.ravel(), uniques


def _sort_within_series(codes, times, uniques, time_col):
    """Return the row order by series, then time; refuse times that cannot sort."""
    if times is None:
        return np.argsort(codes, kind="stable")
    if times.dtype.kind in "fmM":
        missing = np.isnat(times) if times.dtype.kind in "mM" else np.isnan(times)
        if missing.any():
            name = uniques[codes[np.flatnonzero(missing)[0]]]
            raise ValueError(
                f"Series {name!r} has a missing time in {time_col!r}; every row "
                "needs a time to be sorted."
            )
    try:
        order = np.lexsort((times, codes))
    except TypeError:
        for code, name in enumerate(uniques):
            try:
                np.sort(times[codes == code])
            except TypeError as error:
                raise ValueError(
                    f"Series {name!r} has times in {time_col!r} that cannot be "
                    f"sorted: {error}"
                ) from None
        raise
    sorted_codes, sorted_times = codes[order], times[order]
    repeated = (sorted_codes[1:] == sorted_codes[:-1]) & (
        sorted_times[1:] == sorted_times[:-1]
    )
    if repeated.any():
        row = np.flatnonzero(repeated)[0]
        raise ValueError(
            f"Series {uniques[sorted_codes[row]]!r} has the time "
            f"{sorted_times[row]!r} in {time_col!r} more than once; each "
            "series needs one row per time."
        )
    return order


def _positions_within(codes):
    """Return each row's position within its series (codes sorted by series)."""
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    lengths = np.diff(np.r_[starts, len(codes)])
    return np.arange(len(codes)) - np.repeat(starts, lengths)


def _target_positions(target, value_names, windowing):
    """Resolve ``target`` against the value columns, as for a single series."""
    probe = np.zeros((1, len(value_names)))
    names = {name: position for position, name in enumerate(value_names)}
    requested = [target] if isinstance(target, (str, int, np.integer)) else target
    positions = []
    for item in requested:
        if isinstance(item, str):
            if item not in names:
                raise ValueError(
                    f"target {item!r} is not a value column of the frame "
                    f"({value_names})."
                )
            positions.append(names[item])
        else:
            positions.append(item)
    windowing(probe, 1, 0, target=positions)  # the single-series checks
    return [int(position) % len(value_names) for position in positions]


def _warn_short(short, window, horizon):
    shown = ", ".join(repr(name) for name in short[:10])
    more = f" and {len(short) - 10} more" if len(short) > 10 else ""
    if horizon:
        what = (
            "they give no window with its full horizon, so they have no training rows"
        )
    else:
        what = (
            "their last window is front-padded with NaN (the window statistics "
            "skip NaN; the regressor must accept NaN, e.g. "
            "HistGradientBoostingRegressor)"
        )
    warnings.warn(
        f"{len(short)} series are shorter than window + horizon = "
        f"{window} + {horizon}: {shown}{more}; {what}.",
        UserWarning,
        stacklevel=4,
    )


def _stack(parts, n_columns, dtype):
    if not parts:
        return np.empty((0, n_columns), dtype=dtype)
    return np.concatenate(parts, axis=0)


def _pandas_result(data, X, Y, x_names, y_names, ids, times, id_name, time_name):
    import pandas as pd

    id_values = pd.Index(ids, name=id_name)
    if isinstance(data[id_name].dtype, pd.CategoricalDtype):
        id_values = pd.CategoricalIndex(
            ids, categories=data[id_name].cat.categories, name=id_name
        )
    index = pd.MultiIndex.from_arrays([id_values, pd.Index(times, name=time_name)])
    return (
        pd.DataFrame(X, index=index, columns=x_names, copy=False),
        pd.DataFrame(Y, index=index, columns=y_names, copy=False),
    )


def _polars_result(data, X, Y, x_names, y_names, ids, times, id_name, time_name):
    import polars as pl

    id_dtype = data.schema[id_name]
    time_dtype = data.schema.get(time_name, pl.Int64)
    keys = pl.DataFrame(
        [
            pl.Series(id_name, ids.tolist()).cast(id_dtype),
            pl.Series(time_name, times).cast(time_dtype),
        ]
    )
    windows = pl.DataFrame(X, schema=x_names, orient="row")
    return (
        pl.concat([keys, windows], how="horizontal"),
        pl.DataFrame(Y, schema=y_names, orient="row"),
    )
