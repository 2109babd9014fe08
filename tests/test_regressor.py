"""Tests of RevINRegressor (and of RevINTransformer.normalize_with, which it uses)."""

import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter
from threadpoolctl import threadpool_limits

from sklearn_revin import (
    RevINRegressor,
    RevINTransformer,
    _sufficient_statistics,
    make_windows,
)


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """Run HistGradientBoosting single-threaded: on these tiny data sets, OpenMP
    threads on a busy 2-core CI machine cost seconds per fit instead of saving any."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def numpy_statistics(X, n_variates, eps=1e-5):
    """Per-window mean and sqrt(max(biased variance, eps)), shape (n, n_variates)."""
    windows = X.reshape(X.shape[0], n_variates, -1)
    return windows.mean(axis=-1), np.sqrt(np.maximum(windows.var(axis=-1), eps))


def hand_written_forecast(
    regressor, X_train, Y_train, X_test, *, n_variates, targets, gamma, beta, eps=1e-5
):
    """Normalize, fit, predict and denormalize, from the formula, in NumPy."""
    gamma = np.asarray(gamma, float)
    beta = np.asarray(beta, float)

    def normalize(values, mean, scale, variates):
        blocks = values.reshape(values.shape[0], len(variates), -1)
        z = (blocks - mean[:, variates, None]) / scale[:, variates, None]
        return (z * gamma[variates, None] + beta[variates, None]).reshape(values.shape)

    def denormalize(values, mean, scale, variates):
        blocks = values.reshape(values.shape[0], len(variates), -1)
        y = (blocks - beta[variates, None]) / gamma[variates, None]
        return (y * scale[:, variates, None] + mean[:, variates, None]).reshape(
            values.shape
        )

    all_variates = list(range(n_variates))
    mean, scale = numpy_statistics(X_train, n_variates, eps)
    model = clone(regressor).fit(
        normalize(X_train, mean, scale, all_variates),
        normalize(Y_train, mean, scale, targets),
    )
    mean, scale = numpy_statistics(X_test, n_variates, eps)
    Y_z = model.predict(normalize(X_test, mean, scale, all_variates))
    return denormalize(Y_z.reshape(X_test.shape[0], -1), mean, scale, targets)


def trending_series(rng, n_times, n_variates):
    """Random walks with drift and offsets far from zero, (n_times, n_variates)."""
    steps = rng.normal(loc=0.3, size=(n_times, n_variates))
    return 100 * rng.uniform(1, 5, size=n_variates) + np.cumsum(steps, axis=0)


# ------------------------------------------------------------ the arithmetic


AFFINE_CASES = [
    (1, [0], [1.0], [0.0]),
    (1, [0], [2.0], [-0.5]),
    (3, [0, 1, 2], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]),
    (3, [2, 0], [1.5, -0.7, 0.3], [0.1, 0.0, -2.0]),
]


def _fit_predict(
    regressor, n_variates, targets, gamma, beta, seed, window_weights="uniform"
):
    rng = np.random.RandomState(seed)
    series = trending_series(rng, 160, n_variates)
    X, Y = make_windows(series, 12, 3, target=targets)
    X_train, Y_train, X_test = X[:100], Y[:100], X[100:]
    model = RevINRegressor(
        regressor,
        n_variates=n_variates,
        target_variates=targets,
        revin=RevINTransformer(gamma=gamma, beta=beta, device="cpu"),
        window_weights=window_weights,
    )
    return X_train, Y_train, X_test, model.fit(X_train, Y_train).predict(X_test)


@pytest.mark.parametrize("alpha", [1e-3, 0.3, 10.0])
@pytest.mark.parametrize(("n_variates", "targets", "gamma", "beta"), AFFINE_CASES)
def test_revin_regressor_equals_numpy_normalize_fit_predict_denormalize(
    global_random_seed, alpha, n_variates, targets, gamma, beta
):
    """Check uniform-weight predictions against the NumPy formula around a clone.

    A linear model's predictions are continuous in its inputs, so the last-bit
    differences between NumPy's and torch's arithmetic stay at that level.
    """
    X_train, Y_train, X_test, predicted = _fit_predict(
        Ridge(alpha=alpha), n_variates, targets, gamma, beta, global_random_seed
    )
    expected = hand_written_forecast(
        Ridge(alpha=alpha),
        X_train,
        Y_train,
        X_test,
        n_variates=n_variates,
        targets=targets,
        gamma=gamma,
        beta=beta,
    )
    assert predicted.shape == expected.shape == (X_test.shape[0], 3 * len(targets))
    assert_allclose(predicted, expected, rtol=1e-7, atol=1e-7 * np.abs(expected).max())


@pytest.mark.parametrize(
    "regressor",
    [
        Ridge(alpha=0.3),
        RandomForestRegressor(n_estimators=5, random_state=0),
        KNeighborsRegressor(n_neighbors=3),
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
        MultiOutputRegressor(HistGradientBoostingRegressor(max_iter=10)),
    ],
    ids=["ridge", "forest", "knn", "mlp", "multioutput-hgb"],
)
@pytest.mark.parametrize(("n_variates", "targets", "gamma", "beta"), AFFINE_CASES)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_revin_regressor_equals_hand_written_pipeline_with_the_transformer(
    global_random_seed, regressor, n_variates, targets, gamma, beta
):
    """Check any multi-output regressor against the transformer's steps by hand.

    Trees and neighbours jump at split points and ties, so the reference is
    written with the transformer's public methods (the same arithmetic, to the
    last bit) rather than with NumPy (tested above for a linear model).
    """
    X_train, Y_train, X_test, predicted = _fit_predict(
        regressor, n_variates, targets, gamma, beta, global_random_seed
    )

    revin = RevINTransformer(n_variates=n_variates, gamma=gamma, beta=beta)
    X_train_z = revin.fit_transform(X_train)
    Y_train_z = revin.normalize_with(
        Y_train, (revin.mean_, revin.scale_), variates=targets
    )
    model = clone(regressor).fit(X_train_z, Y_train_z)
    test_statistics = revin.instance_statistics(X_test)
    Y_test_z = model.predict(revin.transform(X_test))
    expected = revin.inverse_transform(
        Y_test_z, statistics=test_statistics, variates=targets
    )
    assert predicted.shape == (X_test.shape[0], 3 * len(targets))
    assert_allclose(predicted, expected, rtol=1e-12)


def test_revin_regressor_regressor_sees_normalized_data():
    """Check that the inner regressor is fitted on per-window normalized X and y."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 80, 1)[:, 0], 10, 2)
    model = RevINRegressor(Ridge(), window_weights="uniform").fit(X, Y)
    mean, scale = numpy_statistics(X, 1)
    # A ridge fitted on the normalized pair reproduces its coefficients. Not
    # LinearRegression: normalized windows sum to zero, so its least-squares
    # problem is rank deficient and its coefficients depend on the lstsq
    # cutoff (1e11 with scikit-learn 1.6, the declared floor).
    reference = Ridge().fit((X - mean) / scale, (Y - mean) / scale)
    assert_allclose(model.regressor_.coef_, reference.coef_, rtol=1e-6, atol=1e-9)
    # the training windows' statistics are not kept, and can be recomputed
    assert not hasattr(model.revin_, "mean_")
    statistics = model.revin_.instance_statistics(X)
    assert_allclose(statistics.mean, mean)
    assert_allclose(statistics.scale, scale)


def test_revin_regressor_is_invariant_to_the_level_of_each_window():
    """Check that shifting and scaling a window shifts and scales its forecast."""
    rng = np.random.RandomState(1)
    X, Y = make_windows(trending_series(rng, 120, 1)[:, 0], 16, 4)
    model = RevINRegressor(RandomForestRegressor(n_estimators=5, random_state=0))
    model.fit(X, Y)
    shift = rng.uniform(-1e3, 1e3, size=(X.shape[0], 1))
    factor = rng.uniform(0.5, 20, size=(X.shape[0], 1))
    assert_allclose(
        model.predict(X * factor + shift),
        model.predict(X) * factor + shift,
        rtol=1e-6,
        atol=1e-6 * np.abs(shift).max(),
    )


# ------------------------------- window weights: the error on the original scale


class WeightRecordingRidge(Ridge):
    """Ridge that keeps the sample_weight its fit was given."""

    def fit(self, X, y, sample_weight=None):
        self.seen_sample_weight_ = sample_weight
        return super().fit(X, y, sample_weight=sample_weight)


def _normalized_pair(X, n_variates, gamma, beta):
    """NumPy normalized windows with a column of ones, and the statistics."""
    mean, scale = numpy_statistics(X, n_variates)
    windows = X.reshape(X.shape[0], n_variates, -1)
    Z = (windows - mean[..., None]) / scale[..., None] * gamma[:, None] + beta[:, None]
    Z = np.hstack([Z.reshape(X.shape[0], -1), np.ones((X.shape[0], 1))])
    return Z, mean, scale


@pytest.mark.parametrize(("n_variates", "targets", "gamma", "beta"), AFFINE_CASES)
def test_revin_regressor_scale_weights_minimise_the_error_on_the_original_scale(
    global_random_seed, n_variates, targets, gamma, beta
):
    """Check "scale" against least squares of the error after the inverse (NumPy).

    A forecast ``z`` of window i and target variate v is ``mean_iv + scale_iv *
    (z - beta_v) / gamma_v`` on the series' scale, so its error there is linear
    in the coefficients: ``numpy.linalg.lstsq`` of that error, target variate
    by target variate, is the model RLinear-style training fits. Ridge with a
    tiny alpha must give the same forecasts; uniform weights must not.
    """
    rng = np.random.RandomState(global_random_seed)
    series = trending_series(rng, 160, n_variates)
    series[40:52] = series[39]  # constant windows: the scale at its eps floor
    X, Y = make_windows(series, 12, 3, target=targets)
    X_train, Y_train, X_test = X[:100], Y[:100], X[100:]
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    revin = RevINTransformer(gamma=gamma, beta=beta)
    model = RevINRegressor(
        Ridge(alpha=1e-10),
        n_variates=n_variates,
        target_variates=targets,
        revin=revin,
        window_weights="scale",
    ).fit(X_train, Y_train)

    Z_train, mean, scale = _normalized_pair(X_train, n_variates, gamma, beta)
    Z_test, mean_test, scale_test = _normalized_pair(X_test, n_variates, gamma, beta)
    expected = []
    for k, v in enumerate(targets):
        Y_k = Y_train[:, 3 * k : 3 * k + 3]
        factor = scale[:, v] / gamma[v]
        # Y - (mean + factor * (Z b - beta)) = (Y - mean + factor * beta) - factor Z b
        rhs = Y_k - mean[:, [v]] + (factor * beta[v])[:, None]
        # The normalized steps of a window sum to n_steps * beta: one direction
        # is null but for rounding, which rcond leaves out (as Ridge's penalty).
        coef = np.linalg.lstsq(factor[:, None] * Z_train, rhs, rcond=1e-9)[0]
        factor_test = scale_test[:, v] / gamma[v]
        z = Z_test @ coef
        expected.append(mean_test[:, [v]] + factor_test[:, None] * (z - beta[v]))
    expected = np.hstack(expected)

    predicted = model.predict(X_test)
    spread = np.abs(expected - mean_test[:, targets].repeat(3, axis=1)).max()
    assert_allclose(predicted, expected, rtol=0, atol=1e-6 * spread)
    uniform = clone(model).set_params(window_weights="uniform").fit(X_train, Y_train)
    assert np.abs(uniform.predict(X_test) - expected).max() > 1e-3 * spread


# MLPRegressor.fit takes sample_weight in recent scikit-learn, not in 1.6 (the
# declared floor), where window_weights="scale" refuses it with a ValueError.
_MLP_IF_WEIGHTED = (
    [MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0)]
    if has_fit_parameter(MLPRegressor(), "sample_weight")
    else []
)


@pytest.mark.parametrize(
    "regressor",
    [
        Ridge(alpha=0.3),
        RandomForestRegressor(n_estimators=5, random_state=0),
        *_MLP_IF_WEIGHTED,
        MultiOutputRegressor(HistGradientBoostingRegressor(max_iter=10)),
    ],
    ids=["ridge", "forest", *(["mlp"] if _MLP_IF_WEIGHTED else []), "multioutput-hgb"],
)
@pytest.mark.parametrize(("n_variates", "targets", "gamma", "beta"), AFFINE_CASES)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_revin_regressor_scale_fits_one_regressor_per_target_variate(
    global_random_seed, regressor, n_variates, targets, gamma, beta
):
    """Check "scale" against a clone per target variate, weighted by hand.

    Each target variate's windows weigh (scale / |gamma|) ** 2 of that variate,
    divided by their mean; with one target variate that is one regressor.
    """
    X_train, Y_train, X_test, predicted = _fit_predict(
        regressor, n_variates, targets, gamma, beta, global_random_seed, "scale"
    )
    revin = RevINTransformer(n_variates=n_variates, gamma=gamma, beta=beta)
    X_train_z = revin.fit_transform(X_train)
    Y_train_z = revin.normalize_with(
        Y_train, (revin.mean_, revin.scale_), variates=targets
    )
    test_statistics = revin.instance_statistics(X_test)
    X_test_z = revin.transform(X_test)
    blocks = []
    for k, v in enumerate(targets):
        weight = (revin.scale_[:, v] / abs(revin.gamma_[v])) ** 2
        model = clone(regressor).fit(
            X_train_z,
            Y_train_z[:, 3 * k : 3 * k + 3],
            sample_weight=weight / weight.mean(),
        )
        blocks.append(model.predict(X_test_z))
    expected = revin.inverse_transform(
        np.hstack(blocks), statistics=test_statistics, variates=targets
    )
    assert_allclose(predicted, expected, rtol=1e-12)


def test_revin_regressor_regressors_attribute_by_mode():
    """Check ``regressors_`` and ``regressor_`` in each mode."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 80, 3), 8, 2, target=[2, 0])
    kwargs = {"n_variates": 3, "target_variates": [2, 0]}
    several = RevINRegressor(Ridge(), **kwargs).fit(X, Y)
    assert several.window_weights_ == "scale"
    assert len(several.regressors_) == 2
    assert not hasattr(several, "regressor_")
    for kwargs_mode in ({"window_weights": "uniform"}, {"channel_independent": True}):
        one = RevINRegressor(Ridge(), **kwargs, **kwargs_mode).fit(X, Y)
        assert len(one.regressors_) == 1
        assert one.regressor_ is one.regressors_[0]
    assert several.predict(X).shape == Y.shape


@pytest.mark.parametrize(
    ("regressor", "expected"),
    [
        (None, "scale"),
        (Ridge(), "scale"),
        (RandomForestRegressor(n_estimators=3), "scale"),
        (HistGradientBoostingRegressor(max_iter=5), "scale"),
        (KNeighborsRegressor(n_neighbors=3), "uniform"),
        (MultiOutputRegressor(HistGradientBoostingRegressor(max_iter=5)), "scale"),
        (MultiOutputRegressor(KNeighborsRegressor(n_neighbors=3)), "uniform"),
        (Pipeline([("ridge", Ridge())]), "uniform"),
    ],
    ids=["default", "ridge", "forest", "hgb", "knn", "mo-hgb", "mo-knn", "pipeline"],
)
def test_revin_regressor_auto_window_weights_follow_the_regressor(regressor, expected):
    """Check that "auto" is "scale" exactly where fit can take the weights."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 60, 1)[:, 0], 8, 2)
    y = Y if isinstance(regressor, MultiOutputRegressor) else Y[:, 0]
    model = RevINRegressor(regressor).fit(X, y)
    assert model.window_weights == "auto"
    assert model.window_weights_ == expected


@pytest.mark.parametrize(
    ("regressor", "named"),
    [
        (KNeighborsRegressor(), "KNeighborsRegressor.fit does not take sample_weight"),
        (
            MultiOutputRegressor(KNeighborsRegressor()),
            "MultiOutputRegressor passes sample_weight to its estimator, and "
            "KNeighborsRegressor.fit does not take sample_weight",
        ),
        (Pipeline([("ridge", Ridge())]), "Pipeline.fit does not take sample_weight"),
    ],
    ids=["knn", "multioutput-knn", "pipeline"],
)
def test_revin_regressor_scale_without_sample_weight_support_is_an_error(
    regressor, named
):
    """Check that "scale" names the regressor and the ways out when it cannot."""
    X, Y = make_windows(np.arange(40.0) ** 1.5, 5, 2)
    with pytest.raises(ValueError, match=re.escape(named)) as error:
        RevINRegressor(regressor, window_weights="scale").fit(X, Y)
    assert "window_weights='uniform'" in str(error.value)
    assert "RevINRegressor as its last step" in str(error.value)


def test_revin_regressor_sample_weight_for_a_regressor_without_it():
    """Check the errors when sample_weight cannot reach the regressor's fit.

    A fit without sample_weight or ``**kwargs`` is refused here, by name; a
    fit with ``**kwargs`` (Pipeline) or a meta-estimator gives its own error.
    """
    X, Y = make_windows(np.arange(40.0) ** 1.5, 5, 2)
    weight = np.ones(len(X))
    message = "sample_weight was passed to fit, but KNeighborsRegressor.fit does not"
    with pytest.raises(ValueError, match=re.escape(message)):
        RevINRegressor(KNeighborsRegressor()).fit(X, Y, sample_weight=weight)
    with pytest.raises(ValueError, match="does not support sample weights"):
        RevINRegressor(MultiOutputRegressor(KNeighborsRegressor())).fit(
            X, Y, sample_weight=weight
        )
    with pytest.raises(ValueError, match=re.escape("Pipeline.fit does not accept")):
        RevINRegressor(Pipeline([("ridge", Ridge())])).fit(X, Y, sample_weight=weight)


def test_revin_regressor_sample_weight_through_a_transformed_target_regressor():
    """Check that a fit with ``**kwargs`` that forwards sample_weight still gets it."""
    from sklearn.compose import TransformedTargetRegressor

    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 60, 1)[:, 0], 6, 2)
    weight = rng.uniform(0.5, 2.0, size=len(X))
    wrapped = RevINRegressor(TransformedTargetRegressor(Ridge()))
    assert wrapped.fit(X, Y, sample_weight=weight).window_weights_ == "uniform"
    plain = RevINRegressor(Ridge(), window_weights="uniform")
    assert_allclose(
        wrapped.predict(X), plain.fit(X, Y, sample_weight=weight).predict(X)
    )


@pytest.mark.parametrize("channel_independent", [False, True])
def test_revin_regressor_user_sample_weight_multiplies_the_window_weights(
    global_random_seed, channel_independent
):
    """Check the weights the regressor gets: sample_weight * (scale / |gamma|) ** 2."""
    rng = np.random.RandomState(global_random_seed)
    X, Y = make_windows(trending_series(rng, 90, 2), 8, 2)
    gamma = np.array([2.0, -0.5])
    sample_weight = rng.uniform(0.1, 3.0, size=X.shape[0])
    model = RevINRegressor(
        WeightRecordingRidge(),
        n_variates=2,
        target_variates=[1],
        revin=RevINTransformer(gamma=gamma),
        channel_independent=channel_independent,
    ).fit(X, Y[:, 2:], sample_weight=sample_weight)
    seen = model.regressor_.seen_sample_weight_
    _, scale = numpy_statistics(X, 2)
    expected = sample_weight * (scale[:, 1] / 0.5) ** 2
    # proportional to sample_weight * (scale / |gamma|) ** 2, with the weighted
    # mean of (scale / |gamma|) ** 2 as the constant
    assert_allclose(
        seen, expected / np.average(expected / sample_weight, weights=sample_weight)
    )
    unweighted = clone(model).fit(X, Y[:, 2:]).regressor_.seen_sample_weight_
    assert_allclose(unweighted, scale[:, 1] ** 2 / np.mean(scale[:, 1] ** 2))


@settings(max_examples=25)
@given(
    repeats=st.lists(st.integers(0, 3), min_size=40, max_size=40).filter(
        lambda r: sum(r) > 10
    ),
    channel_independent=st.booleans(),
)
def test_revin_regressor_integer_sample_weight_is_repeating_windows(
    repeats, channel_independent
):
    """Check the property: an integer weight is the same fit as repeated windows."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 52, 2), 8, 5)
    repeats = np.asarray(repeats)
    model = RevINRegressor(
        Ridge(), n_variates=2, channel_independent=channel_independent
    )
    weighted = clone(model).fit(X, Y, sample_weight=repeats).predict(X)
    repeated = clone(model).fit(X.repeat(repeats, 0), Y.repeat(repeats, 0)).predict(X)
    assert_allclose(weighted, repeated, rtol=1e-9, atol=1e-9 * np.abs(Y).max())


@settings(max_examples=25)
@given(
    factor=st.floats(0.01, 100.0),
    shift=st.floats(-1e4, 1e4),
    window_weights=st.sampled_from(["scale", "uniform"]),
    channel_independent=st.booleans(),
)
def test_revin_regressor_forecast_follows_the_unit_of_the_series(
    factor, shift, window_weights, channel_independent
):
    """Check the property: fit and predict in other units give the same forecast.

    ``factor * series + shift`` is the same series in other units; the
    forecast must be the same in those units, penalty included (the window
    weights are relative).
    """
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 70, 2), 8, 3)
    model = RevINRegressor(
        Ridge(alpha=1.0),
        n_variates=2,
        channel_independent=channel_independent,
        window_weights=window_weights,
    )
    expected = clone(model).fit(X, Y).predict(X)
    moved = clone(model).fit(factor * X + shift, factor * Y + shift)
    assert_allclose(
        moved.predict(factor * X + shift),
        factor * expected + shift,
        rtol=1e-9,
        atol=1e-9 * (abs(shift) + factor * np.abs(Y).max()),
    )


# --------------------------------------------------------- channel independence


@pytest.mark.parametrize("window_weights", ["scale", "uniform"])
@pytest.mark.parametrize("targets", [None, [2, 0]])
def test_revin_regressor_channel_independent_equals_the_hand_reshape(
    global_random_seed, window_weights, targets
):
    """Check channel independence against one-variate windows stacked by hand.

    Each target variate's window is one row, its own horizon the target: the
    same fit as a one-variate RevINRegressor on those rows.
    """
    rng = np.random.RandomState(global_random_seed)
    series = trending_series(rng, 150, 3)
    X, Y = make_windows(series, 12, 4, target=targets)
    selected = [0, 1, 2] if targets is None else targets
    X_train, Y_train, X_test = X[:100], Y[:100], X[100:]
    sample_weight = rng.uniform(0.5, 2.0, size=100)
    model = RevINRegressor(
        Ridge(alpha=0.5),
        n_variates=3,
        target_variates=targets,
        channel_independent=True,
        window_weights=window_weights,
    ).fit(X_train, Y_train, sample_weight=sample_weight)

    def rows(X_part):
        return X_part.reshape(len(X_part), 3, 12)[:, selected].reshape(-1, 12)

    by_hand = RevINRegressor(Ridge(alpha=0.5), window_weights=window_weights).fit(
        rows(X_train),
        Y_train.reshape(-1, 4),
        sample_weight=np.repeat(sample_weight, len(selected)),
    )
    expected = by_hand.predict(rows(X_test)).reshape(len(X_test), -1)
    predicted = model.predict(X_test)
    assert predicted.shape == (len(X_test), 4 * len(selected))
    assert_allclose(predicted, expected, rtol=1e-10)


def test_revin_regressor_channel_independent_uses_each_variates_gamma():
    """Check that a shared regressor still uses each variate's gamma and beta."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 90, 2), 8, 2)
    revin = RevINTransformer(gamma=[2.0, -0.5], beta=[1.0, 0.0])
    model = RevINRegressor(
        Ridge(), n_variates=2, revin=revin, channel_independent=True
    ).fit(X, Y)
    mean, scale = numpy_statistics(X, 2)
    windows = X.reshape(len(X), 2, 8)
    Z = (windows - mean[..., None]) / scale[..., None] * [[2.0], [-0.5]] + [[1.0], [0]]
    Y_z = (Y.reshape(len(X), 2, 2) - mean[..., None]) / scale[..., None]
    Y_z = Y_z * [[2.0], [-0.5]] + [[1.0], [0.0]]
    weight = (scale / [2.0, 0.5]) ** 2
    reference = Ridge().fit(
        Z.reshape(-1, 8),
        Y_z.reshape(-1, 2),
        sample_weight=(weight / weight.mean()).ravel(),
    )
    assert_allclose(model.regressor_.coef_, reference.coef_, rtol=1e-9)
    assert_allclose(model.regressor_.intercept_, reference.intercept_, rtol=1e-9)


# --------------------------------------------------------------- shapes of y


def test_revin_regressor_1d_y_gives_1d_predictions():
    """Check that a 1-D y (one step, one target) gives 1-D predictions."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 60, 1)[:, 0], 8, 1)
    model = RevINRegressor(Ridge()).fit(X, Y[:, 0])
    assert model.predict(X).shape == (X.shape[0],)
    column = RevINRegressor(Ridge()).fit(X, Y)
    assert column.predict(X).shape == (X.shape[0], 1)
    assert_allclose(model.predict(X), column.predict(X)[:, 0])


def test_revin_regressor_uniform_passes_sample_weight_unchanged():
    """Check that with uniform window weights sample_weight reaches fit as given."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 80, 1)[:, 0], 8, 2)
    weight = rng.uniform(0.1, 5.0, size=X.shape[0])
    model = RevINRegressor(Ridge(), window_weights="uniform")
    predicted = model.fit(X, Y, sample_weight=weight).predict(X)
    mean, scale = numpy_statistics(X, 1)
    reference = Ridge().fit(
        (X - mean) / scale, (Y - mean) / scale, sample_weight=weight
    )
    expected = reference.predict((X - mean) / scale) * scale + mean
    assert_allclose(predicted, expected, rtol=1e-7)
    unweighted = clone(model).fit(X, Y).predict(X)
    assert not np.allclose(predicted, unweighted)


def test_revin_regressor_nan_windows_with_a_nan_tolerant_regressor():
    """Check that NaN in a window is ignored by RevIN and handled by the regressor."""
    rng = np.random.RandomState(0)
    series = trending_series(rng, 100, 1)[:, 0]
    series[[10, 50]] = np.nan
    X, Y = make_windows(series, 8, 1)
    keep = ~np.isnan(Y[:, 0])
    model = RevINRegressor(HistGradientBoostingRegressor(max_iter=10))
    predicted = model.fit(X[keep], Y[keep, 0]).predict(X)
    assert np.isfinite(predicted).all()
    with pytest.raises(ValueError, match="Input X contains NaN"):
        RevINRegressor(Ridge()).fit(X[keep], Y[keep, 0])


# -------------------------------------------------------------------- errors


def test_revin_regressor_y_none_is_an_error():
    """Check the message scikit-learn expects when y is None."""
    with pytest.raises(ValueError, match="requires y to be passed, but the target y"):
        RevINRegressor().fit(np.ones((5, 4)), None)


def test_revin_regressor_y_width_must_be_a_multiple_of_the_targets():
    """Check the error for y that cannot be split into the target variates."""
    X = np.random.RandomState(0).normal(size=(10, 6))
    message = (
        "y has 3 column(s), which is not a multiple of the 2 target variate(s) "
        "(target_variates=None)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        RevINRegressor(n_variates=2).fit(X, np.ones((10, 3)))


@pytest.mark.parametrize(
    ("target_variates", "message"),
    [
        (2, "target_variates must be indices in [0, 2) for windows of 2 variate(s)"),
        ([0, 0], "target_variates must not repeat; got [0, 0]"),
        ([], "target_variates must be a variate index or a non-empty list"),
        ([0.5], "target_variates must be a variate index or a non-empty list"),
    ],
)
def test_revin_regressor_bad_target_variates_are_errors(target_variates, message):
    """Check the errors for target variates that the windows do not have."""
    X = np.random.RandomState(0).normal(size=(10, 6))
    model = RevINRegressor(n_variates=2, target_variates=target_variates)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit(X, np.ones(10))


def test_revin_regressor_conflicting_n_variates_is_an_error():
    """Check that n_variates may not contradict the revin transformer's."""
    model = RevINRegressor(n_variates=2, revin=RevINTransformer(n_variates=3))
    with pytest.raises(ValueError, match="n_variates=2, but the revin transformer"):
        model.fit(np.ones((4, 6)), np.ones(4))


def test_revin_regressor_width_not_divisible_by_n_variates_is_an_error():
    """Check that the transformer's layout error reaches the user."""
    with pytest.raises(ValueError, match=re.escape("X has 5 feature(s)")):
        RevINRegressor(n_variates=2).fit(np.ones((4, 5)), np.ones(4))


def test_revin_regressor_revin_parameter_is_cloned_and_used():
    """Check that a configured transformer is cloned, with n_variates filled in."""
    revin = RevINTransformer(gamma=[2.0, 3.0], beta=[1.0, -1.0], eps=1e-3)
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 60, 2), 6, 1, target=1)
    model = RevINRegressor(Ridge(), n_variates=2, target_variates=1, revin=revin)
    model.fit(X, Y)
    assert model.revin_ is not revin
    assert revin.n_variates is None  # the user's object is left as it was
    assert not hasattr(revin, "mean_")
    assert model.revin_.n_variates_ == 2
    assert_allclose(model.revin_.gamma_, [2.0, 3.0])
    assert model.revin_.eps == 1e-3


def test_revin_regressor_never_writes_into_x_or_y():
    """Check that a revin with copy=False does not make the regressor write in place."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 60, 1)[:, 0], 6, 2)
    X, Y = np.array(X), np.array(Y)  # writable copies
    X_before, Y_before = X.copy(), Y.copy()
    model = RevINRegressor(Ridge(), revin=RevINTransformer(copy=False))
    model.fit(X, Y).predict(X)
    assert_allclose(X, X_before, rtol=0)
    assert_allclose(Y, Y_before, rtol=0)


# ------------------------------------------------ scikit-learn integration


def test_revin_regressor_get_and_set_params_reach_inside():
    """Check nested parameters of the regressor and the transformer."""
    model = RevINRegressor(Ridge(alpha=2.0), revin=RevINTransformer(eps=1e-4))
    params = model.get_params()
    assert params["regressor__alpha"] == 2.0
    assert params["revin__eps"] == 1e-4

    model.set_params(regressor__alpha=7.0, revin__eps=1e-3)
    X, Y = make_windows(np.arange(40.0) ** 1.5, 5, 2)
    model.fit(X, Y)
    assert model.regressor_.alpha == 7.0
    assert model.revin_.eps == 1e-3


def test_revin_regressor_in_a_pipeline():
    """Check the regressor as the last step of a Pipeline, with an imputer first."""
    rng = np.random.RandomState(0)
    series = trending_series(rng, 120, 1)[:, 0]
    X, Y = make_windows(series, 8, 2)
    X_holes = X.copy()
    X_holes[::7, 3] = np.nan
    pipeline = Pipeline(
        [("impute", SimpleImputer()), ("forecast", RevINRegressor(Ridge()))]
    )
    predicted = pipeline.fit(X_holes, Y).predict(X_holes)

    filled = SimpleImputer().fit_transform(X_holes)
    expected = RevINRegressor(Ridge()).fit(filled, Y).predict(filled)
    assert_allclose(predicted, expected)
    assert pipeline.get_params()["forecast__regressor__alpha"] == 1.0


def test_revin_regressor_grid_search_with_time_series_split():
    """Check GridSearchCV over a nested parameter against a hand-written CV loop."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 150, 1)[:, 0], 10, 3)
    cv = TimeSeriesSplit(n_splits=3)
    alphas = [0.01, 1.0, 100.0]
    search = GridSearchCV(
        RevINRegressor(Ridge()),
        {"regressor__alpha": alphas},
        cv=cv,
        scoring="neg_mean_squared_error",
    ).fit(X, Y)

    by_hand = []
    for alpha in alphas:
        scores = []
        for train, test in cv.split(X):
            model = RevINRegressor(Ridge(alpha=alpha)).fit(X[train], Y[train])
            scores.append(-np.mean((model.predict(X[test]) - Y[test]) ** 2))
        by_hand.append(np.mean(scores))
    assert_allclose(search.cv_results_["mean_test_score"], by_hand)
    assert search.best_params_ == {"regressor__alpha": alphas[int(np.argmax(by_hand))]}
    refit = RevINRegressor(Ridge(alpha=search.best_params_["regressor__alpha"]))
    assert_allclose(search.predict(X), refit.fit(X, Y).predict(X))


def test_revin_regressor_pickle_round_trip():
    """Check that a fitted regressor predicts the same after pickling."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 80, 2), 6, 3, target=0)
    model = RevINRegressor(
        RandomForestRegressor(n_estimators=5, random_state=0),
        n_variates=2,
        target_variates=0,
    ).fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    assert_allclose(restored.predict(X), model.predict(X))


def test_revin_regressor_new_parameters_get_set_clone_and_pickle():
    """Check channel_independent and window_weights through params, clone, pickle."""
    model = RevINRegressor(Ridge(), n_variates=3, target_variates=[2, 0])
    params = model.get_params()
    assert params["channel_independent"] is False
    assert params["window_weights"] == "auto"
    model.set_params(window_weights="scale", regressor__alpha=0.1)
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 80, 3), 8, 2, target=[2, 0])
    for kwargs in ({}, {"channel_independent": True}):
        fitted = clone(model).set_params(**kwargs).fit(X, Y)
        restored = pickle.loads(pickle.dumps(fitted))
        assert_allclose(restored.predict(X), fitted.predict(X))
        unfitted = clone(fitted)
        assert unfitted.get_params()["window_weights"] == "scale"
        assert not hasattr(unfitted, "regressors_")
    assert len(fitted.regressors_) == 1
    assert len(restored.regressors_) == 1


def test_revin_regressor_grid_search_over_the_new_parameters():
    """Check GridSearchCV over window_weights and channel_independent by hand."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 150, 2), 10, 3)
    cv = TimeSeriesSplit(n_splits=3)
    grid = {
        "window_weights": ["scale", "uniform"],
        "channel_independent": [False, True],
    }
    base = RevINRegressor(Ridge(), n_variates=2)
    search = GridSearchCV(base, grid, cv=cv, scoring="neg_mean_squared_error")
    search.fit(X, Y)
    by_hand = []
    for params in search.cv_results_["params"]:
        scores = []
        for train, test in cv.split(X):
            model = clone(base).set_params(**params).fit(X[train], Y[train])
            scores.append(-np.mean((model.predict(X[test]) - Y[test]) ** 2))
        by_hand.append(np.mean(scores))
    assert_allclose(search.cv_results_["mean_test_score"], by_hand)
    assert len(set(np.round(by_hand, 12))) == 4  # the parameters change the fit


@pytest.mark.parametrize(
    "kwargs",
    [{"channel_independent": True}, {"window_weights": "scale"}, {}],
    ids=["channel-independent", "per-variate", "default"],
)
def test_revin_regressor_dask_predict_with_the_new_modes(kwargs):
    """Check that a dask X is predicted chunk by chunk, as in memory."""
    da = pytest.importorskip("dask.array")
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 120, 3), 8, 2, target=[2, 0])
    model = RevINRegressor(Ridge(), n_variates=3, target_variates=[2, 0], **kwargs)
    model.fit(X, Y)
    lazy = model.predict(da.from_array(np.asarray(X), chunks=(25, -1)))
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), model.predict(X), rtol=1e-12)


def test_revin_regressor_nan_windows_in_the_new_modes():
    """Check NaN in windows with a NaN-tolerant regressor, weighted and shared."""
    rng = np.random.RandomState(0)
    series = trending_series(rng, 120, 2)
    series[[10, 50], 0] = np.nan
    X, Y = make_windows(series, 8, 1)
    keep = ~np.isnan(Y).any(axis=1)
    for kwargs in ({"channel_independent": True}, {"window_weights": "scale"}):
        # horizon 1: each target variate's regressor gets a 1-D y
        model = RevINRegressor(
            HistGradientBoostingRegressor(max_iter=10), n_variates=2, **kwargs
        )
        predicted = model.fit(X[keep], Y[keep]).predict(X)
        assert model.window_weights_ == "scale"
        assert np.isfinite(predicted).all()
    with pytest.raises(ValueError, match="Input X contains NaN"):
        RevINRegressor(Ridge(), n_variates=2, channel_independent=True).fit(
            X[keep], Y[keep]
        )


def test_revin_regressor_feature_names_from_make_windows():
    """Check that data-frame windows record their names and are checked at predict."""
    pd = pytest.importorskip("pandas")
    series = pd.Series(np.arange(30.0) ** 1.2, name="co2")
    X, Y = make_windows(series, 4, 2)
    model = RevINRegressor(Ridge()).fit(X, Y)
    assert list(model.feature_names_in_) == [
        "co2[t-3]",
        "co2[t-2]",
        "co2[t-1]",
        "co2[t]",
    ]
    plain = RevINRegressor(Ridge()).fit(X.to_numpy(), Y.to_numpy())
    assert_allclose(model.predict(X), plain.predict(X.to_numpy()))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(X.rename(columns={"co2[t]": "other"}))


def test_revin_regressor_tags_follow_the_regressor():
    """Check that NaN support and multi-output come from the inner regressor."""
    from sklearn.utils import get_tags

    hgb = get_tags(RevINRegressor(HistGradientBoostingRegressor()))
    ridge = get_tags(RevINRegressor(Ridge()))
    assert hgb.input_tags.allow_nan
    assert not ridge.input_tags.allow_nan
    assert ridge.target_tags.multi_output
    assert not hgb.target_tags.multi_output


# ------------------------------------------------- the shipped real series


def _forecast_errors(series, window, horizon, regressor, **revin_kwargs):
    """Test MSE of the naive, raw and RevIN forecasts on a time-ordered 70/30 split."""
    values = np.asarray(series, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    cut = int(0.7 * len(values))
    X_train, Y_train = make_windows(values[:cut], window, horizon, target=0)
    X_test, Y_test = make_windows(values[cut - window :], window, horizon, target=0)
    naive = np.repeat(X_test[:, [window - 1]], horizon, axis=1)  # target is variate 0
    raw = clone(regressor).fit(X_train, Y_train).predict(X_test)
    revin = RevINRegressor(clone(regressor), **revin_kwargs)
    revin_pred = revin.fit(X_train, Y_train).predict(X_test)
    return (
        np.mean((naive - Y_test) ** 2),
        np.mean((raw - Y_test) ** 2),
        np.mean((revin_pred - Y_test) ** 2),
    )


@pytest.mark.parametrize("dataset", ["co2", "macrodata"])
@pytest.mark.parametrize(
    "regressor",
    [
        RandomForestRegressor(n_estimators=20, random_state=0),
        KNeighborsRegressor(n_neighbors=5),
    ],
    ids=["forest", "knn"],
)
def test_revin_regressor_trending_real_series_trees_far_worse_raw_far_better_with_revin(
    dataset, regressor
):
    """Check on the shipped trending series: raw >> naive >> RevIN, with margins."""
    datasets = pytest.importorskip("sklearn_revin.datasets")
    if dataset == "co2":
        series, window, horizon, kwargs = datasets.load_co2(), 24, 12, {}
    else:
        columns = ["realgdp", "realcons", "realinv", "unemp"]
        series = datasets.load_macrodata()[columns]
        window, horizon = 12, 4
        kwargs = {"n_variates": 4, "target_variates": 0}

    naive, raw, revin = _forecast_errors(series, window, horizon, regressor, **kwargs)

    # Measured (forest): co2 raw 14x naive, RevIN 0.04x; macrodata 180x and 0.33x.
    assert raw > 5 * naive
    assert revin < 0.6 * naive
    assert revin < raw / 50


def test_revin_regressor_can_hurt_on_a_stationary_real_series():
    """Check the documented caveat: on El Nino, RevIN makes Ridge worse."""
    datasets = pytest.importorskip("sklearn_revin.datasets")
    naive, raw, revin = _forecast_errors(datasets.load_elnino(), 24, 12, Ridge())
    # Measured: raw 1.35, RevIN 1.58, naive 9.09. Both beat naive; RevIN loses.
    assert raw < revin
    assert revin > 1.1 * raw
    assert revin < naive


# ------------------------------------- RevINTransformer.normalize_with


@pytest.mark.parametrize("variates", [None, [0], [2, 0]])
@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_revin_transformer_normalize_with_matches_formula_and_inverts(
    global_random_seed, variates, layout
):
    """Check normalize_with against NumPy and as the inverse of inverse_transform."""
    rng = np.random.RandomState(global_random_seed)
    gamma, beta = np.array([1.5, -0.7, 0.3]), np.array([0.1, 0.0, -2.0])
    revin = RevINTransformer(n_variates=3, gamma=gamma, beta=beta, device="cpu")
    X = rng.normal(loc=50, scale=3, size=(7, 3 * 5))
    revin.fit(rng.normal(size=(2, 3 * 5)))  # other data: its statistics are unused
    statistics = revin.instance_statistics(X)
    selected = [0, 1, 2] if variates is None else variates
    Y = rng.normal(loc=50, scale=3, size=(7, len(selected), 4))
    Y_in = Y.reshape(7, -1) if layout == "2d" else Y

    Y_z = revin.normalize_with(Y_in, statistics, variates=variates)

    mean, scale = numpy_statistics(X, 3)
    expected = (Y - mean[:, selected, None]) / scale[:, selected, None]
    expected = expected * gamma[selected, None] + beta[selected, None]
    assert_allclose(Y_z, expected.reshape(Y_in.shape), rtol=1e-10)
    back = revin.inverse_transform(Y_z, statistics=statistics, variates=variates)
    assert_allclose(back, Y_in, rtol=1e-12)


def test_revin_transformer_normalize_with_own_statistics_is_transform():
    """Check that normalizing X with its own statistics is transform(X)."""
    rng = np.random.RandomState(0)
    X = rng.normal(loc=-20, scale=4, size=(6, 10))
    revin = RevINTransformer(n_variates=2, gamma=[2.0, 0.5]).fit(X)
    assert_allclose(
        revin.normalize_with(X, revin.instance_statistics(X)), revin.transform(X)
    )
    assert_allclose(revin.normalize_with(X), revin.transform(X))  # fitted statistics


def test_revin_transformer_normalize_with_row_mismatch_is_an_error():
    """Check that statistics for other rows are refused, not broadcast."""
    revin = RevINTransformer().fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match=re.escape("X has 2 instance(s) (rows)")):
        revin.normalize_with(np.ones((2, 2)))


@pytest.mark.parametrize("tensor", [False, True], ids=["numpy", "tensor"])
@pytest.mark.parametrize(
    ("gamma", "beta"), [(None, None), ([2.0, -0.5], [1.0, -3.0])], ids=["1-0", "affine"]
)
def test_revin_transformer_normalize_with_float32_far_from_zero_is_accurate(
    global_random_seed, tensor, gamma, beta
):
    """Check float32 normalize_with and its inverse against a float64 reference.

    Windows around 1e4 with std 0.1: a float32 mean is off by up to half its
    last unit (5e-4), 5e-3 in units of the std; the statistics are kept in
    float64 and the targets are normalized as accurately as transform.
    """
    rng = np.random.RandomState(global_random_seed)
    X = (1e4 + 0.1 * rng.normal(size=(300, 2 * 48))).astype(np.float32)
    Y = (1e4 + 0.1 * rng.normal(size=(300, 2 * 12))).astype(np.float32)
    revin = RevINTransformer(n_variates=2, gamma=gamma, beta=beta).fit(X)
    reference = clone(revin).fit(X.astype(np.float64))
    statistics_64 = reference.instance_statistics(X.astype(np.float64))
    expected = reference.normalize_with(Y.astype(np.float64), statistics_64)

    def as_input(values):
        return torch.from_numpy(values) if tensor else values

    statistics = revin.instance_statistics(as_input(X))
    Y_z = revin.normalize_with(as_input(Y), statistics)
    assert Y_z.dtype == (torch.float32 if tensor else np.float32)
    Y_z = np.asarray(Y_z)
    assert np.abs(Y_z - expected).max() < 1e-4
    assert np.abs(revin.normalize_with(Y) - expected).max() < 1e-4  # fitted statistics
    transform_error = np.abs(revin.transform(X) - reference.transform(X)).max()
    assert np.abs(Y_z - expected).max() < 10 * max(transform_error, 1e-7)

    # The inverse of float32 values is float32: the mean in float32 and the
    # result each round once, 1.5 units in the last place at most (measured 1.0).
    back = np.asarray(revin.inverse_transform(as_input(Y_z), statistics=statistics))
    back_64 = reference.inverse_transform(
        Y_z.astype(np.float64), statistics=statistics_64
    )
    unit = np.spacing(np.abs(back_64).astype(np.float32))
    assert np.all(np.abs(back - back_64) <= 1.5 * unit)
    assert np.all(np.abs(back - Y) <= 2 * np.spacing(np.abs(Y)))


def test_revin_regressor_float32_targets_are_normalized_accurately():
    """Check that float32 windows far from zero give the regressor float64's targets."""

    class TargetRecordingRidge(Ridge):
        def fit(self, X, y, sample_weight=None):
            self.seen_y_ = np.array(y, dtype=np.float64)
            return super().fit(X, y, sample_weight=sample_weight)

    rng = np.random.RandomState(0)
    series = 1e4 + 0.02 * np.cumsum(rng.normal(size=(400, 2)), axis=0)
    X, Y = make_windows(series.astype(np.float32), 24, 4)
    model = RevINRegressor(TargetRecordingRidge(), n_variates=2)
    seen_32 = [r.seen_y_ for r in clone(model).fit(X, Y).regressors_]
    fitted_64 = clone(model).fit(X.astype(np.float64), Y.astype(np.float64))
    seen_64 = [r.seen_y_ for r in fitted_64.regressors_]
    for y_32, y_64 in zip(seen_32, seen_64, strict=True):
        assert np.abs(y_32 - y_64).max() < 1e-4


# ---------------------------------------- the long-horizon benchmark's data


def test_revin_regressor_scale_beats_uniform_on_a_slice_of_etth2(public_data):
    """Check on real data that "scale" fits what a RevIN model fits, by a margin.

    The transformer loads of ETTh2 (read from ../shared/data) hold long
    constant stretches: the windows there have their scale at the eps floor and
    normalized targets in the hundreds, which dominate a uniformly weighted fit
    (see benchmarks/bench_ltsf.py for the full protocol). Here: the last 2,640
    hours of the training months, standardized on them, 336 steps in, 96 out,
    the next 800 hours as test. Measured: MSE 0.115 ("scale") and 1.16
    ("uniform"); the naive last value 0.216.
    """
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(public_data("ETTh2.csv"))
    values = frame.iloc[:, 1:].to_numpy(dtype=np.float64)
    train, test_end = slice(6000, 8640), 8640 + 800
    mean, std = values[train].mean(axis=0), values[train].std(axis=0)
    data = (values - mean) / std
    X_train, Y_train = make_windows(data[train], 336, 96)
    X_test, Y_test = make_windows(data[8640 - 336 : test_end], 336, 96)
    errors = {}
    for window_weights in ("scale", "uniform"):
        model = RevINRegressor(
            Ridge(),
            n_variates=7,
            channel_independent=True,
            window_weights=window_weights,
        ).fit(X_train, Y_train)
        errors[window_weights] = np.mean((model.predict(X_test) - Y_test) ** 2)
    naive = np.repeat(np.asarray(X_test).reshape(-1, 7, 336)[:, :, -1:], 96, axis=2)
    naive_error = np.mean((naive.reshape(len(X_test), -1) - Y_test) ** 2)
    assert errors["scale"] < 0.25 * errors["uniform"]
    assert errors["scale"] < naive_error


# ------------------------- scale-free window weights and window statistics (issue 23)


def _series_steps_by_loop(X, groups, seasonality=1):
    """Each window's series' mean |x[t] - x[t - m]|, averaged over its windows."""
    per_series = {}
    for row, group in zip(X, groups, strict=True):
        lags = range(seasonality, len(row))
        step = sum(abs(row[t] - row[t - seasonality]) for t in lags) / len(lags)
        per_series.setdefault(group, []).append(step)
    return np.array([np.mean(per_series[group]) for group in groups])


def _two_series_panel(rng, factor=1.0, shift=0.0):
    X1, Y1 = make_windows(trending_series(rng, 80, 1), 12, 4)
    X2, Y2 = make_windows(trending_series(rng, 80, 1), 12, 4)
    X = np.vstack([X1, factor * X2 + shift])
    Y = np.vstack([Y1, factor * Y2 + shift])
    groups = np.repeat(["first", "second"], [len(X1), len(X2)])
    return X, Y, groups


@pytest.mark.parametrize("seasonality", [1, 5])
@pytest.mark.parametrize("gamma", [1.0, -2.5])
def test_revin_regressor_scale_free_weights_divide_by_the_series_seasonal_step(
    global_random_seed, gamma, seasonality
):
    """Check "scale_free": scale / (|gamma| * series' mean |lag-m step|), mean one."""
    rng = np.random.RandomState(global_random_seed)
    X, Y, groups = _two_series_panel(rng, factor=40.0, shift=7.0)
    model = RevINRegressor(
        WeightRecordingRidge(),
        revin=RevINTransformer(gamma=[gamma]),
        window_weights="scale_free",
        seasonality=seasonality,
    ).fit(X, Y, groups=groups)
    _, scale = numpy_statistics(X, 1)
    steps = _series_steps_by_loop(X, groups, seasonality)
    expected = scale[:, 0] / (abs(gamma) * steps)
    assert_allclose(model.regressor_.seen_sample_weight_, expected / expected.mean())
    assert model.window_weights_ == "scale_free"


def test_revin_regressor_scale_free_weights_of_a_tiny_panel_by_hand():
    """Check the weights of two windows of two series, worked out by hand.

    Series "a", window [0, 1, 3, 4]: steps at lag 2 are |3 - 0| = 3 and
    |4 - 1| = 3, so D = 3; the window's variance is (4 + 1 + 1 + 4) / 4 =
    2.5. Series "b", window [10, 10, 30, 50]: lag-2 steps 20 and 40, D = 30;
    mean 25, variance (225 + 225 + 25 + 625) / 4 = 275. Weights sqrt(2.5) / 3
    and sqrt(275) / 30, divided by their mean.
    """
    X = np.array([[0.0, 1.0, 3.0, 4.0], [10.0, 10.0, 30.0, 50.0]])
    model = RevINRegressor(
        WeightRecordingRidge(), window_weights="scale_free", seasonality=2
    ).fit(X, np.array([5.0, 60.0]), groups=["a", "b"])
    raw = np.array([np.sqrt(2.5) / 3, np.sqrt(275.0) / 30])
    assert_allclose(model.regressor_.seen_sample_weight_, raw / raw.mean())


@given(
    st.floats(0.05, 1e4),  # smaller: windows' variances near RevIN's eps
    st.floats(-1e4, 1e4),
    st.integers(1, 11),
    st.booleans(),
)
@settings(max_examples=30, deadline=None)
def test_revin_regressor_scale_free_weights_ignore_each_series_level_and_scale(
    factor, shift, seasonality, negative
):
    """Check that the weights are invariant to one series' level and scale."""
    factor = -factor if negative else factor
    X, Y, groups = _two_series_panel(np.random.RandomState(0))
    moved_X, moved_Y, _ = _two_series_panel(np.random.RandomState(0), factor, shift)
    model = RevINRegressor(
        WeightRecordingRidge(), window_weights="scale_free", seasonality=seasonality
    )
    reference = clone(model).fit(X, Y, groups=groups).regressor_.seen_sample_weight_
    moved = model.fit(moved_X, moved_Y, groups=groups).regressor_.seen_sample_weight_
    assert_allclose(moved, reference, rtol=1e-6)


def test_revin_regressor_scale_free_window_shorter_than_the_season_is_an_error():
    """Check that a window of no more than seasonality steps names both."""
    X, Y = make_windows(np.arange(60.0), 24, 1)
    model = RevINRegressor(window_weights="scale_free", seasonality=24)
    with pytest.raises(ValueError, match=r"seasonality=24 .*at least 25 steps; got "):
        model.fit(X, Y, groups=np.arange(len(X)) % 2)
    with pytest.raises(ValueError, match=r"got windows of 24 step\(s\)"):
        model.fit(X, Y)  # one series
    RevINRegressor(window_weights="scale", seasonality=24).fit(X, Y)  # unused


@pytest.mark.parametrize("seasonality", [0, -1, 2.5])
def test_revin_regressor_seasonality_must_be_a_positive_int(seasonality):
    """Check the parameter's validation."""
    X, Y = make_windows(np.arange(60.0), 12, 1)
    with pytest.raises(ValueError, match="'seasonality' parameter"):
        RevINRegressor(seasonality=seasonality).fit(X, Y)


def test_revin_regressor_auto_without_groups_is_scale(global_random_seed):
    """Check that one series (no groups) keeps the weights and forecasts of "scale".

    The single-series results (ETT, RLinear) do not change with the panel
    weights; "scale_free" on one series weighs by the window's scale,
    unsquared.
    """
    rng = np.random.RandomState(global_random_seed)
    X, Y = make_windows(trending_series(rng, 100, 2), 10, 3)
    fitted = {
        weights: RevINRegressor(
            WeightRecordingRidge(), n_variates=2, window_weights=weights
        ).fit(X, Y)
        for weights in ("scale", "scale_free", "auto")
    }
    for ours, reference in zip(
        fitted["auto"].regressors_, fitted["scale"].regressors_, strict=True
    ):
        assert_allclose(ours.seen_sample_weight_, reference.seen_sample_weight_)
    assert_allclose(fitted["auto"].predict(X), fitted["scale"].predict(X))
    assert fitted["auto"].window_weights_ == "scale"
    _, scale = numpy_statistics(X, 2)
    for k, regressor in enumerate(fitted["scale_free"].regressors_):
        expected = scale[:, k] / scale[:, k].mean()
        assert_allclose(regressor.seen_sample_weight_, expected)


def test_revin_regressor_auto_with_groups_is_scale_free(global_random_seed):
    """Check that "auto" weighs by series when fit is given groups."""
    rng = np.random.RandomState(global_random_seed)
    X, Y, groups = _two_series_panel(rng, factor=1000.0)
    auto = RevINRegressor(Ridge()).fit(X, Y, groups=groups)
    scale_free = RevINRegressor(Ridge(), window_weights="scale_free")
    assert auto.window_weights_ == "scale_free"
    assert_allclose(auto.predict(X), scale_free.fit(X, Y, groups=groups).predict(X))
    knn = RevINRegressor(KNeighborsRegressor()).fit(X, Y, groups=groups)
    assert knn.window_weights_ == "uniform"


@given(st.floats(1e-2, 1e4), st.floats(-1e4, 1e4))
@settings(max_examples=25)
def test_revin_regressor_scale_free_fit_ignores_the_level_of_each_series(factor, shift):
    """Check that rescaling one series of a panel leaves the other's forecast.

    Multiplying the second series by ``factor`` and shifting it changes
    nothing in normalized space nor in its "scale_free" weights, so the first
    series' forecast stays.
    """
    rng = np.random.RandomState(0)
    X, Y, groups = _two_series_panel(rng)
    moved_X, moved_Y, _ = _two_series_panel(np.random.RandomState(0), factor, shift)
    first = groups == "first"
    model = RevINRegressor(Ridge(alpha=1.0), window_weights="scale_free")
    reference = model.fit(X, Y, groups=groups).predict(X[first])
    moved = clone(model).fit(moved_X, moved_Y, groups=groups).predict(X[first])
    assert_allclose(moved, reference, rtol=1e-6, atol=1e-6 * np.abs(reference).max())


def test_revin_regressor_scale_weights_let_the_highest_series_dominate():
    """Check the problem "scale_free" solves: with "scale", a series 1,000 times
    higher changes the other series' forecast."""
    rng = np.random.RandomState(0)
    X, Y, groups = _two_series_panel(rng)
    moved_X, moved_Y, _ = _two_series_panel(np.random.RandomState(0), 1000.0)
    first = groups == "first"
    model = RevINRegressor(Ridge(alpha=1.0), window_weights="scale")
    reference = model.fit(X, Y).predict(X[first])
    moved = clone(model).fit(moved_X, moved_Y).predict(X[first])
    assert not np.allclose(moved, reference, rtol=1e-3)


def test_revin_regressor_scale_free_gives_a_constant_series_finite_weights():
    """Check the floor: a series that never moves has finite weights."""
    X = np.vstack([np.full((3, 8), 3.0), np.sin(np.arange(24.0)).reshape(3, 8)])
    groups = [0, 0, 0, 1, 1, 1]
    model = RevINRegressor(WeightRecordingRidge(), window_weights="scale_free")
    seen = model.fit(X, np.arange(6.0), groups=groups).regressor_.seen_sample_weight_
    assert np.all(np.isfinite(seen))
    assert np.all(seen > 0)


def test_revin_regressor_groups_of_the_wrong_shape_is_an_error():
    """Check that groups must hold one id per window."""
    X, Y = make_windows(np.arange(40.0), 5, 1)
    with pytest.raises(
        ValueError, match=r"one series id per window of X: shape \(35,\)"
    ):
        RevINRegressor().fit(X, Y, groups=np.zeros(3))


def test_revin_regressor_groups_with_metadata_routing(global_random_seed):
    """Check that groups weighs the windows with routing on, as with it off."""
    import sklearn

    rng = np.random.RandomState(global_random_seed)
    X, Y, groups = _two_series_panel(rng, factor=300.0)
    reference = RevINRegressor(Ridge()).fit(X, Y, groups=groups).predict(X)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = RevINRegressor(Ridge()).fit(X, Y, groups=groups)
    assert routed.window_weights_ == "scale_free"
    assert_allclose(routed.predict(X), reference)


def test_revin_regressor_scale_free_needs_sample_weight():
    """Check that "scale_free" with a regressor without sample_weight says so."""
    X, Y = make_windows(np.arange(40.0), 5, 1)
    with pytest.raises(ValueError, match=r"window_weights='scale_free'.*KNeighbors"):
        RevINRegressor(KNeighborsRegressor(), window_weights="scale_free").fit(X, Y)


@pytest.mark.parametrize("channel_independent", [False, True])
def test_revin_regressor_window_statistics_are_extra_features(
    global_random_seed, channel_independent
):
    """Check window_statistics: each row ends with its window's mean and scale."""
    rng = np.random.RandomState(global_random_seed)
    X, Y = make_windows(trending_series(rng, 60, 2), 6, 2)

    class InputRecordingRidge(Ridge):
        def fit(self, X, y, sample_weight=None):
            self.seen_X_ = X
            return super().fit(X, y, sample_weight=sample_weight)

        def predict(self, X):
            self.predicted_X_ = X
            return super().predict(X)

    model = RevINRegressor(
        InputRecordingRidge(),
        n_variates=2,
        channel_independent=channel_independent,
        window_statistics=True,
    ).fit(X, Y)
    plain = RevINRegressor(
        Ridge(), n_variates=2, channel_independent=channel_independent
    ).fit(X, Y)
    mean, scale = numpy_statistics(X, 2)
    seen = model.regressors_[0].seen_X_
    if channel_independent:
        expected = np.stack([mean.ravel(), scale.ravel()], axis=1)
    else:
        expected = np.hstack([mean, scale])
    assert_allclose(seen[:, -2:] if channel_independent else seen[:, -4:], expected)
    n_plain = plain.regressors_[0].n_features_in_
    assert seen.shape[1] == n_plain + expected.shape[1]
    model.predict(X[:5])
    assert_allclose(
        model.regressors_[0].predicted_X_,
        seen[: len(model.regressors_[0].predicted_X_)],
    )


# ---------------------------------------- layouts from names, passthrough, routing


def _macro_windows(window=12, horizon=4, **kwargs):
    datasets = pytest.importorskip("sklearn_revin.datasets")
    columns = ["realgdp", "realcons", "realinv", "unemp"]
    frame = datasets.load_macrodata()[columns]
    return make_windows(frame, window, horizon, **kwargs)


def test_revin_regressor_reads_the_target_variate_from_y_names():
    """Check the macro case: y of realgdp only is not read as all four variates.

    Non-regression test: ``make_windows(frame, 12, 4, target="realgdp")`` then
    ``RevINRegressor(rf, n_variates=4)`` forecast the wrong variates silently.
    """
    X, Y = _macro_windows(target="realcons")
    inferred = RevINRegressor(Ridge(), n_variates=4).fit(X, Y)
    without_n_variates = RevINRegressor(Ridge()).fit(X, Y)
    explicit = RevINRegressor(Ridge(), n_variates=4, target_variates=1).fit(
        X.to_numpy(), Y.to_numpy()
    )
    assert inferred.target_variates_ == [1]
    assert without_n_variates.revin_.n_variates_ == 4
    assert_allclose(inferred.predict(X), explicit.predict(X.to_numpy()))
    assert_allclose(without_n_variates.predict(X), explicit.predict(X.to_numpy()))


def test_revin_regressor_target_variates_by_name():
    """Check that target_variates takes variate names from X's column names."""
    X, Y = _macro_windows(target=["unemp", "realgdp"])
    by_name = RevINRegressor(Ridge(), target_variates=["unemp", "realgdp"]).fit(X, Y)
    by_index = RevINRegressor(Ridge(), n_variates=4, target_variates=[3, 0]).fit(
        X.to_numpy(), Y.to_numpy()
    )
    assert by_name.target_variates_ == [3, 0]
    assert_allclose(by_name.predict(X), by_index.predict(X.to_numpy()))


@pytest.mark.parametrize(
    ("target_variates", "message"),
    [
        ("realgdp", "but y's columns hold ['realcons']"),
        ([1, 0], "but y's columns hold ['realcons']"),
        ("gdp", "target_variates ['gdp'] are not variates of X"),
    ],
)
def test_revin_regressor_y_names_contradicting_targets_are_an_error(
    target_variates, message
):
    """Check that a y whose blocks are not the target variates' is refused."""
    X, Y = _macro_windows(target="realcons")
    model = RevINRegressor(Ridge(), target_variates=target_variates)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit(X, Y)


def test_revin_regressor_target_names_without_variate_names_is_an_error():
    """Check that names in target_variates need X with variate names."""
    X, Y = _macro_windows(target="realcons")
    model = RevINRegressor(Ridge(), n_variates=4, target_variates="realcons")
    with pytest.raises(ValueError, match="X has no variate names"):
        model.fit(X.to_numpy(), Y.to_numpy())


def test_revin_regressor_predict_carries_the_frame_index():
    """Check that frames in (X and y) give frames out, with X's index."""
    pd = pytest.importorskip("pandas")
    X, Y = _macro_windows(target="realgdp")
    model = RevINRegressor(Ridge()).fit(X[:150], Y[:150])
    predicted = model.predict(X[150:])
    assert isinstance(predicted, pd.DataFrame)
    assert predicted.index.equals(X.index[150:])
    assert list(predicted.columns) == list(Y.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        assert isinstance(model.predict(X[150:].to_numpy()), np.ndarray)
    series = model.fit(X, Y.iloc[:, 0]).predict(X[-3:])
    assert isinstance(series, pd.Series)
    assert series.name == "realgdp[t+1]"
    # the window after the data, from horizon=0, with no feature-name warning
    X_last, _ = _macro_windows(horizon=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecast = model.predict(X_last.iloc[[-1]])
    assert forecast.index[0] == X_last.index[-1]


def test_revin_regressor_passthrough_equals_hand_built_model():
    """Check that passthrough columns reach the regressor unnormalized, in place."""
    rng = np.random.RandomState(0)
    series = trending_series(rng, 120, 1)[:, 0]
    X_windows, y = make_windows(series, 8, 1)
    exog = rng.standard_normal((len(y), 2)) * 100
    X = np.column_stack([exog[:, :1], X_windows, exog[:, 1:]])
    model = RevINRegressor(
        LinearRegression(), passthrough=[0, -1], window_weights="uniform"
    ).fit(X, y[:, 0])

    mean, scale = numpy_statistics(X_windows, 1)
    Z = np.column_stack([exog[:, :1], (X_windows - mean) / scale, exog[:, 1:]])
    reference = LinearRegression().fit(Z, ((y - mean) / scale)[:, 0])
    # Normalized windows sum to zero: the coefficients are not identifiable
    # (LinearRegression's null direction is rounding noise), its fit on Z is.
    assert_allclose(
        model.regressor_.predict(Z), reference.predict(Z), rtol=1e-9, atol=1e-10
    )
    expected = reference.predict(Z) * scale[:, 0] + mean[:, 0]
    assert_allclose(model.predict(X), expected, rtol=1e-9)


def test_revin_regressor_step_order_newest_first_with_center_last():
    """Check that newest-first lags with center="last" subtract the newest value."""
    rng = np.random.RandomState(0)
    X, y = make_windows(trending_series(rng, 100, 1)[:, 0], 6, 1)
    newest_first = np.ascontiguousarray(X[:, ::-1])
    revin = RevINTransformer(center="last")
    oldest = RevINRegressor(LinearRegression(), revin=revin).fit(X, y)
    newest = RevINRegressor(
        LinearRegression(), revin=revin, step_order="newest_first"
    ).fit(newest_first, y)
    assert_allclose(newest.predict(newest_first), oldest.predict(X), rtol=1e-9)


def test_revin_regressor_conflicting_step_order_is_an_error():
    """Check that step_order set on the regressor and on revin must agree."""
    revin = RevINTransformer(step_order="newest_first")
    model = RevINRegressor(revin=revin, step_order="oldest_first")
    with pytest.raises(ValueError, match="set one of them only"):
        model.fit(np.zeros((4, 3)), np.zeros(4))


def test_revin_regressor_routes_sample_weight_with_metadata_routing():
    """Check cross_validate(params={"sample_weight": w}) with routing on."""
    import sklearn
    from sklearn.model_selection import KFold, cross_validate

    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 120, 1)[:, 0], 8, 1)
    y, weights = Y[:, 0], rng.uniform(0.1, 3, size=len(Y))
    cv = KFold(3)
    with sklearn.config_context(enable_metadata_routing=True):
        # score unweighted, as by hand below: scikit-learn 1.6 routes the
        # weights to the estimator's score too unless told not to.
        requested = RevINRegressor(
            Ridge().set_fit_request(sample_weight=True)
        ).set_score_request(sample_weight=False)
        routed = cross_validate(
            requested, X, y, cv=cv, params={"sample_weight": weights}
        )
        with pytest.raises(ValueError, match="sample_weight"):
            cross_validate(
                RevINRegressor(Ridge()),
                X,
                y,
                cv=cv,
                params={"sample_weight": weights},
            )
    by_hand = []
    for train, test in cv.split(X):
        model = RevINRegressor(Ridge()).fit(
            X[train], y[train], sample_weight=weights[train]
        )
        by_hand.append(model.score(X[test], y[test]))
    unweighted = cross_validate(RevINRegressor(Ridge()), X, y, cv=cv)["test_score"]
    assert_allclose(routed["test_score"], by_hand)
    assert not np.allclose(routed["test_score"], unweighted)


def test_revin_regressor_pickle_does_not_grow_with_the_training_windows():
    """Check that a fitted model keeps no per-window statistics of its training."""
    rng = np.random.RandomState(0)
    small = RevINRegressor(Ridge()).fit(*make_windows(rng.randn(200), 24, 1))
    large = RevINRegressor(Ridge()).fit(*make_windows(rng.randn(20_000), 24, 1))
    assert abs(len(pickle.dumps(large)) - len(pickle.dumps(small))) < 200
    with pytest.raises(ValueError, match="holds no statistics of its training"):
        large.revin_.inverse_transform(np.zeros((3, 1)))


def test_revin_regressor_reversed_lag_matrix_equals_its_copy():
    """Check a newest-first lag matrix built as a reversed view, as skforecast's.

    torch cannot view negative strides: fit and predict must copy where needed
    and give the same forecast as for a contiguous copy.
    """
    rng = np.random.RandomState(0)
    series = np.cumsum(rng.normal(size=200)) + 50
    windows = np.lib.stride_tricks.sliding_window_view(series, 9)
    X_reversed, y = windows[:, 7::-1], windows[:, 8][::-1]
    assert X_reversed.strides[1] < 0
    assert y.strides[0] < 0
    model = RevINRegressor().fit(X_reversed, y)
    reference = RevINRegressor().fit(X_reversed.copy(), y.copy())
    assert_allclose(model.predict(X_reversed), reference.predict(X_reversed.copy()))


def test_revin_regressor_channel_independent_puts_passthrough_beside_each_window():
    """Check that each variate's row carries the passthrough columns, raw."""
    rng = np.random.RandomState(0)
    series = trending_series(rng, 120, 2)
    X_windows, Y = make_windows(series, 6, 1)
    exog = 50 * rng.standard_normal((len(Y), 1))
    X = np.column_stack([X_windows, exog])
    model = RevINRegressor(
        LinearRegression(),
        n_variates=2,
        passthrough=[-1],
        channel_independent=True,
        window_weights="uniform",
    ).fit(X, Y)

    mean, scale = numpy_statistics(X_windows, 2)
    windows = X_windows.reshape(-1, 2, 6)
    rows = np.concatenate(
        [
            (windows - mean[..., None]) / scale[..., None],
            np.repeat(exog, 2, 1)[..., None],
        ],
        axis=2,
    ).reshape(-1, 7)
    reference = LinearRegression().fit(rows, ((Y - mean) / scale).ravel())
    # Normalized windows sum to zero: coefficients not identifiable, fits are.
    fitted = model.regressors_[0].predict(rows)
    assert_allclose(fitted, reference.predict(rows), rtol=1e-9, atol=1e-12)
    expected = reference.predict(rows).reshape(-1, 2) * scale + mean
    assert_allclose(model.predict(X), expected, rtol=1e-9)


def test_revin_regressor_sample_weight_is_checked_as_scikit_learn_does():
    """Check a scalar weight (all alike) and the errors for a wrong shape."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(trending_series(rng, 60, 1)[:, 0], 8, 1)
    y = Y[:, 0]
    alike = RevINRegressor(Ridge()).fit(X, y, sample_weight=2.0).predict(X)
    twos = np.full(len(y), 2.0)
    expected = RevINRegressor(Ridge()).fit(X, y, sample_weight=twos).predict(X)
    assert_allclose(alike, expected, rtol=1e-12)
    with pytest.raises(ValueError, match=re.escape(f"expected ({len(y)},)")):
        RevINRegressor(Ridge()).fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="1D array or scalar"):
        RevINRegressor(Ridge()).fit(X, y, sample_weight=np.ones((len(y), 2)))


@pytest.mark.parametrize("rows", [1, 7, 50, 64])
def test_predict_in_chunks_of_rows_equals_one_chunk(monkeypatch, rows):
    """Check the forecast written chunk by chunk into one output is the same."""
    rng = np.random.default_rng(0)
    series = rng.normal(size=(120, 2)).cumsum(axis=0)
    X, Y = make_windows(series, window=12, horizon=3)
    model = RevINRegressor(Ridge(), n_variates=2, channel_independent=True).fit(X, Y)
    expected = model.predict(X)
    monkeypatch.setattr(_sufficient_statistics, "rows_per_chunk", lambda n: rows)
    got = model.predict(X)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
