r"""How the windows weigh in the regressor's fit, and the window statistics as features.

RevINRegressor fits its regressor in normalized space, where the error of
window :math:`i` and target variate :math:`v` is :math:`|\gamma_v| /
\sigma_{iv}` times its error on the series' own scale. Which windows should
weigh more depends on the loss the forecast is judged by:

- ``"scale"``: the squared error on the series' own scale (RLinear's,
  a single series' MSE): weight :math:`(\sigma_{iv} / |\gamma_v|)^2`;
- ``"scale_free"``: the squared error in units of the window's own mean
  absolute step (a MASE-like loss for every window, so that no series
  dominates a panel by its level): weight :math:`1 / \tilde d_{iv}^2`, with
  :math:`\tilde d_{iv}` the mean absolute first difference of the normalized
  window, :math:`|\gamma_v| d_{iv} / \sigma_{iv}`;
- ``"uniform"``: the squared error in normalized space.
"""

from __future__ import annotations

import numpy as np

WINDOW_WEIGHTS = frozenset({"auto", "scale", "scale_free", "uniform"})


def window_factors(kind, revin, X_normalized, targets) -> np.ndarray:
    """Weight of each window and target variate, shape (n_windows, n_targets).

    ``revin`` is the fitted RevINTransformer, with the training windows'
    ``scale_`` still held; ``X_normalized`` its transform of them.
    """
    n_windows = X_normalized.shape[0]
    if kind == "scale":
        # gamma_ is the effective gamma.
        return np.square(
            revin.scale_[:, targets] / np.abs(revin.gamma_[targets]),
            dtype=np.float64,
        )
    if kind == "scale_free":
        windows = target_windows(revin, X_normalized, targets)
        n_steps = windows.shape[2]
        if n_steps < 2:  # no step to measure: every window weighs alike
            return np.ones((n_windows, len(targets)))
        with np.errstate(all="ignore"):
            step = np.nanmean(np.abs(np.diff(windows, axis=2)), axis=2)
        # A constant window (no step at all) and one that moves less than a
        # straight line weigh as a straight line of the same scale does (mean
        # step sqrt(12 / (n_steps ** 2 - 1)) normalized scales).
        floor = np.abs(revin.gamma_[targets]) * np.sqrt(12.0 / (n_steps**2 - 1))
        step = np.where(np.isfinite(step), np.maximum(step, floor), floor)
        return 1.0 / np.square(step, dtype=np.float64)
    return np.ones((n_windows, len(targets)))


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
