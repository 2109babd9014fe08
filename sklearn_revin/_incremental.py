"""Incremental fits: ``partial_fit`` one batch of windows at a time.

A regressor with ``partial_fit`` (``SGDRegressor``, ``MLPRegressor``,
``MultiOutputRegressor`` of one) learns from one batch of windows at a time.
RevINRegressor normalizes each batch as ``fit`` normalizes all windows (each
window by its own statistics, the targets by the same) and hands the
regressor the batch's fit sets. ``_dask_fit`` streams the row blocks of dask
windows through the same per-batch code.

The window weights of ``window_weights="scale"`` must be the same function of
a window in every batch. ``fit`` divides them by their mean over all windows;
an incremental fit fixes that divisor once, before the first batch
(``window_weight_divisors_``): for ``partial_fit``, the mean over the first
batch (or that of ``fit``, when ``partial_fit`` continues a fitted model; on
dask, the mean over all blocks, see ``_dask_fit``). ``"scale_free"`` weighs
each series by its seasonal step over all its windows, which no batch holds:
it is refused.

This module does not import the estimator (which imports it): it works with
the arrays, the estimator's public fitted attributes, and the regressor and
fit-set function it is given.
"""

from __future__ import annotations

import inspect
import warnings
from copy import copy as shallow_copy

from sklearn.base import clone

from ._nonnumeric import restore_non_numeric

__all__ = [
    "batch_fit_sets",
    "check_batch_layout",
    "check_partial_fit_weights",
    "has_partial_fit",
    "partial_fit_batch",
    "partial_fit_takes_sample_weight",
    "refuse_scale_free",
]


def has_partial_fit(regressor) -> bool:
    """Return True if ``regressor`` has ``partial_fit`` (``available_if`` included)."""
    return hasattr(regressor, "partial_fit")


def partial_fit_takes_sample_weight(regressor) -> bool:
    """Return True if ``regressor.partial_fit`` has a ``sample_weight`` parameter.

    A meta-estimator that passes it on (``MultiOutputRegressor``) needs its
    ``estimator``'s ``partial_fit`` to take it too.
    """
    parameters = inspect.signature(regressor.partial_fit).parameters
    if "sample_weight" not in parameters:
        return False
    inner = getattr(regressor, "estimator", None)
    if inner is not None and has_partial_fit(inner) and not isinstance(inner, type):
        return partial_fit_takes_sample_weight(inner)
    return True


def refuse_scale_free(window_weights: str, method: str) -> None:
    """Raise the error of ``window_weights="scale_free"`` in an incremental fit."""
    if window_weights == "scale_free":
        raise ValueError(
            f"{method} fits one batch of windows at a time, but "
            "window_weights='scale_free' weighs each series by its mean seasonal "
            "step over all its windows, which no batch holds. Use "
            "window_weights='scale' or 'uniform' (window_weights='auto' chooses "
            "'scale_free' when there are groups, or a panel's index, to say the "
            "series), or fit in memory."
        )


def check_batch_layout(y_ndim: int, y_width: int, *, expected_ndim, expected_width):
    """Check that a later batch's ``y`` has the layout of the first one."""
    if (y_ndim, y_width) != (expected_ndim, expected_width):
        shape = (
            "(n_windows,)" if expected_ndim == 1 else f"(n_windows, {expected_width})"
        )
        got = "(n_windows,)" if y_ndim == 1 else f"(n_windows, {y_width})"
        raise ValueError(
            f"y has shape {got}, but this RevINRegressor was fitted on y of "
            f"shape {shape}: every batch of partial_fit must have the targets "
            "and horizon of the first."
        )


def check_partial_fit_weights(regressor, window_weights, sample_weight) -> None:
    """Raise where window weights or ``sample_weight`` cannot go to ``partial_fit``."""
    if window_weights == "uniform" and sample_weight is None:
        return
    if not partial_fit_takes_sample_weight(regressor):
        name = type(regressor).__name__
        raise ValueError(
            f"{name}.partial_fit does not take sample_weight, which "
            f"window_weights={window_weights!r} (or a sample_weight) needs; "
            "use window_weights='uniform' without sample_weight."
        )


# ----------------------------------------------------------------- batches


def partial_fit_batch(
    estimator, X, Y, sample_weight, *, regressor, fit_sets, fit_params, non_numeric=None
):
    """Normalize one batch of windows as fit does and ``partial_fit`` on it.

    ``estimator`` is the RevINRegressor, its layout fitted (``revin_``,
    ``target_variates_``); its ``regressors_`` (clones of ``regressor``,
    made by the first batch) get the batch's fit sets, whose window weights
    are divided by its ``window_weight_divisors_`` (set by the first batch,
    where no fit set them before). ``X`` is a NumPy array or the data frame
    of the windows, ``fit_sets`` and ``non_numeric`` as in
    :func:`batch_fit_sets`.
    """
    sets, divisors = batch_fit_sets(
        X,
        Y,
        sample_weight,
        revin=estimator.revin_,
        targets=estimator.target_variates_,
        fit_sets=fit_sets,
        divisors=getattr(estimator, "window_weight_divisors_", None),
        non_numeric=non_numeric,
    )
    if not hasattr(estimator, "window_weight_divisors_"):
        estimator.window_weight_divisors_ = divisors
    if not hasattr(estimator, "regressors_"):
        estimator.regressors_ = [clone(regressor) for _ in sets]
    for fitted, (X_part, Y_part, weight) in zip(
        estimator.regressors_, sets, strict=True
    ):
        fitted.partial_fit(X_part, Y_part, **weight, **fit_params)
    if len(estimator.regressors_) == 1:
        estimator.regressor_ = estimator.regressors_[0]


def batch_fit_sets(
    X, Y, sample_weight, *, revin, targets, fit_sets, divisors, non_numeric=None
):
    """Return the fit sets of one batch of windows, normalized as fit does.

    ``revin`` is the fitted transformer, ``targets`` the target variates;
    ``fit_sets(X_normalized, Y_normalized, targets, sample_weight, groups,
    divisors=, revin=)`` returns the sets and their weights' divisors, as
    ``RevINRegressor._fit_sets`` does, given a transformer that holds the
    batch's statistics. ``non_numeric`` columns go back into the normalized
    windows. Changes nothing it is given: it also runs in dask tasks.
    """
    with warnings.catch_warnings():
        # validate_data has warned already about missing names.
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        statistics = revin.instance_statistics(X)
        X_normalized = revin.transform(X)
    X_normalized = restore_non_numeric(X_normalized, non_numeric)
    Y_normalized = revin.normalize_with(Y, statistics, variates=targets)
    # The batch's statistics, where fit has the training windows'.
    with_statistics = shallow_copy(revin)
    with_statistics.mean_, with_statistics.scale_ = statistics.mean, statistics.scale
    return fit_sets(
        X_normalized,
        Y_normalized,
        targets,
        sample_weight,
        None,
        divisors=divisors,
        revin=with_statistics,
    )
