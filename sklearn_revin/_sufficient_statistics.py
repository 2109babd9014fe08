"""Exact least squares from sufficient statistics, accumulated over row chunks.

``Ridge`` and ``LinearRegression`` are determined by the weighted sums
``sum(w)``, ``X^T w``, ``Y^T w``, ``X^T W X`` and ``X^T W Y``: their size is
``n_features ** 2``, not ``n_rows * n_features``. RevINRegressor normalizes
its windows one chunk of rows at a time, adds each chunk's statistics in
float64, and solves once at the end, so that neither the normalized windows
nor the one-row-per-variate layout of ``channel_independent=True`` ever exist
whole. The same chunk function is mapped over the blocks of a dask array and
the statistics are summed by dask (see :mod:`sklearn_revin._dask`).

The solve is scikit-learn's: with ``fit_intercept`` the data are centred on
their weighted means, ``(X_c^T W X_c + alpha I) beta = X_c^T W Y_c``, and the
intercept is ``y_mean - x_mean @ beta``; ``Ridge(alpha)`` fitted with
``sample_weight=w`` on the same rows gives the same coefficients (to rounding).

The window weights of ``window_weights="scale"`` are divided by their mean
(``_regressor._mean_one``), a constant known only after all chunks; as every
statistic is linear in the weights, the chunks add the raw weights and the
sums are divided by that constant before the solve.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge

from ._blas import blas_threads, limited_blas

__all__ = [
    "ChunkPlan",
    "Statistics",
    "add_statistics",
    "chunk_statistics",
    "exact_solver",
    "fitted_regressors",
    "one_row_per_variate",
    "rows_per_chunk",
    "solve",
]

# Bytes of float64 windows normalized at a time: large enough for BLAS to run
# at full speed, small against the data.
CHUNK_BYTES = 32 * 2**20

# Ridge solvers whose result is the exact solution (not an iterate stopped at
# ``tol``): the statistics give that same solution.
_EXACT_RIDGE_SOLVERS = ("auto", "cholesky", "svd")


def exact_solver(regressor, fit_params) -> bool:
    """Return True if ``regressor`` is fitted exactly from sufficient statistics.

    Exactly :class:`~sklearn.linear_model.Ridge` (solver ``"auto"``,
    ``"cholesky"`` or ``"svd"``, one scalar ``alpha``, ``positive=False``) or
    ``LinearRegression`` (``positive=False``), not a
    subclass, with no fit parameter other than the windows' weights.
    """
    if fit_params:
        return False
    kind = type(regressor)
    if kind is Ridge:
        return (
            regressor.solver in _EXACT_RIDGE_SOLVERS
            and not regressor.positive
            and np.ndim(regressor.alpha) == 0
            and float(regressor.alpha) >= 0
        )
    if kind is LinearRegression:
        return not regressor.positive
    return False


@dataclass(frozen=True)
class ChunkPlan:
    """What a chunk of windows becomes: the fit sets of RevINRegressor.

    ``sets`` lists, per regressor to fit, the target variates whose windows it
    is fitted on and the columns of ``Y`` it predicts: with
    ``channel_independent`` one set of rows (window, target variate); with
    per-variate weights one set per target variate; otherwise one set.
    """

    targets: tuple[int, ...]
    horizon: int
    channel_independent: bool
    scale_weights: bool
    per_target: bool
    n_variates: int
    n_steps: int
    passthrough: tuple[int, ...]

    @property
    def n_sets(self) -> int:
        return len(self.targets) if self.per_target else 1


@dataclass
class Statistics:
    """Weighted sums of one fit set; ``raw_weight / base_weight`` rescales them."""

    weight: float  # sum of the raw weights
    base_weight: float  # sum of the sample weights (or the row count)
    x_sum: np.ndarray  # (n_features,)
    y_sum: np.ndarray  # (n_outputs,)
    xtx: np.ndarray  # (n_features, n_features)
    xty: np.ndarray  # (n_features, n_outputs)
    n_rows: int


def add_statistics(a: list[Statistics], b: list[Statistics]) -> list[Statistics]:
    """Return the statistics of the union of two sets of rows, set by set."""
    return [
        Statistics(
            p.weight + q.weight,
            p.base_weight + q.base_weight,
            p.x_sum + q.x_sum,
            p.y_sum + q.y_sum,
            p.xtx + q.xtx,
            p.xty + q.xty,
            p.n_rows + q.n_rows,
        )
        for p, q in zip(a, b, strict=True)
    ]


def rows_per_chunk(n_features: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Windows per chunk so that a chunk of float64 windows is ``chunk_bytes``."""
    return max(1, chunk_bytes // (8 * max(1, n_features)))


def one_row_per_variate(X_normalized, *, n_variates, n_steps, passthrough, targets):
    """Rows (window, target variate) of ``n_steps`` values, window-major.

    Passthrough columns follow each variate's window, unnormalized. When the
    targets are all variates in their order and there is no passthrough, the
    rows are a view of ``X_normalized`` (no copy).
    """
    passthrough = np.asarray(passthrough, dtype=np.intp)
    n_windows = X_normalized.shape[0]
    if passthrough.size:
        extra = X_normalized[:, passthrough]
        X_normalized = np.delete(X_normalized, passthrough, axis=1)
    windows = X_normalized.reshape(n_windows, n_variates, n_steps)
    if list(targets) == list(range(n_variates)):
        rows = windows.reshape(-1, n_steps)
    else:
        rows = windows[:, list(targets), :].reshape(-1, n_steps)
    if not passthrough.size:
        return rows
    return np.hstack([rows, np.repeat(extra, len(targets), axis=0)])


def chunk_statistics(
    revin, X, Y, sample_weight, plan: ChunkPlan, progress=None
) -> list[Statistics]:
    """Normalize a chunk of windows with ``revin`` and return its statistics.

    ``X`` holds whole windows (rows), ``Y`` their targets (``n_targets *
    horizon`` columns) and ``sample_weight`` their weights or None. The chunk
    is normalized in sub-chunks of :data:`CHUNK_BYTES`; ``progress``, if
    given, is told the number of windows done after each.
    """
    n_rows = X.shape[0]
    step = rows_per_chunk(X.shape[1])
    total = None
    # The Gram products are compute bound: BLAS threads as the cores allow
    # (one in a dask worker thread), not OpenBLAS's spinning default.
    with warnings.catch_warnings(), limited_blas(blas_threads()):
        # X was validated (and its feature names checked) by the caller.
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        for start in range(0, n_rows, step):
            total = _add_chunk(revin, X, Y, sample_weight, plan, start, step, total)
            if progress is not None:
                progress.update(min(step, n_rows - start))
    if total is None:  # no rows: zero statistics of the right sizes
        return _sets_statistics(
            revin,
            np.zeros((0, X.shape[1])),
            np.zeros((0, Y.shape[1])),
            np.zeros((0, plan.n_variates)),
            None,
            plan,
        )
    return total


def _add_chunk(revin, X, Y, sample_weight, plan, start, step, total):
    rows = slice(start, min(start + step, X.shape[0]))
    statistics = revin.instance_statistics(X[rows])
    if plan.passthrough:
        X_normalized = revin.transform(X[rows])
    else:  # (X - mean) / scale * gamma + beta, without computing them again
        X_normalized = revin.normalize_with(X[rows], statistics, copy=True)
    Y_normalized = revin.normalize_with(
        Y[rows], statistics, variates=list(plan.targets)
    )
    weight = None if sample_weight is None else sample_weight[rows]
    part = _sets_statistics(
        revin, X_normalized, Y_normalized, statistics.scale, weight, plan
    )
    return part if total is None else add_statistics(total, part)


def _sets_statistics(revin, X_normalized, Y_normalized, scale, sample_weight, plan):
    targets = list(plan.targets)
    n_windows, n_targets, horizon = X_normalized.shape[0], len(targets), plan.horizon
    if plan.scale_weights:
        factor = np.square(
            scale[:, targets] / np.abs(revin.gamma_[targets]), dtype=np.float64
        )
    else:
        factor = None
    if plan.channel_independent:
        rows = one_row_per_variate(
            X_normalized,
            n_variates=plan.n_variates,
            n_steps=plan.n_steps,
            passthrough=plan.passthrough,
            targets=targets,
        )
        outputs = Y_normalized.reshape(n_windows * n_targets, horizon)
        base = None if sample_weight is None else np.repeat(sample_weight, n_targets)
        raw = _raw_weight(None if factor is None else factor.ravel(), base)
        return [_weighted_sums(rows, outputs, raw, base, overwrite=True)]
    if plan.per_target:  # the sets share X_normalized: no weighting in place
        return [
            _weighted_sums(
                X_normalized,
                Y_normalized[:, k * horizon : (k + 1) * horizon],
                _raw_weight(factor[:, k], sample_weight),
                sample_weight,
            )
            for k in range(n_targets)
        ]
    raw = _raw_weight(None if factor is None else factor[:, 0], sample_weight)
    return [
        _weighted_sums(X_normalized, Y_normalized, raw, sample_weight, overwrite=True)
    ]


def _raw_weight(factor, sample_weight):
    if factor is None:
        return sample_weight
    if sample_weight is None:
        return factor
    return factor * sample_weight


def _weighted_sums(X, Y, weight, base, *, overwrite=False) -> Statistics:
    """Weighted sums of rows ``X`` and outputs ``Y``.

    ``overwrite``: X and Y are this chunk's own normalized copies, which the
    weighting may scale in place (no new chunk-sized array).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n_rows = X.shape[0]
    base_weight = float(n_rows if base is None else np.sum(base, dtype=np.float64))
    if weight is None:
        # X.T @ X of one array runs as a symmetric rank-k update (half the work).
        return Statistics(
            float(n_rows), base_weight, X.sum(0), Y.sum(0), X.T @ X, X.T @ Y, n_rows
        )
    root = np.sqrt(np.asarray(weight, dtype=np.float64))[:, None]
    if overwrite:
        X_weighted = np.multiply(X, root, out=X)
        Y_weighted = np.multiply(Y, root, out=Y)
    else:
        X_weighted, Y_weighted = X * root, Y * root
    root = root[:, 0]
    return Statistics(
        float(np.sum(weight, dtype=np.float64)),
        base_weight,
        X_weighted.T @ root,
        Y_weighted.T @ root,
        X_weighted.T @ X_weighted,
        X_weighted.T @ Y_weighted,
        n_rows,
    )


def solve(statistics: Statistics, *, alpha: float, fit_intercept: bool):
    """Return ``(coef, intercept, eigenvalues)`` of weighted ridge regression.

    ``coef`` has shape ``(n_outputs, n_features)`` and ``intercept``
    ``(n_outputs,)``; ``eigenvalues`` are those of the (centred) Gram matrix.
    The weights are first divided by their mean as RevINRegressor does. With
    ``alpha == 0`` the least-squares solution of smallest norm.
    """
    s = statistics
    # window_weights="scale": weights / (sum(raw) / sum(base)), as _mean_one.
    c = s.weight / s.base_weight if s.base_weight > 0 and s.weight > 0 else 1.0
    weight = s.weight / c
    x_sum, y_sum, xtx, xty = s.x_sum / c, s.y_sum / c, s.xtx / c, s.xty / c
    if fit_intercept and weight > 0:
        x_mean, y_mean = x_sum / weight, y_sum / weight
        xtx = xtx - np.outer(x_sum, x_mean)
        xty = xty - np.outer(x_sum, y_mean)
    else:
        x_mean = np.zeros_like(x_sum)
        y_mean = np.zeros_like(y_sum)
    xtx = (xtx + xtx.T) / 2
    eigenvalues, vectors = np.linalg.eigh(xtx)
    if alpha > 0:
        # Ridge's cholesky solve of (X^T W X + alpha I).
        gram = xtx + alpha * np.eye(xtx.shape[0])
        coef = np.linalg.solve(gram, xty).T
    else:
        # The minimum-norm least-squares solution. The Gram matrix's rounding
        # error is eps * its largest eigenvalue: smaller ones are zero.
        keep = _nonzero(eigenvalues, s.n_rows)
        inverse = np.zeros_like(eigenvalues)
        inverse[keep] = 1 / eigenvalues[keep]
        coef = ((vectors * inverse) @ (vectors.T @ xty)).T
    intercept = y_mean - coef @ x_mean if fit_intercept else None
    return coef, intercept, eigenvalues


def _nonzero(eigenvalues, n_rows):
    """Eigenvalues of a Gram matrix above its rounding error (rank cutoff)."""
    cutoff = np.finfo(np.float64).eps * max(n_rows, eigenvalues.size)
    return eigenvalues > cutoff * eigenvalues.max(initial=0.0)


def fitted_regressors(regressor, statistics, *, ravel, dtype, n_features_in):
    """Return a fitted clone of ``regressor`` per fit set, from its statistics.

    ``ravel[k]`` says that set ``k`` was fitted on 1-D ``y`` (one output), so
    that ``coef_`` and ``intercept_`` have the shapes ``fit`` gives them;
    ``dtype`` is that of the windows (Ridge keeps float32).
    """
    fitted = []
    for part, flat in zip(statistics, ravel, strict=True):
        model = clone(regressor)
        ridge = type(model) is Ridge
        alpha = float(model.alpha) if ridge else 0.0
        coef, intercept, eigenvalues = solve(
            part, alpha=alpha, fit_intercept=model.fit_intercept
        )
        out_dtype = np.float32 if ridge and dtype == np.float32 else np.float64
        coef = coef.astype(out_dtype, copy=False)
        if flat:
            coef = coef[0]
        if intercept is None:
            model.intercept_ = 0.0
        else:
            intercept = intercept.astype(out_dtype, copy=False)
            model.intercept_ = intercept[0] if flat else intercept
        model.coef_ = coef
        model.n_features_in_ = n_features_in
        if ridge:
            model.n_iter_ = None
            model.solver_ = "cholesky"
        else:
            model.singular_ = np.sqrt(np.clip(eigenvalues, 0, None))[::-1]
            model.rank_ = int(np.sum(_nonzero(eigenvalues, part.n_rows)))
        fitted.append(model)
    return fitted


class Progress:
    """Lines on stderr, at most one every few seconds, for ``verbose > 0``."""

    def __init__(self, verbose: int, total: int, what: str, every: float = 5.0):
        self.verbose, self.total, self.what = verbose, total, what
        self.every, self.done = every, 0
        self.start = self.last = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if not self.verbose:
            return
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            print(
                f"[RevINRegressor] {self.what}: {self.done}/{self.total} windows "
                f"({now - self.start:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
