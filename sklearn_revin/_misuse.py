"""Warnings for inputs that RevIN would turn into garbage without a word.

One job: look at what an estimator was given at fit and warn where the result
is known to be wrong although nothing fails. The estimators call it in one
line each; it never changes what they compute.

- Multivariate windows as a NumPy array, with no ``n_variates``: read as one
  variate of ``n_variates * window`` steps. Windows cut in time order (as
  :func:`make_windows` gives them) show their layout in the data itself: the
  next window repeats a window's values ``step`` columns to the left, within
  each variate's block of columns and never across the blocks' edges.
- A regression target given to :meth:`RevINTransformer.fit`, as a
  :class:`~sklearn.pipeline.Pipeline` gives it: a pipeline never transforms
  y, so the model learns to map normalized windows to raw targets.
- Columns named as different variables (``"temperature"``, ``"humidity"``),
  not as steps of one window: each row is normalized across the variables.
- A negative ``gamma`` under a quantile regressor: the order of the
  normalized targets is reversed, so its alpha-quantile is the
  (1 - alpha)-quantile of the series.
"""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
from sklearn.utils.multiclass import type_of_target

from ._layout import parse_input_names

__all__ = [
    "warn_if_misused",
    "warn_if_quantiles_reversed",
    "warn_if_unstated_layout",
    "warn_if_y_given",
]

# Rows compared to find the layout: a bounded cost whatever the size of X.
_ROWS = 256
# A column continues the previous window when this share of rows does...
_CONTINUES = 0.9
# ... and breaks it (an edge between variates) when at most this share does.
_BREAKS = 0.5
# Names that are steps of one window: one stem and a number ("x0", "lag_3").
_NUMBERED = re.compile(r"^(?P<stem>.*?)(?P<number>[0-9]+)$")

_WHERE_FROM = (
    "RevIN normalizes every row of 2-D X as the windows of n_variates "
    "variates, variate-major, and n_variates=None means one variate"
)


def warn_if_misused(transformer, X, y) -> None:
    """Warn, at a transformer's fit, of a target ``y`` or an unstated layout."""
    warn_if_y_given(transformer, y)
    warn_if_unstated_layout(transformer, X)


def warn_if_y_given(estimator, y) -> None:
    """Warn when ``y`` given to a transformer's fit is a regression target.

    A :class:`~sklearn.pipeline.Pipeline` passes ``y`` to the ``fit`` of
    every step but transforms only ``X``; a classification target (as
    :func:`~sklearn.utils.multiclass.type_of_target` tells it) is fine to
    leave as it is.
    """
    if y is None:
        return
    try:
        kind = type_of_target(y)
    except (ValueError, TypeError):  # not a target type_of_target can read
        return
    if kind not in ("continuous", "continuous-multioutput"):
        return
    name = type(estimator).__name__
    warnings.warn(
        f"{name}.fit got a regression target y ({kind}), which it leaves on its "
        "own scale: in a Pipeline such as make_pipeline("
        f"{name}(), Ridge()), only X is normalized, so the regressor learns to "
        "map normalized windows to targets on the series' scale, and its "
        "forecasts never get each window's level back. Use "
        "RevINRegressor(Ridge()) instead, which normalizes each window's "
        "targets with that window's statistics and maps the forecasts back.",
        UserWarning,
        stacklevel=_caller_level(),
    )


def warn_if_unstated_layout(transformer, X) -> None:
    """Warn when 2-D X's layout is not stated and X looks like something else.

    Only where nothing states the layout: ``n_variates`` is None and X's
    column names are not window names of several variates. Then, on NumPy
    X, windows in time order of several variates; on a data frame with no
    ``passthrough``, columns named as different variables.
    """
    if transformer.n_variates is not None or transformer.variate_names_ is not None:
        return
    if getattr(X, "ndim", 0) != 2 or not isinstance(X, np.ndarray):
        return
    names = getattr(transformer, "feature_names_in_", None)
    if names is not None:
        if not transformer.passthrough_.size:  # passthrough states the layout
            _warn_if_named_as_variables(names)
        return
    # The first rows only: a bounded cost, and no copy of X (np.delete copies
    # even with nothing to delete: about 4 ms a fit on 2,000 x 4,096).
    windows = X[: _ROWS + 1]
    if transformer.passthrough_.size:
        windows = np.delete(windows, transformer.passthrough_, axis=1)
    if transformer.step_order == "newest_first":
        windows = windows[:, ::-1]  # each block reversed, and the blocks' order
    found = variate_blocks(windows)
    if found is None:
        return
    n_variates, n_steps = found
    warnings.warn(
        f"X looks like the windows of {n_variates} variates of {n_steps} steps "
        "each, as make_windows cuts them from a series of "
        f"{n_variates} columns: each window continues the previous one within "
        f"blocks of {n_steps} columns, never across them. {_WHERE_FROM}, so "
        f"each row is normalized as one series of {windows.shape[1]} steps "
        "and channel_independent=True would fit one variate of them all. Pass "
        f"n_variates={n_variates} (to RevINRegressor or RevINTransformer), or "
        "n_variates=1 if the columns are the steps of one series.",
        UserWarning,
        stacklevel=_caller_level(),
    )


def variate_blocks(windows: np.ndarray) -> tuple[int, int] | None:
    """Return (n_variates, n_steps) that windows in time order show, or None.

    ``windows`` holds rows of window columns, variate-major. Row ``i + 1``
    of a window cut ``step`` steps later holds the values of row ``i``
    shifted ``step`` columns to the left, except in the first ``step``
    columns of each variate's block. None where no shift fits, or where it
    fits everywhere (one variate).
    """
    rows = windows[: _ROWS + 1]
    n_rows, width = rows.shape
    if n_rows < 3 or width < 4:
        return None
    # A shift that fits moves X[1, 0] to X[0, step]: only such columns are tried.
    steps = np.flatnonzero(_same(rows[0, 1:], rows[1, 0])) + 1
    for step in steps[:4]:
        continues = _same(rows[:-1, step:], rows[1:, :-step]).mean(axis=0)
        broken = np.flatnonzero(continues < _CONTINUES) + step
        if not broken.size:
            return None  # one series: every column continues
        n_steps = int(broken[0])
        if n_steps <= step or width % n_steps or width // n_steps < 2:
            continue
        edges = np.arange(n_steps, width, n_steps)
        expected = (edges[:, np.newaxis] + np.arange(step)).ravel()
        if np.array_equal(broken, expected) and np.all(
            continues[expected - step] <= _BREAKS
        ):
            return width // n_steps, n_steps
    return None


def _caller_level() -> int:
    """Return the stacklevel of the first frame outside the package, sklearn, joblib.

    The warnings point at the user's call (``pipeline.fit``, ``model.fit``),
    however deep in the package or in a Pipeline the check runs.
    """
    frame, level = inspect.currentframe().f_back, 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in (
        "sklearn_revin",
        "sklearn",
        "joblib",  # a Pipeline fits its steps through joblib.Memory
    ):
        frame, level = frame.f_back, level + 1
    return level


def _same(a, b) -> np.ndarray:
    """Elementwise equality with NaN equal to NaN (windows keep NaN in place)."""
    with np.errstate(invalid="ignore"):
        return (a == b) | (np.isnan(a) & np.isnan(b))


def _warn_if_named_as_variables(names) -> None:
    """Warn when window columns are named as variables, not as steps of one window.

    Window names (``co2[t-1]``, ``lag_2``) and names of one stem with a
    number (``x0``, ``x1``, ``step_12``) are steps; anything else
    (``temperature``, ``a``, ``b``) is a variable of its own.
    """
    names = [str(name) for name in names]
    if len(names) < 2 or parse_input_names(names) is not None:
        return
    numbered = [_NUMBERED.match(name) for name in names]
    if all(numbered) and len({match["stem"] for match in numbered}) == 1:
        return
    shown = names[:4] + (["..."] if len(names) > 4 else [])
    warnings.warn(
        f"X's columns are named as different variables ({shown}), not as the "
        "steps of one window (make_windows names them 'co2[t-2]', 'co2[t-1]', "
        f"'co2[t]'). {_WHERE_FROM}: each row's variables would be scaled by "
        "their mean and spread together, e.g. every row of two columns becomes "
        "[-1, 1]. For a table of variables (sktime's TabularToSeriesAdaptor, "
        "skforecast's transformer_exog), RevIN is not the scaler: forecast "
        "from windows with RevINRegressor, and give columns that are not "
        "steps of a window as passthrough. If the columns are steps of one "
        "window, pass n_variates=1.",
        UserWarning,
        stacklevel=_caller_level(),
    )


def warn_if_quantiles_reversed(gamma, regressor) -> None:
    """Warn when ``regressor`` fits quantiles where a target's gamma is negative.

    ``gamma`` holds the effective gamma of each target variate. A negative
    one reverses the order of its variate's normalized targets: the quantile
    ``alpha`` learned there is the quantile ``1 - alpha`` of the series.
    """
    gamma = np.asarray(gamma)
    if not np.any(gamma < 0) or not _fits_quantiles(regressor):
        return
    warnings.warn(
        f"gamma is negative ({gamma.tolist()}) and the regressor fits "
        "quantiles: a negative gamma reverses the order of the normalized "
        "targets, so the quantile alpha it learns is the quantile 1 - alpha "
        "of the series (the lower and upper bounds swap). Use a positive "
        "gamma, or fit the quantile 1 - alpha.",
        UserWarning,
        stacklevel=_caller_level(),
    )


def _fits_quantiles(estimator) -> bool:
    """Whether an estimator (or one inside it) has a quantile loss."""
    if type(estimator).__name__ == "QuantileRegressor":
        return True
    if not hasattr(estimator, "get_params"):
        return False
    for key, value in estimator.get_params(deep=True).items():
        if type(value).__name__ == "QuantileRegressor":
            return True
        last = key.rsplit("__", 1)[-1]
        if last in ("loss", "objective") and value == "quantile":
            return True
    return False
