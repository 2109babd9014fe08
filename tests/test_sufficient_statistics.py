"""Tests of the exact Ridge and LinearRegression fit from sufficient statistics."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LinearRegression, Ridge

from sklearn_revin import RevINRegressor, make_windows
from sklearn_revin._sufficient_statistics import (
    Statistics,
    add_statistics,
    exact_solver,
    one_row_per_variate,
    solve,
)

ROOT = Path(__file__).resolve().parent.parent


class GenericRidge(Ridge):
    """A subclass: RevINRegressor fits it with Ridge.fit, not from statistics."""


class GenericLinearRegression(LinearRegression):
    """A subclass: RevINRegressor fits it with LinearRegression.fit."""


def _generic(regressor):
    kind = GenericRidge if type(regressor) is Ridge else GenericLinearRegression
    return kind(**regressor.get_params())


def _windows(seed=0, n_steps=500, n_variates=3, window=16, horizon=4):
    rng = np.random.default_rng(seed)
    trend = np.linspace(0, 5, n_steps)[:, None]
    series = trend + np.cumsum(rng.normal(size=(n_steps, n_variates)), axis=0)
    return make_windows(series, window=window, horizon=horizon)


def _statistics(X, Y, weight):
    """The statistics of rows, as the chunks add them (unit raw weights)."""
    w = np.ones(len(X)) if weight is None else weight
    return [
        Statistics(
            float(w.sum()),
            float(w.sum()),
            X.T @ w,
            Y.T @ w,
            X.T @ (w[:, None] * X),
            X.T @ (w[:, None] * Y),
            len(X),
        )
    ]


@pytest.mark.parametrize("alpha", [1e-3, 0.5, 10.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_solve_equals_ridge_with_sample_weight(alpha, fit_intercept, weighted):
    """Check that chunks of statistics, added, solve to Ridge's coefficients."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12)) + rng.normal(size=12)
    Y = X @ rng.normal(size=(12, 3)) + rng.normal(size=(300, 3)) + 2.0
    weight = rng.uniform(0.1, 3.0, 300) if weighted else None
    chunks = np.split(np.arange(300), [17, 120, 121, 250])
    total = None
    for rows in chunks:
        part = _statistics(X[rows], Y[rows], None if weight is None else weight[rows])
        total = part if total is None else add_statistics(total, part)
    coef, intercept, _ = solve(total[0], alpha=alpha, fit_intercept=fit_intercept)
    ridge = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(
        X, Y, sample_weight=weight
    )
    assert_allclose(coef, ridge.coef_, rtol=1e-8, atol=1e-12)
    if fit_intercept:
        assert_allclose(intercept, ridge.intercept_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("alpha", [1e-2, 1.0, 30.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("channel_independent", [True, False])
@pytest.mark.parametrize("window_weights", ["scale", "uniform"])
@pytest.mark.parametrize("sample_weight", [False, True])
def test_regressor_statistics_fit_equals_ridge_fit_in_memory(
    alpha, fit_intercept, channel_independent, window_weights, sample_weight
):
    """Check the exact fit against Ridge.fit on the normalized windows."""
    X, Y = _windows()
    weight = np.random.default_rng(1).uniform(0, 2, len(X)) if sample_weight else None
    ridge = Ridge(alpha=alpha, fit_intercept=fit_intercept)
    params = dict(
        n_variates=3,
        channel_independent=channel_independent,
        window_weights=window_weights,
    )
    model = RevINRegressor(ridge, **params).fit(X, Y, sample_weight=weight)
    reference = RevINRegressor(_generic(ridge), **params).fit(
        X, Y, sample_weight=weight
    )
    assert len(model.regressors_) == len(reference.regressors_)
    for got, want in zip(model.regressors_, reference.regressors_, strict=True):
        assert type(got) is Ridge
        scale = np.max(np.abs(want.coef_))
        assert_allclose(got.coef_, want.coef_, rtol=1e-8, atol=1e-8 * scale)
        assert_allclose(got.intercept_, want.intercept_, rtol=1e-8, atol=1e-10)
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("channel_independent", [True, False])
def test_linear_regression_statistics_fit_predicts_as_in_memory(
    fit_intercept, channel_independent
):
    """Check LinearRegression: its fit is exact (coefficients not identifiable).

    Normalized windows sum to zero, so X is rank deficient and the
    coefficients along that direction are rounding noise in LinearRegression;
    the fitted values are determined, and equal.
    """
    X, Y = _windows(seed=3)
    linear = LinearRegression(fit_intercept=fit_intercept)
    params = dict(n_variates=3, channel_independent=channel_independent)
    model = RevINRegressor(linear, **params).fit(X, Y)
    reference = RevINRegressor(_generic(linear), **params).fit(X, Y)
    assert type(model.regressors_[0]) is LinearRegression
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-8)
    assert model.regressors_[0].rank_ == reference.regressors_[0].rank_


def test_one_dimensional_y_gives_the_shapes_of_fit():
    """Check coef_ and intercept_ shapes for 1-D y, as Ridge.fit gives them."""
    X, Y = _windows(horizon=1, n_variates=1)
    model = RevINRegressor(Ridge()).fit(X, Y[:, 0])
    reference = RevINRegressor(GenericRidge()).fit(X, Y[:, 0])
    assert model.regressor_.coef_.shape == reference.regressor_.coef_.shape
    assert np.ndim(model.regressor_.intercept_) == 0
    assert model.predict(X).shape == (len(X),)
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-9)


@pytest.mark.parametrize(
    ("regressor", "fit_params", "expected"),
    [
        (Ridge(), {}, True),
        (Ridge(solver="svd", alpha=3.0), {}, True),
        (LinearRegression(fit_intercept=False), {}, True),
        (Ridge(solver="sag"), {}, False),
        (Ridge(positive=True), {}, False),
        (Ridge(alpha=np.ones(3)), {}, False),
        (LinearRegression(positive=True), {}, False),
        (GenericRidge(), {}, False),
        (Ridge(), {"check_input": False}, False),
    ],
)
def test_exact_solver_only_for_plain_ridge_and_linear_regression(
    regressor, fit_params, expected
):
    """Check which regressors are fitted from sufficient statistics."""
    assert exact_solver(regressor, fit_params) is expected


def test_float32_windows_give_a_float32_ridge():
    """Check that float32 windows stay float32: coefficients and forecasts."""
    X, Y = _windows()
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    model = RevINRegressor(Ridge(), n_variates=3, channel_independent=True).fit(X, Y)
    assert model.regressor_.coef_.dtype == np.float32
    assert model.predict(X).dtype == np.float32
    reference = RevINRegressor(
        GenericRidge(), n_variates=3, channel_independent=True
    ).fit(X, Y)
    assert reference.regressor_.coef_.dtype == np.float32
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-4, atol=1e-4)


def test_rows_of_all_variates_are_a_view():
    """Check that channel-independent rows copy nothing when all are targets."""
    X = np.arange(24.0).reshape(2, 12)
    rows = one_row_per_variate(
        X, n_variates=3, n_steps=4, passthrough=(), targets=[0, 1, 2]
    )
    assert np.shares_memory(rows, X)
    assert_allclose(rows, X.reshape(6, 4))
    some = one_row_per_variate(X, n_variates=3, n_steps=4, passthrough=(), targets=[2])
    assert_allclose(some, X.reshape(2, 3, 4)[:, 2])


def test_verbose_reports_progress(capsys):
    """Check that verbose=1 writes progress lines on stderr; 0 writes none."""
    X, Y = _windows()
    RevINRegressor(Ridge(), n_variates=3, verbose=1).fit(X, Y)
    assert "[RevINRegressor] sufficient statistics" in capsys.readouterr().err
    RevINRegressor(Ridge(), n_variates=3).fit(X, Y)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("channel_independent", [True, False])
def test_fit_leaves_the_callers_windows_unchanged(dtype, channel_independent):
    """Check that the weighting in place scales the chunk's copies, not X or y."""
    X, Y = _windows()
    X, Y = np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(Y, dtype=dtype)
    X_before, Y_before = X.copy(), Y.copy()
    weight = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    RevINRegressor(Ridge(), n_variates=3, channel_independent=channel_independent).fit(
        X, Y, sample_weight=weight
    )
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(Y, Y_before)


def test_nan_in_windows_is_the_in_memory_error():
    """Check that NaN in X is refused as Ridge refuses it."""
    X, Y = _windows()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RevINRegressor(Ridge(), n_variates=3).fit(X, Y)


_PEAK = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from sklearn.linear_model import Ridge
    from sklearn_revin import RevINRegressor, make_windows

    class GenericRidge(Ridge):
        pass

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    rng = np.random.default_rng(0)
    series = np.cumsum(rng.normal(size=(12_000, 7)), axis=0)
    X, Y = make_windows(series, window=336, horizon=96)
    X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
    ridge = Ridge() if sys.argv[1] == "statistics" else GenericRidge()
    model = RevINRegressor(ridge, n_variates=7, channel_independent=True)
    model.fit(X[:10], Y[:10]).predict(X[:10])  # imports and thread pools
    base = rss()
    model.fit(X, Y).predict(X)
    # VmHWM, not ru_maxrss: after fork and exec, ru_maxrss keeps the parent's
    # peak (a whole pytest session's), the new process's mm starts afresh.
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    peak = int(hwm.split()[1]) * 1024
    print(json.dumps({"extra": peak - base, "data": X.nbytes + Y.nbytes}))
    """
)


def _peak(kind):
    completed = subprocess.run(
        [sys.executable, "-c", _PEAK, kind],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_peak_memory_of_fit_is_near_the_size_of_the_data():
    """Check fit + predict's peak memory in a subprocess, over X and Y loaded.

    benchmarks/bench_memory.py measures the bound; this is a generous ratio:
    the generic path (Ridge subclass) takes several times the data.
    """
    measured = _peak("statistics")
    assert measured["extra"] < 1.5 * measured["data"], measured
