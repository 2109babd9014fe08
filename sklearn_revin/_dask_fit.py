"""Fitting from dask arrays: row blocks through ``partial_fit``, or a dask ``fit``.

On dask windows, ``RevINRegressor.fit`` (and ``partial_fit``) streams the row
blocks through the per-batch code of ``_incremental``, one block computed at
a time, in one pass, as dask-ml's ``Incremental.fit`` does: the whole array
never exists in one process. A regressor whose own ``fit`` trains on dask
arrays (LightGBM's and XGBoost's dask estimators, dask-ml's ``Incremental``)
is given the fit sets of all blocks as lazy dask arrays instead, and kept as
its local (NumPy) model.

The window weights of ``window_weights="scale"`` are divided by their mean
over all windows, as ``fit`` divides them in memory: a dask reduction before
the pass (the blocks are computed twice: once for the reduction, once to be
fitted), fixed as ``window_weight_divisors_``.

This module does not import the estimator (which imports it): it works with
the arrays, the estimator's public fitted attributes, and the regressor and
per-batch function it is given.
"""

from __future__ import annotations

import math
import operator
import sys
import time
import warnings
from copy import copy as shallow_copy
from functools import partial

import numpy as np
from sklearn.base import clone

from . import _blas, _dask, _incremental
from ._weights import window_factors

__all__ = [
    "dask_route",
    "fit_blocks",
    "fit_dask_blocks",
    "fit_own_dask",
    "has_own_dask_fit",
    "lazy_fit_sets",
    "local_model",
    "refuse_2d_y_through_dask_ml",
    "refuse_weights_through_dask_ml",
    "weight_divisors",
]


# Regressors whose fit trains on dask arrays on the cluster, detected by the
# module of their class: LightGBM's and XGBoost's dask estimators
# (DaskLGBMRegressor, DaskXGBRegressor) and dask-ml's wrappers (Incremental).
OWN_DASK_FIT_MODULES = ("lightgbm.dask", "xgboost.dask", "dask_ml")


def has_own_dask_fit(regressor) -> bool:
    """Return True for a regressor whose own ``fit`` trains on dask arrays.

    dask-ml's ``ParallelPostFit`` is not one: it fits its estimator in memory.
    """
    module = type(regressor).__module__
    return type(regressor).__name__ != "ParallelPostFit" and any(
        module == prefix or module.startswith(prefix + ".")
        for prefix in OWN_DASK_FIT_MODULES
    )


def refuse_weights_through_dask_ml(regressor, weighted: bool) -> None:
    """Raise where dask-ml's ``Incremental`` would be given per-window weights.

    ``Incremental.fit`` hands its fit parameters whole to the ``partial_fit``
    of every block, so a ``sample_weight`` of one weight per row cannot go
    through it.
    """
    if weighted and type(regressor).__module__.startswith("dask_ml"):
        name = type(regressor).__name__
        raise ValueError(
            f"dask-ml's {name}.fit passes its fit parameters whole to the "
            "partial_fit of every block, so the window weights (window_weights "
            "other than 'uniform', or sample_weight) cannot go through it. Use "
            "window_weights='uniform' without sample_weight, or give "
            "RevINRegressor the wrapped estimator itself: it is then fitted "
            "with partial_fit block by block, with the weights."
        )


def refuse_2d_y_through_dask_ml(regressor, y_shape) -> None:
    """Raise where dask-ml's ``Incremental`` would be given a 2-D ``y``.

    ``Incremental.fit`` looks up the blocks of ``y`` by their row index only,
    the key of a 1-D array's blocks: a 2-D ``y``'s blocks are not found, and
    its estimator's ``partial_fit`` fails ("inconsistent numbers of
    samples").
    """
    if len(y_shape) == 1 or not any(
        kind.__name__ == "Incremental" and kind.__module__.startswith("dask_ml")
        for kind in type(regressor).__mro__
    ):
        return
    name = type(regressor).__name__
    raise ValueError(
        f"dask-ml's {name}.fit takes y of shape (n_samples,) only (it looks "
        "up the blocks of y by row), but the normalized windows would give it "
        f"y of shape {tuple(y_shape)}, one column per step and target "
        "variate. Fit one step of one target variate, with y of shape "
        "(n_windows,) (not (n_windows, 1)), or channel_independent=True with "
        "horizon 1; or use a regressor whose own dask fit takes several "
        "columns (xgboost.dask.DaskXGBRegressor), or give RevINRegressor the "
        "wrapped estimator itself: it is then fitted with partial_fit block "
        "by block, on y of several columns where its partial_fit takes them."
    )


def local_model(fitted):
    """Return the local (NumPy) estimator of a fitted own-dask regressor.

    LightGBM's dask estimators give theirs by ``to_local()``; dask-ml's
    ``Incremental`` keeps the estimator it fitted block by block as
    ``estimator_``; XGBoost's dask estimators hold a booster, which an
    ``xgboost.XGBRegressor`` of the same parameters loads from its raw bytes
    (``Booster.save_raw`` and ``XGBModel.load_model``, documented for a
    ``bytearray``).
    """
    if hasattr(fitted, "to_local"):
        return fitted.to_local()
    if type(fitted).__module__.startswith("dask_ml"):
        return getattr(fitted, "estimator_", fitted)  # dask-ml's own models
    from xgboost import XGBRegressor

    known = XGBRegressor().get_params()
    params = {k: v for k, v in fitted.get_params().items() if k in known}
    local = XGBRegressor(**params)
    local.load_model(bytearray(fitted.get_booster().save_raw("ubj")))
    return local


# ----------------------------------------------------------- orchestration


def dask_route(X, y, regressor, *, exact, streamable) -> str | None:
    """Return how fit takes dask ``X``: ``"own_dask_fit"``, ``"blocks"`` or None.

    ``exact``: the regressor is fitted from sufficient statistics (reduced
    over dask blocks, see ``_sufficient_statistics``): None. Otherwise, where
    the windows can be fitted a batch at a time (``streamable``: no
    non-numeric columns, no ``"scale_free"`` weights, which need all windows
    at once), LightGBM's and XGBoost's dask estimators and dask-ml's
    ``Incremental`` train on the lazily normalized windows
    (``"own_dask_fit"``, :func:`fit_own_dask`) and a regressor with
    ``partial_fit`` learns from one row block at a time (``"blocks"``,
    :func:`fit_dask_blocks`). None also for NumPy ``X``; where ``X`` or ``y``
    is dask and no route takes it, this warns that fit computes them whole.
    """
    dask_input = _dask.is_dask_collection(X)
    if dask_input and not exact and streamable:
        if has_own_dask_fit(regressor):
            return "own_dask_fit"
        if _incremental.has_partial_fit(regressor):
            return "blocks"
    if (dask_input or _dask.is_dask_collection(y)) and not exact:
        warnings.warn(
            f"fit computes the whole dask arrays X and y into this process's "
            f"memory: {type(regressor).__name__} has no out-of-core "
            "route here. Only Ridge and LinearRegression (default solver, "
            "positive=False) are fitted from dask blocks, exactly from "
            "sufficient statistics, regressors with partial_fit one block "
            "at a time and LightGBM's and XGBoost's dask estimators and "
            "dask-ml's Incremental on the cluster "
            "(window_weights other than 'scale_free'); otherwise sample "
            "windows (X[::k]) or compute X and y yourself.",
            UserWarning,
            stacklevel=3,  # where fit (stacklevel=2) would point: fit calls this
        )
    return None


def fit_dask_blocks(
    estimator, X, Y, sample_weight, *, regressor, fit_sets, fit_params, fresh
):
    """One pass of ``partial_fit`` over the row blocks of dask X and Y.

    ``estimator`` is the RevINRegressor, its layout fitted (``revin_``,
    ``target_variates_``, ``window_weights_``); each block goes through
    ``_incremental.partial_fit_batch`` with ``regressor`` (the prototype of
    its clones) and ``fit_sets`` (the estimator's fit sets of normalized
    windows). ``fresh``: new clones of the regressor, and window weights
    divided by their mean over all blocks (a dask reduction before the pass),
    as an in-memory fit divides them.
    """
    if fresh:
        for name in ("regressors_", "regressor_", "window_weight_divisors_"):
            vars(estimator).pop(name, None)
        divisors = _scale_weight_divisors(estimator, X, Y, sample_weight)
        if divisors is not None:
            estimator.window_weight_divisors_ = divisors
    with _blas.limited_blas(_blas.blas_threads()):
        fit_blocks(
            X,
            Y,
            sample_weight,
            partial(
                _incremental.partial_fit_batch,
                estimator,
                regressor=regressor,
                fit_sets=fit_sets,
                fit_params=fit_params,
            ),
            verbose=estimator.verbose,
        )


def fit_own_dask(estimator, X, Y, sample_weight, *, regressor, fit_sets, fit_params):
    """Fit a regressor's own dask ``fit`` on the lazily normalized windows.

    The fit sets of every row block (``_incremental.batch_fit_sets``, with
    the weights' divisors over all blocks) are dask arrays built lazily,
    block by block, for the distributed ``fit`` of clones of ``regressor``
    (LightGBM's and XGBoost's dask estimators, dask-ml's ``Incremental``).
    Returns the fitted models as their local (NumPy) estimators
    (:func:`local_model`), which ``predict`` maps over NumPy blocks.
    ``estimator`` as in :func:`fit_dask_blocks`.
    """
    for name in ("regressors_", "regressor_"):
        vars(estimator).pop(name, None)
    refuse_weights_through_dask_ml(
        regressor,
        estimator.window_weights_ != "uniform" or sample_weight is not None,
    )
    divisors = _scale_weight_divisors(estimator, X, Y, sample_weight)
    sets = lazy_fit_sets(
        X,
        Y,
        sample_weight,
        partial(
            _incremental.batch_fit_sets,
            revin=estimator.revin_,
            targets=estimator.target_variates_,
            fit_sets=fit_sets,
            divisors=divisors,
        ),
    )
    for _, Y_set, _ in sets:  # nothing computed yet but a one-row probe
        refuse_2d_y_through_dask_ml(regressor, Y_set.shape)
    fitted = []
    for X_set, Y_set, weight in sets:
        weights = {} if weight is None else {"sample_weight": weight}
        fitted_one = clone(regressor).fit(X_set, Y_set, **weights, **fit_params)
        fitted.append(local_model(fitted_one))
    if divisors is not None and _incremental.has_partial_fit(fitted[0]):
        estimator.window_weight_divisors_ = divisors  # for a later partial_fit
    return fitted


def _scale_weight_divisors(estimator, X, Y, sample_weight):
    """Return the "scale" weights' divisors over all of dask X; None otherwise."""
    if estimator.window_weights_ != "scale":
        return None
    targets = estimator.target_variates_
    if estimator.channel_independent:
        sets = "channel_independent"
    else:
        sets = "per_target" if len(targets) > 1 else "first"
    with _blas.limited_blas(_blas.dask_task_threads()):
        return weight_divisors(
            estimator.revin_,
            X,
            Y,
            sample_weight,
            targets=targets,
            sets=sets,
            verbose=estimator.verbose,
        )


# ----------------------------------------------------------------- weights


def weight_divisors(revin, X, Y, sample_weight, *, targets, sets, verbose=0):
    """Return the divisor of each fit set's window weights over all of dask X.

    ``revin`` is the fitted transformer (its layout and parameters);
    ``sets`` says how the fit sets are made, as in ``RevINRegressor._fit_sets``:
    ``"channel_independent"`` (one set of all (window, target variate)
    pairs), ``"per_target"`` (one set per target variate) or ``"first"``
    (one set weighed by the first target variate). Only ``"scale"`` weights
    need a reduction. Each block gives the sums ``w^T F`` (``F`` its
    windows' weight factors, one column per target variate) and ``sum(w)``;
    dask adds them on the workers, and the divisors are the weighted means
    that ``fit`` would divide by in memory.
    """
    totals = _dask.fit_statistics(
        revin,
        X,
        Y,
        sample_weight,
        block_function=partial(_weight_totals, targets=list(targets)),
        combine=operator.add,
        verbose=verbose,
    )
    weighted, base = totals[:-1], totals[-1]
    if base <= 0:  # all weights zero: the regressor's own check says so
        return np.ones(len(targets) if sets == "per_target" else 1)
    if sets == "channel_independent":
        return np.asarray([np.sum(weighted) / (len(targets) * base)])
    if sets == "per_target":
        return weighted / base
    return weighted[:1] / base


def _weight_totals(revin, X_block, Y_block, w_block, *, targets):
    """``[w^T F..., sum(w)]`` of one block of windows (see weight_divisors)."""
    del Y_block  # the weights depend on the windows only
    n_windows = X_block.shape[0]
    if n_windows == 0:
        return np.zeros(len(targets) + 1)
    with_statistics = shallow_copy(revin)
    with_statistics.mean_, with_statistics.scale_ = revin.instance_statistics(X_block)
    factor = window_factors("scale", with_statistics, X_block, targets)
    weight = np.ones(n_windows) if w_block is None else np.asarray(w_block)
    return np.append(weight @ factor, np.sum(weight))


# ------------------------------------------------------------------ blocks


def fit_blocks(X, Y, sample_weight, fit_batch, *, verbose=0) -> int:
    """Call ``fit_batch(X_block, Y_block, w_block)`` on each row block of dask X.

    One block of ``X`` and the same rows of ``Y`` and ``sample_weight``
    (NumPy or dask) are computed at a time (together, so that windows built
    by :func:`make_windows` are built once for both), in order, and handed
    to ``fit_batch`` as NumPy arrays; empty blocks are skipped. Returns the
    number of blocks fitted.
    """
    import dask

    if any(math.isnan(n) for n in X.chunks[0]):
        raise ValueError(
            "X has unknown row chunk sizes; call X.compute_chunk_sizes() first."
        )
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {Y.shape[0]}.")
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    rows = X.chunks[0]
    Y, sample_weight = (
        None if values is None else _rows_like(values, rows)
        for values in (Y, sample_weight)
    )
    ends = np.cumsum(rows)
    started, fitted = time.perf_counter(), 0
    for i, n_rows in enumerate(rows):
        if n_rows == 0:
            continue
        start, end = int(ends[i] - n_rows), int(ends[i])
        parts = [X.blocks[i], _block(Y, i, start, end)]
        if sample_weight is not None:
            parts.append(_block(sample_weight, i, start, end))
        computed = dask.compute(*parts)
        blocks = [np.asarray(part) for part in computed]
        if sample_weight is None:
            blocks.append(None)
        fit_batch(*blocks)
        fitted += 1
        if verbose:
            print(
                f"[RevINRegressor] partial_fit: block {i + 1}/{len(rows)}, "
                f"{int(ends[i])}/{X.shape[0]} windows "
                f"({time.perf_counter() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    return fitted


def _rows_like(values, rows):
    """Cut dask ``values`` to the row chunks ``rows``; NumPy values stay whole."""
    if not _dask.is_dask_collection(values):
        return np.asarray(values)
    whole = {axis: -1 for axis in range(1, values.ndim)}
    return values.rechunk({0: rows, **whole})


def _block(values, i, start, end):
    return values[start:end] if isinstance(values, np.ndarray) else values.blocks[i]


def lazy_fit_sets(X, Y, sample_weight, batch_sets):
    """Return the fit sets of all of dask X as lazy dask arrays.

    ``batch_sets(X_block, Y_block, w_block)`` returns ``(sets, divisors)`` of
    one block of windows, as ``RevINRegressor._fit_sets`` (normalized, in the
    layout of the regressor, weighted); it is mapped over the row blocks as
    one task per block, whose pieces become ``[(X_k, Y_k, w_k or None), ...]``,
    one per fit set, concatenated over the blocks. Nothing is computed but a
    one-row probe (zeros) for the shapes and dtypes.
    """
    import dask
    import dask.array as da

    if any(math.isnan(n) for n in X.chunks[0]):
        raise ValueError(
            "X has unknown row chunk sizes; call X.compute_chunk_sizes() first."
        )
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    rows = X.chunks[0]
    Y, sample_weight = (
        None if values is None else _rows_like(values, rows)
        for values in (Y, sample_weight)
    )
    probe_sets, _ = batch_sets(
        np.zeros((1, *X.shape[1:]), X.dtype),
        np.zeros((1, *Y.shape[1:]), Y.dtype),
        None if sample_weight is None else np.ones(1),
    )
    task = dask.delayed(batch_sets, pure=True)
    ends = np.cumsum(rows)
    pieces = [[] for _ in probe_sets]
    for i, n_rows in enumerate(rows):
        if n_rows == 0:
            continue
        start, end = int(ends[i] - n_rows), int(ends[i])
        weight = None if sample_weight is None else _block(sample_weight, i, start, end)
        sets = task(X.blocks[i], _block(Y, i, start, end), weight)[0]
        for k, (X_probe, Y_probe, weight_probe) in enumerate(probe_sets):
            set_k = sets[k]
            arrays = [(set_k[0], X_probe), (set_k[1], Y_probe)]
            if weight_probe:
                arrays.append(
                    (set_k[2]["sample_weight"], weight_probe["sample_weight"])
                )
            pieces[k].append(
                [
                    da.from_delayed(
                        value,
                        shape=(n_rows * len(probe), *probe.shape[1:]),
                        dtype=probe.dtype,
                        meta=probe[:0],
                    )
                    for value, probe in arrays
                ]
            )
    result = []
    for blocks in pieces:
        columns = [da.concatenate(list(part)) for part in zip(*blocks, strict=True)]
        if len(columns) == 2:
            columns.append(None)
        result.append(tuple(columns))
    return result
