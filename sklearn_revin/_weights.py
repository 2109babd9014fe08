r"""How the windows weigh in the regressor's fit, and the window statistics as features.

RevINRegressor fits its regressor in normalized space, where the error of
window :math:`i` and target variate :math:`v` is :math:`|\gamma_v| /
\sigma_{iv}` times its error on the series' own scale. Which windows should
weigh more depends on the loss the forecast is judged by:

- ``"scale"``: the squared error on the series' own scale (RLinear's,
  a single series' MSE): weight :math:`(\sigma_{iv} / |\gamma_v|)^2`;
- ``"scale_free"``: the error in units of each series' mean absolute
  seasonal step (MASE's units, so that no series dominates a panel by its
  level): weight :math:`\sigma_{iv} / (|\gamma_v| D_{s(i)v})`, with
  :math:`D_{sv}` the mean :math:`|x_t - x_{t-m}|` of series :math:`s`
  (:math:`m` the ``seasonality``), from its windows. Unsquared: it is the
  weight under which a window's absolute error in normalized space is its
  contribution to MASE, and it measured best on M4 Hourly (OWA 0.451
  against 0.463 squared, LightGBM; see docs/many_series.rst);
- ``"uniform"``: the squared error in normalized space.
"""

from __future__ import annotations

import numpy as np

WINDOW_WEIGHTS = frozenset({"auto", "scale", "scale_free", "uniform"})


def window_factors(
    kind, revin, X_normalized, targets, groups=None, seasonality=1
) -> np.ndarray:
    """Weight of each window and target variate, shape (n_windows, n_targets).

    ``revin`` is the fitted RevINTransformer, with the training windows'
    ``scale_`` still held; ``X_normalized`` its transform of them; ``groups``
    the series of each window (None: all windows are of one series);
    ``seasonality`` the lag of the steps of ``"scale_free"``.
    """
    n_windows = X_normalized.shape[0]
    if kind == "uniform":
        return np.ones((n_windows, len(targets)))
    # gamma_ is the effective gamma.
    scale = revin.scale_[:, targets] / np.abs(revin.gamma_[targets])
    scale = np.asarray(scale, dtype=np.float64)
    if kind == "scale":
        return np.square(scale)
    if groups is None:  # one series: its step is one constant
        groups = np.zeros(n_windows, dtype=np.intp)
    return scale / series_steps(revin, X_normalized, targets, groups, seasonality)


def series_steps(revin, X_normalized, targets, groups, seasonality=1) -> np.ndarray:
    """Each window's series' mean absolute seasonal step, (n_windows, n_targets).

    The step of a series is the mean, over its windows, of each window's mean
    ``|x_t - x_{t - seasonality}|`` on the series' own scale (undoing RevIN's
    normalization of the window), floored at RevIN's ``sqrt(eps_)`` for a
    series that never moves.
    """
    windows = target_windows(revin, X_normalized, targets)
    n_steps = windows.shape[2]
    if n_steps <= seasonality:
        raise ValueError(
            f"window_weights='scale_free' with seasonality={seasonality} "
            f"measures each series' step |x[t] - x[t-{seasonality}]| within its "
            f"windows, which needs windows of at least {seasonality + 1} steps; "
            f"got windows of {n_steps} step(s) ({X_normalized.shape[1]} "
            "feature(s) in X). Use longer windows, a smaller seasonality, or "
            "window_weights='scale'."
        )
    lagged = windows[:, :, seasonality:] - windows[:, :, :-seasonality]
    with np.errstate(all="ignore"):
        normalized_step = np.nanmean(np.abs(lagged), axis=2)
    step = normalized_step * revin.scale_[:, targets] / np.abs(revin.gamma_[targets])
    _, series = np.unique(np.asarray(groups), return_inverse=True)
    series = series.ravel()
    total = np.zeros((series.max() + 1, len(targets)))
    count = np.zeros_like(total)
    finite = np.isfinite(step)
    for k in range(len(targets)):
        np.add.at(total[:, k], series[finite[:, k]], step[finite[:, k], k])
        np.add.at(count[:, k], series[finite[:, k]], 1.0)
    with np.errstate(all="ignore"):
        per_series = total / count
    floor = np.sqrt(revin.eps_)
    per_series = np.where(np.isfinite(per_series), np.maximum(per_series, floor), floor)
    return per_series[series]


def target_windows(revin, X_normalized, targets) -> np.ndarray:
    """Return the target variates' normalized steps, (n_windows, n_targets, n_steps).

    Passthrough columns are left out; the order of steps is the layout's.
    """
    passthrough = revin.passthrough_
    if passthrough.size:
        X_normalized = np.delete(X_normalized, passthrough, axis=1)
    windows = np.asarray(X_normalized, dtype=np.float64).reshape(
        X_normalized.shape[0], revin.n_variates_, revin.n_steps_
    )
    return windows[:, targets, :]


def statistics_features(statistics, targets, *, channel_independent) -> np.ndarray:
    """Return the window statistics as features: mean then scale of each variate.

    Window-major rows, as the regressor sees them: one row per window with the
    statistics of every variate, or, with ``channel_independent``, one row
    per window and target variate with that variate's own two.
    """
    mean = np.asarray(statistics.mean, dtype=np.float64)
    scale = np.asarray(statistics.scale, dtype=np.float64)
    if channel_independent:
        return np.stack([mean[:, targets].ravel(), scale[:, targets].ravel()], axis=1)
    return np.hstack([mean, scale])
