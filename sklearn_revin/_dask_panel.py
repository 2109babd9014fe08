"""Lazy windows of a long dask DataFrame: one partition, whole series, at a time.

One job: ``make_windows(ddf, ..., id_col=...)`` for a dask DataFrame. Each
partition is cut by the in-memory panel windowing, lazily, which is right only
when no series is split across partitions: one pass over the id column
checks that first, and a split series is an error that says how to
repartition.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["make_windows"]


def make_windows(
    data,
    window: int,
    horizon: int,
    *,
    step: int,
    target,
    id_col,
    time_col,
    panel_windows: Callable,
):
    """Return lazy dask DataFrames ``X`` and ``Y``, cut partition by partition.

    ``X`` starts with the ``id_col`` and time columns (dask has no
    MultiIndex), then the windows; ``Y`` holds the targets, row by row as
    ``X``. ``panel_windows`` is the in-memory panel windowing.
    """
    import dask
    import dask.dataframe as dd

    if not isinstance(data, dd.DataFrame):
        raise ValueError(
            "With id_col, a dask collection must be a long dask DataFrame (one "
            f"row per series and time); got {type(data).__name__}."
        )
    columns = [str(column) for column in data.columns]
    if id_col not in columns:
        raise ValueError(
            f"id_col={id_col!r} is not a column of the frame; its columns are "
            f"{columns}."
        )
    _check_whole_series(data, id_col, dask)
    time_name = "time" if time_col is None else time_col

    def cut(part, which):
        X, Y = panel_windows(
            part,
            window,
            horizon,
            step=step,
            target=target,
            id_col=id_col,
            time_col=time_col,
        )
        if which == "Y":
            return Y.reset_index(drop=True)
        return X.reset_index()

    import pandas as pd

    # An empty frame of the same columns and dtypes: what a partition looks like.
    meta = pd.DataFrame(
        {name: pd.Series(dtype=dtype) for name, dtype in data.dtypes.items()}
    )
    X_meta = cut(meta, "X")
    if time_col is not None:
        X_meta = X_meta.astype({time_name: meta[time_col].dtype})
    X_meta = X_meta.astype({id_col: meta[id_col].dtype})
    Y_meta = cut(meta, "Y")
    X = data.map_partitions(cut, "X", meta=X_meta)
    Y = data.map_partitions(cut, "Y", meta=Y_meta)
    return X, Y


def _check_whole_series(data, id_col, dask):
    """Refuse a series whose rows lie in more than one partition."""
    ids = data[id_col]
    per_partition = dask.compute(
        *[ids.get_partition(k).unique() for k in range(data.npartitions)]
    )
    owner = {}
    for partition, values in enumerate(per_partition):
        for value in values:
            if value in owner:
                raise ValueError(
                    f"Series {value!r} has rows in partitions {owner[value]} and "
                    f"{partition} of the dask DataFrame: windows are cut partition "
                    "by partition, so each series must lie in one. Repartition by "
                    f"series first: data = data.shuffle(on={id_col!r})."
                )
            owner[value] = partition
