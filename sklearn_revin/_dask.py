"""Dask arrays: row-parallel, lazy RevIN over data larger than memory.

RevIN is per instance (per row), so a dask array chunked by rows is normalized
block by block with no communication between blocks. Each function here checks
its input on the client, then maps the *in-memory* estimator method over the
row chunks with :func:`dask.array.map_blocks`; nothing is computed until the
user asks (``.compute()``, ``.persist()``, ``dask.array.store``...).

This module never imports dask at import time: dask is an optional extra, and a
dask array can only exist when dask has been imported, so the detection looks
at ``sys.modules``.

Checks run on a zero-valued *stand-in* with one row and X's trailing shape and
dtype, passed to the in-memory method, so that dask input gets exactly the
in-memory validation, messages and output dtype, without computing any of X.

The dependency goes one way: the estimators and ``make_windows`` import this
module and call it for dask input; it imports nothing of the package, and uses
only the public methods and fitted attributes of the estimators it is given
(``transform``, ``instance_statistics``, ``inverse_transform``,
``normalize_with``, ``predict``, ``n_variates_``, ``set_params``...) and the
in-memory windowing function it is passed.
"""

from __future__ import annotations

import math
import os
import sys
from copy import copy as shallow_copy

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "fit_statistics",
    "instance_statistics",
    "is_dask_collection",
    "make_windows",
    "map_with_statistics",
    "predict",
    "stand_in",
    "transform",
]

# The peak memory of one block task is about this many times the block's
# bytes: the input block, the output block, the temporaries of the torch
# statistics and, when columns were rechunked, the pieces being concatenated.
# benchmarks/bench_dask.py measures it (peak worker memory per chunk).
WORKING_SET_FACTOR = 4

# Fitted attributes the blocks do not need: the per-instance statistics are
# passed to the blocks as arrays aligned with them, and the blocks are NumPy
# arrays without column names.
_CLIENT_ONLY_ATTRIBUTES = ("mean_", "scale_", "feature_names_in_")


def is_dask_collection(obj) -> bool:
    """Return True for a dask collection (array, dataframe, bag...).

    Never imports dask: without dask in ``sys.modules`` there is no dask
    collection.
    """
    dask = sys.modules.get("dask")
    if dask is None:
        return False
    return dask.is_dask_collection(obj)


# ---------------------------------------------------------------- transformer


def stand_in(X):
    """Return one zero row with dask X's trailing shape and dtype.

    A transformer fits its layout, affine parameters and feature count on it
    (they depend only on X's shape and dtype), then takes the lazy
    :func:`instance_statistics` of X as its ``mean_`` and ``scale_``.
    """
    X = _as_dask_array(X)
    return np.zeros((1, *X.shape[1:]), dtype=X.dtype)


def transform(estimator, X):
    """Lazy ``estimator.transform(X)`` of a dask array chunked by rows."""
    check_is_fitted(estimator)
    X = _as_dask_array(X)
    dtype = estimator.transform(stand_in(X)).dtype
    X = _single_column_chunk(X, np.dtype(dtype).itemsize)
    return _transform(_block_estimator(estimator), X, dtype)


def instance_statistics(estimator, X):
    """Lazy ``(mean, scale)`` of each row of dask X, with X's row chunks."""
    check_is_fitted(estimator)
    X = _as_dask_array(X)
    dtype = estimator.instance_statistics(stand_in(X)).mean.dtype
    X = _single_column_chunk(X, np.dtype(dtype).itemsize)
    return _statistics(_block_estimator(estimator), X, dtype)


def map_with_statistics(estimator, X, method, *, statistics, variates=None):
    """Lazy ``estimator.inverse_transform`` or ``normalize_with`` of dask X.

    ``method`` names the in-memory method. ``statistics`` is ``(mean,
    scale)``, already checked by the estimator, NumPy or dask arrays; either
    way they are cut into X's row chunks, so that each block is mapped with
    the statistics of its own rows.
    """
    check_is_fitted(estimator)
    X = _as_dask_array(X)
    mean, scale = statistics
    probe_statistics = (np.ones((1, estimator.n_variates_)),) * 2
    dtype = getattr(estimator, method)(
        stand_in(X), variates=variates, statistics=probe_statistics, copy=True
    ).dtype
    rows_known = not (math.isnan(X.shape[0]) or math.isnan(mean.shape[0]))
    if rows_known and X.shape[0] != mean.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} instance(s) (rows), but the statistics are "
            f"for {mean.shape[0]} instance(s). Pass the statistics of X's "
            "input windows with statistics=revin.instance_statistics(X_in)."
        )
    X = _single_column_chunk(X, np.dtype(dtype).itemsize)
    mean, scale = (_rows_like(values, X) for values in (mean, scale))
    index = "ij" if X.ndim == 2 else "ijk"
    da = _dask_array_module()
    return da.blockwise(
        _map_with_statistics_block,
        index,
        X,
        index,
        mean,
        "iv",
        scale,
        "iv",
        concatenate=True,
        align_arrays=False,
        dtype=dtype,
        meta=np.empty((0,) * X.ndim, dtype=dtype),
        estimator=_block_estimator(estimator),
        method=method,
        variates=None if variates is None else list(variates),
    )


# ----------------------------------------------------------------- regressor


def predict(estimator, X):
    """Lazy ``estimator.predict(X)`` of dask X, one call per row chunk.

    ``estimator`` is any fitted estimator whose ``predict`` is row-wise (one
    output row per input row, depending on that row only), such as
    RevINRegressor. The output's trailing shape and dtype come from a
    prediction on the stand-in.
    """
    check_is_fitted(estimator)
    X = _as_dask_array(X)
    probe = np.asarray(estimator.predict(stand_in(X)))
    X = _single_column_chunk(X, max(probe.dtype.itemsize, _float_itemsize(X)))
    axes = {}
    if probe.ndim < X.ndim:
        axes["drop_axis"] = list(range(probe.ndim, X.ndim))
    elif probe.ndim > X.ndim:
        axes["new_axis"] = list(range(X.ndim, probe.ndim))
    return X.map_blocks(
        _predict_block,
        chunks=(X.chunks[0], *((n,) for n in probe.shape[1:])),
        dtype=probe.dtype,
        meta=probe[:0],
        estimator=_block_estimator(estimator),
        **axes,
    )


def fit_statistics(revin, X, Y, sample_weight, *, block_function, combine, verbose=0):
    """Compute ``block_function(revin, X_block, Y_block, w_block)`` summed over blocks.

    The sufficient statistics of a least-squares fit (see
    ``_sufficient_statistics``): each row chunk of X, with the same rows of
    ``Y`` and ``sample_weight`` (NumPy or dask, cut to X's row chunks), gives
    a small result, and ``combine`` adds two results; the blocks are reduced
    in a tree on the workers and only the sum comes back. X is never
    computed whole. ``verbose`` shows dask's progress bar (distributed's
    ``progress`` under a client).
    """
    import dask

    X = _as_dask_array(X)
    X = _single_column_chunk(X, max(_float_itemsize(X), 8))
    if any(math.isnan(n) for n in X.chunks[0]):
        raise ValueError(
            "X has unknown row chunk sizes; call X.compute_chunk_sizes() first."
        )
    columns = [
        None if values is None else _rows_of(values, X) for values in (Y, sample_weight)
    ]
    blocks = _block_estimator(revin)
    x_parts = X.to_delayed().ravel()
    y_parts = columns[0].to_delayed().ravel()
    w_parts = (
        [None] * len(x_parts) if columns[1] is None else columns[1].to_delayed().ravel()
    )
    task = dask.delayed(block_function, pure=True)
    parts = [
        task(blocks, x, y, w) for x, y, w in zip(x_parts, y_parts, w_parts, strict=True)
    ]
    add = dask.delayed(_combine_all, pure=True)
    while len(parts) > 1:  # a tree of fan-in 8: no task holds every result
        parts = [add(combine, *parts[i : i + 8]) for i in range(0, len(parts), 8)]
    return _compute_with_progress(parts[0], verbose)


def _combine_all(combine, *results):
    total = results[0]
    for result in results[1:]:
        total = combine(total, result)
    return total


def current_client():
    """Return the ``distributed`` client of this context, or None.

    None where ``distributed`` was never imported (no client can exist) or
    no client is running.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_client()
    except ValueError:
        return None


def _compute_with_progress(delayed, verbose):
    client = current_client()
    if client is not None:
        future = client.compute(delayed)
        if verbose:
            sys.modules["distributed"].progress(future)
        return future.result()
    if verbose:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return delayed.compute()
    return delayed.compute()


def _rows_of(values, X):
    """Cut NumPy or dask ``values`` (1-D or 2-D, one row per X row) to X's rows."""
    da = _dask_array_module()
    if values.shape[0] != X.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} rows but y or sample_weight has {values.shape[0]}."
        )
    whole = {axis: -1 for axis in range(1, np.ndim(values))}
    if isinstance(values, da.Array):
        return values.rechunk({0: X.chunks[0], **whole})
    values = np.asarray(values)
    return da.from_array(values, chunks=(X.chunks[0], *values.shape[1:]))


# ------------------------------------------------------------------- windows


def make_windows(series, window, horizon, *, step, target, windowing):
    """Lazy ``make_windows`` of a dask array or dask DataFrame over time.

    ``window``, ``horizon`` and ``step`` are integers >= 1, checked by the
    caller; ``windowing`` is the in-memory ``make_windows``, applied to the
    NumPy blocks (and to a stand-in first, which checks ``target`` and gives
    the output widths and dtype).

    The windows are cut in blocks of about dask's ``array.chunk-size``
    (windows are ``window`` times larger than the series): each block is
    one task that reads just the steps its windows span from the series,
    whatever its chunks, and cuts them with the in-memory
    :func:`~sklearn_revin.make_windows`. A block of a series with many
    variates holds few windows, so that its memory does not depend on the
    window or the horizon.

    Returns lazy dask arrays ``X`` of shape (n_windows, n_variates * window)
    and ``Y`` of shape (n_windows, n_targets * horizon), without names.
    """
    import dask

    da = _dask_array_module()
    series, target = _series_as_dask_array(series, target)
    if series.ndim not in (1, 2):
        raise ValueError(
            "series must be 1-D (n_times,) or 2-D (n_times, n_variates); got "
            f"a dask array of shape {series.shape}."
        )
    n_times = series.shape[0]
    if math.isnan(n_times):
        raise ValueError(
            "series has unknown chunk sizes along time; call "
            "series.compute_chunk_sizes() first."
        )
    # The in-memory function checks target, raises its own error for a series
    # shorter than one span, and gives the output widths and dtype.
    span = window + horizon
    probe = np.zeros((min(n_times, span), *series.shape[1:]), series.dtype)
    X_probe, Y_probe = windowing(probe, window, horizon, step=step, target=target)
    x_width, y_width = X_probe.shape[1], Y_probe.shape[1]
    dtype = np.result_type(X_probe.dtype, Y_probe.dtype)

    series = series.rechunk({axis: -1 for axis in range(1, series.ndim)})
    n_windows = (n_times - span) // step + 1
    width = x_width + y_width
    # Blocks of about dask's chunk size of windows, each cut from just the
    # steps its windows cover. (Cutting each time chunk of the series
    # extended by the next chunk's first steps needed chunks at least as long
    # as the overlap: blocks of 1.3 GiB for Traffic's 862 variates at horizon
    # 96, 7.7 GiB at 720, one per dask thread.)
    per_block = max(1, int(_dask_chunk_bytes() // (width * dtype.itemsize)))
    blocks = []
    for first in range(0, n_windows, per_block):
        count = min(per_block, n_windows - first)
        steps = series[first * step : (first + count - 1) * step + span]
        windows = dask.delayed(_windows_block)(
            steps,
            window=window,
            horizon=horizon,
            step=step,
            target=target,
            windowing=windowing,
        )
        blocks.append(
            da.from_delayed(
                windows, shape=(count, width), dtype=dtype, meta=np.empty((0, 0), dtype)
            )
        )
    stacked = da.concatenate(blocks, axis=0)
    return stacked[:, :x_width], stacked[:, x_width:]


def _series_as_dask_array(series, target):
    """Return (dask array, target as positions) for a dask array or frame."""
    da = _dask_array_module()
    if isinstance(series, da.Array):
        return series, target
    if not hasattr(series, "to_dask_array"):
        raise ValueError(
            "series must be a dask array or a dask DataFrame/Series; got a "
            f"dask {type(series).__name__}."
        )
    columns = [series.name] if series.ndim == 1 else list(series.columns)
    if target is not None:
        requested = [target] if isinstance(target, str | int) else list(target)
        target = [columns.index(t) if t in columns else t for t in requested]
    return series.to_dask_array(lengths=True), target


def _dask_chunk_bytes():
    dask = sys.modules["dask"]
    from dask.utils import parse_bytes

    return parse_bytes(dask.config.get("array.chunk-size"))


def _windows_block(steps, *, window, horizon, step, target, windowing):
    X, Y = windowing(steps, window, horizon, step=step, target=target)
    return np.concatenate([X, Y], axis=1)


# ---------------------------------------------------------------- internals


def _dask_array_module():
    import dask.array

    return dask.array


def _as_dask_array(X, *, name="X"):
    """Return X if it is a dask array; a clear error for other dask collections."""
    da = _dask_array_module()
    if not isinstance(X, da.Array):
        raise ValueError(
            f"{name} is a dask {type(X).__name__}; RevIN takes a dask array "
            "chunked by rows. Convert a dask DataFrame with "
            f"{name}.to_dask_array(lengths=True)."
        )
    if any(math.isnan(n) for n in X.shape[1:]):
        raise ValueError(
            f"{name} has an unknown number of columns (shape {X.shape}); call "
            f"{name}.compute_chunk_sizes() first."
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of "
            "1 is required."
        )
    return X


def _float_dtype(X):
    return X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _float_itemsize(X):
    return _float_dtype(X).itemsize


def _block_estimator(estimator):
    """Return a shallow copy to ship to the blocks: small, copying, unnamed.

    The copy goes without the fitted attributes the blocks do not need (see
    ``_CLIENT_ONLY_ATTRIBUTES``), also in a fitted ``revin_`` (RevINRegressor),
    and with ``copy=True`` where the estimator has that parameter.
    """
    blocks = shallow_copy(estimator)
    for name in _CLIENT_ONLY_ATTRIBUTES:
        if hasattr(blocks, name):
            delattr(blocks, name)
    if hasattr(blocks, "revin_"):  # RevINRegressor: its training statistics
        blocks.revin_ = _block_estimator(blocks.revin_)
    if "copy" in blocks.get_params(deep=False):
        # Blocks may be views of the user's data (dask.array.from_array):
        # never write into them.
        blocks.set_params(copy=True)
    return blocks


def _single_column_chunk(X, itemsize):
    """Rechunk X so that each row chunk holds whole rows; check it fits."""
    if any(len(chunks) > 1 for chunks in X.chunks[1:]):
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    _check_row_chunk_memory(X, itemsize)
    return X


def _check_row_chunk_memory(X, itemsize):
    row_bytes = math.prod(X.shape[1:]) * itemsize
    rows = max((n for n in X.chunks[0] if not math.isnan(n)), default=0)
    budget, where = memory_per_task()
    if budget is None or rows * row_bytes * WORKING_SET_FACTOR <= budget:
        return
    chunk_bytes = rows * row_bytes
    fitting_rows = int(budget // (2 * WORKING_SET_FACTOR * row_bytes))
    if fitting_rows < 1:
        advice = (
            "even a single row is too large: split the windows, or give the "
            "workers more memory."
        )
    else:
        advice = (
            f"rechunk the rows first, e.g. X = X.rechunk({{0: {fitting_rows}, 1: -1}})."
        )
    raise ValueError(
        f"A row chunk of X holds up to {rows} rows of {math.prod(X.shape[1:])} "
        f"values ({_format_bytes(chunk_bytes)}) once its columns are in one "
        "chunk, as RevIN needs whole rows; processing it takes about "
        f"{WORKING_SET_FACTOR} times that, more than the "
        f"{_format_bytes(budget)} of memory per task {where}: {advice}"
    )


def memory_per_task():
    """Return (bytes of memory per concurrent task, where it comes from).

    With a distributed client: the smallest worker memory limit divided by its
    threads. Otherwise: this machine's memory divided by the local scheduler's
    threads. ``(None, ...)`` when no limit is known.
    """
    client = current_client()
    if client is not None:
        workers = client.scheduler_info().get("workers", {}).values()
        limits = [
            w["memory_limit"] / max(w.get("nthreads", 1), 1)
            for w in workers
            if w.get("memory_limit")
        ]
        if limits:
            return min(limits), "on the dask workers (memory_limit / nthreads)"
        return None, "on the dask workers (no memory limit)"
    dask = sys.modules.get("dask")
    threads = (dask.config.get("num_workers", None) if dask else None) or (
        os.cpu_count() or 1
    )
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None, "on this machine (unknown)"
    return total / threads, "on this machine (memory / threads)"


def _format_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _rows_like(values, X):
    """Cut per-instance ``values`` (NumPy or dask) into X's row chunks."""
    da = _dask_array_module()
    known = not any(math.isnan(n) for n in X.chunks[0])
    if isinstance(values, da.Array):
        if known and not any(math.isnan(n) for n in values.chunks[0]):
            return values.rechunk({0: X.chunks[0], 1: -1})
        if values.numblocks[0] != X.numblocks[0]:
            raise ValueError(
                "X and the statistics have unknown row chunk sizes and a "
                f"different number of row chunks ({X.numblocks[0]} and "
                f"{values.numblocks[0]}); call compute_chunk_sizes() on them."
            )
        return values.rechunk({1: -1})
    if not known:
        raise ValueError(
            "X has unknown row chunk sizes, so NumPy statistics cannot be cut "
            "to match them; call X.compute_chunk_sizes() first."
        )
    return da.from_array(values, chunks=(X.chunks[0], -1))


def _transform(blocks, X, dtype):
    return X.map_blocks(
        _transform_block,
        dtype=dtype,
        meta=np.empty((0,) * X.ndim, dtype=dtype),
        estimator=blocks,
    )


def _statistics(blocks, X, dtype):
    n_variates = blocks.n_variates_
    stacked = X.map_blocks(
        _statistics_block,
        chunks=(X.chunks[0], (2 * n_variates,)),
        drop_axis=[2] if X.ndim == 3 else [],
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
        estimator=blocks,
    )
    return stacked[:, :n_variates], stacked[:, n_variates:]


# The block functions run on the workers; they are module-level so that they
# pickle by reference.


def _transform_block(block, *, estimator):
    if block.shape[0] == 0:
        return np.empty(block.shape, dtype=_float_dtype(block))
    return estimator.transform(block)


def _statistics_block(block, *, estimator):
    if block.shape[0] == 0:
        return np.empty((0, 2 * estimator.n_variates_), dtype=_float_dtype(block))
    mean, scale = estimator.instance_statistics(block)
    return np.concatenate([mean, scale], axis=1)


def _map_with_statistics_block(block, mean, scale, *, estimator, method, variates):
    if block.shape[0] == 0:
        return np.empty(block.shape, dtype=_float_dtype(block))
    return getattr(estimator, method)(
        block, variates=variates, statistics=(mean, scale)
    )


def _predict_block(block, *, estimator):
    return np.asarray(estimator.predict(block))
