"""Behaviour of RevINTransformer: statistics, layouts, inverse, dtypes, errors."""

import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from conftest import numpy_revin, strided_views
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sklearn_revin import InstanceStatistics, RevINTransformer


def _random_windows(rng, n_instances=8, n_variates=3, n_steps=16, dtype=np.float64):
    offsets = rng.uniform(-100, 100, size=(n_instances, n_variates, 1))
    scales = rng.uniform(0.1, 10, size=(n_instances, n_variates, 1))
    noise = rng.standard_normal((n_instances, n_variates, n_steps))
    return (offsets + scales * noise).astype(dtype)


def _as_2d(windows):
    return windows.reshape(windows.shape[0], -1)


# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize("layout", ["2d", "3d"])
@pytest.mark.parametrize("affine", [False, True])
def test_revin_transformer_matches_numpy_formula(global_random_seed, layout, affine):
    """Check the output and statistics against a plain NumPy formula."""
    rng = np.random.RandomState(global_random_seed)
    windows = _random_windows(rng)
    gamma, beta = ([1.5, -0.7, 0.3], [0.1, 0.0, -2.0]) if affine else (None, None)
    expected, mean, scale = numpy_revin(windows, gamma, beta)
    X = windows if layout == "3d" else _as_2d(windows)

    revin = RevINTransformer(n_variates=3, gamma=gamma, beta=beta)
    Z = revin.fit_transform(X)

    assert Z.shape == X.shape
    assert_allclose(Z.reshape(expected.shape), expected, rtol=1e-10, atol=1e-10)
    assert_allclose(revin.mean_, mean, rtol=1e-12)
    assert_allclose(revin.scale_, scale, rtol=1e-12)


def test_revin_transformer_2d_is_variate_major(global_random_seed):
    """Check that 2-D columns are read as n_steps of variate 0, then variate 1..."""
    rng = np.random.RandomState(global_random_seed)
    windows = _random_windows(rng, n_variates=2, n_steps=5)
    X = np.concatenate([windows[:, 0], windows[:, 1]], axis=1)

    revin = RevINTransformer(n_variates=2).fit(X)

    assert_allclose(revin.mean_, windows.mean(axis=-1))
    assert (revin.n_variates_, revin.n_steps_) == (2, 5)


def test_revin_transformer_default_is_one_variate_per_row():
    """Check that n_variates=None treats each 2-D row as one window."""
    X = np.array([[1.0, 2.0, 3.0, 10.0]])
    revin = RevINTransformer().fit(X)
    assert (revin.n_variates_, revin.n_steps_) == (1, 4)
    assert_allclose(revin.mean_, [[4.0]])


def test_revin_transformer_constant_window_round_trip_is_exact():
    """Check the inverse of windows with variance below eps (a flaw of the reference).

    The reference divides by the clamped scale but multiplies back by the
    unclamped one, so a near-constant window does not come back.
    """
    X = np.array(
        [[5.0, 5.0, 5.0, 5.0], [1.0, 1.0 + 1e-4, 1.0 - 1e-4, 1.0], [0.0, 0, 0, 0]]
    )
    revin = RevINTransformer()
    Z = revin.fit_transform(X)
    assert_allclose(revin.scale_[:, 0], np.sqrt(1e-5))
    assert_allclose(revin.inverse_transform(Z), X, rtol=1e-13, atol=1e-13)


def test_revin_transformer_zero_gamma_warns_and_stays_finite():
    """Check that gamma == 0 is used as +eps both ways, with a warning, not NaN."""
    rng = np.random.RandomState(0)
    X = _as_2d(_random_windows(rng, n_variates=3))
    revin = RevINTransformer(n_variates=3, gamma=[0.0, -1e-9, 2.0], eps=1e-5)

    with pytest.warns(UserWarning, match=re.escape("variate(s) [0, 1]")):
        Z = revin.fit_transform(X)

    assert_array_equal(revin.gamma_, [1e-5, -1e-5, 2.0])
    assert np.isfinite(Z).all()
    assert_allclose(revin.inverse_transform(Z), X, rtol=1e-9, atol=1e-9)


def test_revin_transformer_no_warning_for_regular_gamma():
    """Check that gamma with magnitudes >= eps is taken as given, silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        revin = RevINTransformer(gamma=[-0.5]).fit(np.ones((2, 3)))
    assert_array_equal(revin.gamma_, [-0.5])


def test_revin_transformer_nan_is_ignored_and_kept_in_place():
    """Check NaN handling: ignored in statistics, kept in place, not spreading."""
    X = np.array(
        [
            [1.0, np.nan, 3.0, 5.0],
            [np.nan] * 4,
            [2.0, 4.0, 6.0, 8.0],
        ]
    )
    revin = RevINTransformer()
    Z = revin.fit_transform(X)

    observed = np.array([1.0, 3.0, 5.0])
    expected_row = (observed - observed.mean()) / observed.std()
    assert_allclose(Z[0, [0, 2, 3]], expected_row)
    assert np.isnan(Z[0, 1])
    assert np.isnan(Z[1]).all()
    assert np.isnan(revin.mean_[1]).all()
    assert np.isnan(revin.scale_[1]).all()
    assert np.isfinite(Z[2]).all()
    assert_allclose(revin.mean_[[0, 2], 0], [3.0, 5.0])
    assert_allclose(revin.inverse_transform(Z), X)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("method", ["fit", "fit_transform", "transform", "stats"])
def test_revin_transformer_infinity_is_an_error(value, method):
    """Check that +/-inf raises a ValueError that says so, in every entry point."""
    X = np.array([[1.0, 2.0, 3.0], [1.0, value, 3.0]])
    revin = RevINTransformer().fit(np.zeros((2, 3)))
    call = {
        "fit": revin.fit,
        "fit_transform": revin.fit_transform,
        "transform": revin.transform,
        "stats": revin.instance_statistics,
    }[method]
    with pytest.raises(ValueError, match="infinity"):
        call(X)


def test_revin_transformer_float32_large_offset_is_accurate():
    """Check float32 accuracy for windows near 1e4 with std 0.1.

    The textbook shortcut E[x**2] - E[x]**2 is off by about 100 on such data;
    the package must stay within 1e-2 of the float64 result.
    """
    rng = np.random.RandomState(0)
    X = (1e4 + 0.1 * rng.standard_normal((200, 256))).astype(np.float32)
    reference, _, _ = numpy_revin(X.astype(np.float64)[:, None, :])

    Z = RevINTransformer().fit_transform(X)

    assert Z.dtype == np.float32
    assert np.abs(Z - reference[:, 0]).max() < 1e-2
    shortcut_variance = (X * X).mean(axis=1) - X.mean(axis=1) ** 2
    shortcut_scale = np.sqrt(np.maximum(shortcut_variance, 1e-5))[:, None]
    shortcut = (X - X.mean(axis=1, keepdims=True)) / shortcut_scale
    assert np.abs(shortcut - reference[:, 0]).max() > 1.0  # the test can tell


# -------------------------------------------------------------- round trips


@st.composite
def _round_trip_cases(draw):
    n_instances = draw(st.integers(1, 6))
    n_variates = draw(st.integers(1, 3))
    layout = draw(st.sampled_from(["2d", "3d"]))
    # One 2-D column (one variate of one step) is refused; see the test below.
    n_steps = draw(st.integers(2 if layout == "2d" and n_variates == 1 else 1, 24))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    offset = draw(st.floats(-1e6, 1e6))
    spread = draw(st.sampled_from([0.0, 1e-7, 1e-3, 1.0, 1e3]))
    gamma_values = st.one_of(
        st.just(0.0), st.sampled_from([1e-9, -1e-9]), st.floats(-5, 5)
    )
    gamma = draw(st.lists(gamma_values, min_size=n_variates, max_size=n_variates))
    beta = draw(st.lists(st.floats(-3, 3), min_size=n_variates, max_size=n_variates))
    nan_fraction = draw(st.sampled_from([0.0, 0.0, 0.2, 1.0]))

    rng = np.random.default_rng(seed)
    windows = offset + spread * rng.standard_normal((n_instances, n_variates, n_steps))
    windows[rng.random(windows.shape) < nan_fraction] = np.nan
    windows = windows.astype(dtype)
    X = windows if layout == "3d" else _as_2d(windows)
    return X, gamma, beta


@given(case=_round_trip_cases())
def test_revin_transformer_round_trip_property(case):
    """Check inverse_transform(fit_transform(X)) == X for random windows.

    Covers both layouts and dtypes, gamma of any sign including 0 and tiny
    values, constant and near-constant windows and NaN holes. The tolerance
    is the rounding of the two affine maps: it grows with the magnitude of X
    and with scale * |beta| / |gamma|, the conditioning of the inverse.
    """
    X, gamma, beta = case
    n_variates = X.shape[1] if X.ndim == 3 else len(gamma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tiny gamma
        revin = RevINTransformer(n_variates=n_variates, gamma=gamma, beta=beta)
        Z = revin.fit_transform(X)
    back = revin.inverse_transform(Z)

    assert back.dtype == X.dtype
    assert back.shape == X.shape
    assert_array_equal(np.isnan(back), np.isnan(X))
    unit = np.finfo(X.dtype).eps
    scale = np.nan_to_num(revin.scale_, nan=0.0).max()
    conditioning = np.max(
        (np.sqrt(revin.n_steps_) + np.abs(beta)) / np.abs(revin.gamma_)
    )
    magnitude = np.nan_to_num(np.abs(X), nan=0.0).max()
    atol = 32 * unit * (magnitude + scale * conditioning)
    assert_allclose(back, X, rtol=0, atol=atol, equal_nan=True)


# ---------------------------------------------------- transform and inverse


def test_revin_transformer_transform_uses_own_statistics_and_keeps_fitted_state():
    """Check that transform normalizes X by X's statistics and leaves fit's alone."""
    rng = np.random.RandomState(0)
    X_fit, X_new = _as_2d(_random_windows(rng, n_variates=1)), None
    X_new = _as_2d(_random_windows(rng, n_variates=1))
    revin = RevINTransformer().fit(X_fit)
    mean_before = revin.mean_.copy()

    Z_new = revin.transform(X_new)

    assert_array_equal(revin.mean_, mean_before)
    expected, _, _ = numpy_revin(X_new[:, None, :])
    assert_allclose(Z_new, expected[:, 0])


def test_revin_transformer_fit_transform_equals_fit_then_transform(global_random_seed):
    """Check fit_transform(X) == fit(X).transform(X) and the same stored statistics."""
    rng = np.random.RandomState(global_random_seed)
    X = _as_2d(_random_windows(rng))
    first = RevINTransformer(n_variates=3)
    second = RevINTransformer(n_variates=3)
    assert_allclose(first.fit_transform(X), second.fit(X).transform(X))
    assert_array_equal(first.mean_, second.mean_)
    assert_array_equal(first.scale_, second.scale_)


@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_revin_transformer_inverse_of_another_horizon(layout):
    """Check the inverse of a forecast with fewer steps than the input windows."""
    rng = np.random.RandomState(1)
    windows = _random_windows(rng, n_variates=2, n_steps=12)
    revin = RevINTransformer(n_variates=2, gamma=[2.0, 0.5], beta=[1.0, -1.0])
    revin.fit(windows if layout == "3d" else _as_2d(windows))
    forecast_z = rng.standard_normal((windows.shape[0], 2, 3))
    Y = forecast_z if layout == "3d" else _as_2d(forecast_z)

    back = revin.inverse_transform(Y)

    expected = (forecast_z - [[[1.0], [-1.0]]]) / [[[2.0], [0.5]]]
    expected = expected * revin.scale_[..., None] + revin.mean_[..., None]
    assert back.shape == Y.shape
    assert_allclose(back.reshape(expected.shape), expected)


@pytest.mark.parametrize("variates", [[0], [2], [2, 0]])
def test_revin_transformer_inverse_of_a_subset_of_variates(variates):
    """Check inverse_transform(..., variates=) picks those variates' statistics."""
    rng = np.random.RandomState(2)
    windows = _random_windows(rng, n_variates=3)
    gamma, beta = np.array([1.5, -0.7, 0.3]), np.array([0.1, 0.0, -2.0])
    revin = RevINTransformer(gamma=gamma, beta=beta).fit(windows)
    forecast_z = rng.standard_normal((windows.shape[0], len(variates) * 4))

    back = revin.inverse_transform(forecast_z, variates=variates)

    per_variate = forecast_z.reshape(len(forecast_z), len(variates), 4)
    expected = (per_variate - beta[variates][:, None]) / gamma[variates][:, None]
    expected = (
        expected * revin.scale_[:, variates, None] + revin.mean_[:, variates, None]
    )
    assert_allclose(back, _as_2d(expected))


def test_revin_transformer_inverse_with_statistics_of_new_data():
    """Check that instance_statistics(X_new) lets the inverse serve new windows."""
    rng = np.random.RandomState(3)
    X_train = _as_2d(_random_windows(rng, n_instances=10, n_variates=2))
    X_new = _as_2d(_random_windows(rng, n_instances=4, n_variates=2))
    revin = RevINTransformer(n_variates=2).fit(X_train)

    stats = revin.instance_statistics(X_new)
    Z_new = revin.transform(X_new)

    assert isinstance(stats, InstanceStatistics)
    assert stats.mean.shape == stats.scale.shape == (4, 2)
    _, mean, scale = numpy_revin(X_new.reshape(4, 2, -1))
    assert_allclose(stats.mean, mean)
    assert_allclose(stats.scale, scale)
    assert_allclose(revin.inverse_transform(Z_new, statistics=stats), X_new)
    mean_only, scale_only = stats
    assert_allclose(
        revin.inverse_transform(Z_new, statistics=(mean_only, scale_only)), X_new
    )


def test_revin_transformer_inverse_row_count_mismatch_is_an_error():
    """Check that Y with other rows than the statistics never broadcasts."""
    revin = RevINTransformer().fit(np.arange(12.0).reshape(3, 4))
    with pytest.raises(ValueError, match=r"2 instance\(s\).*3 instance\(s\)"):
        revin.inverse_transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"1 instance\(s\).*3 instance\(s\)"):
        revin.inverse_transform(np.zeros((1, 1)))


@pytest.mark.parametrize(
    ("Y_shape", "variates", "message"),
    [
        ((3, 5), None, "not a multiple of the 2 variate"),
        ((3, 3, 4), None, "holds 3 variate(s), but 2 were expected"),
        ((3, 2, 4), [1], "holds 2 variate(s), but 1 were expected"),
    ],
)
def test_revin_transformer_inverse_variate_mismatch_is_an_error(
    Y_shape, variates, message
):
    """Check that Y whose variates do not match raises a clear error."""
    revin = RevINTransformer(n_variates=2).fit(np.arange(24.0).reshape(3, 8))
    with pytest.raises(ValueError, match=re.escape(message)):
        revin.inverse_transform(np.zeros(Y_shape), variates=variates)


@pytest.mark.parametrize(
    ("variates", "message"),
    [
        ([2], "indices in [0, 2); got [2] out of range"),
        ([-1], "got [-1] out of range"),
        ([0, 0], "must not repeat"),
        ([], "non-empty sequence"),
        ([0.5], "integer variate indices"),
    ],
)
def test_revin_transformer_invalid_variates_are_errors(variates, message):
    """Check the validation of the variates argument."""
    revin = RevINTransformer(n_variates=2).fit(np.arange(24.0).reshape(3, 8))
    with pytest.raises(ValueError, match=re.escape(message)):
        revin.inverse_transform(np.zeros((3, 4)), variates=variates)


@pytest.mark.parametrize(
    ("statistics", "message"),
    [
        ((np.zeros((3, 1)), np.ones((3, 1))), "statistics.mean must have shape"),
        ((np.zeros((3, 2)), np.ones((2, 2))), "must have the same shape"),
        (np.zeros((3, 2)), "must be an InstanceStatistics"),
    ],
)
def test_revin_transformer_invalid_statistics_are_errors(statistics, message):
    """Check that statistics of the wrong shape or type are refused."""
    revin = RevINTransformer(n_variates=2).fit(np.arange(24.0).reshape(3, 8))
    with pytest.raises(ValueError, match=re.escape(message)):
        revin.inverse_transform(np.zeros((3, 4)), statistics=statistics)


# ------------------------------------------------------------ layout errors


def test_revin_transformer_width_not_divisible_is_an_error():
    """Check that a 2-D width that is not n_variates * n_steps is refused at fit."""
    with pytest.raises(ValueError, match=re.escape("X has 7 feature(s)")):
        RevINTransformer(n_variates=2).fit(np.zeros((3, 7)))


def test_revin_transformer_3d_n_variates_mismatch_is_an_error():
    """Check that n_variates must match the middle axis of 3-D input."""
    with pytest.raises(ValueError, match="n_variates=2, but 3-D X"):
        RevINTransformer(n_variates=2).fit(np.zeros((3, 4, 5)))


def test_revin_transformer_4d_input_is_an_error():
    """Check that input of more than three dimensions is refused."""
    with pytest.raises(ValueError, match=r"2-D .* or 3-D"):
        RevINTransformer().fit(np.zeros((2, 3, 4, 5)))


def test_revin_transformer_transform_with_another_layout_is_an_error():
    """Check that transform refuses windows of another length than at fit (3-D)."""
    revin = RevINTransformer().fit(np.zeros((2, 3, 8)))
    with pytest.raises(ValueError, match=re.escape("fitted on 3 variate(s) x 8")):
        revin.transform(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="X has 2 features"):
        revin.transform(np.zeros((2, 2, 8)))


def test_revin_transformer_unfitted_methods_raise_not_fitted():
    """Check that every method but fit needs a fitted transformer."""
    revin = RevINTransformer()
    for method in (revin.transform, revin.inverse_transform, revin.instance_statistics):
        with pytest.raises(NotFittedError):
            method(np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"gamma": [1.0, 2.0]}, "gamma must hold one value per variate, shape (1,)"),
        ({"beta": [[1.0, 2.0]]}, "beta must hold one value per variate"),
        ({"gamma": [np.nan]}, "gamma must be finite"),
        ({"beta": [np.inf]}, "beta must be finite"),
    ],
)
def test_revin_transformer_invalid_affine_parameters_are_errors(params, message):
    """Check that gamma and beta must be finite, one value per variate."""
    with pytest.raises(ValueError, match=re.escape(message)):
        RevINTransformer(**params).fit(np.zeros((2, 3)))


def test_revin_transformer_affine_parameters_accept_reference_shape():
    """Check that gamma and beta of shape (n_variates, 1), as in nn.RevIN, work."""
    gamma = torch.tensor([[2.0], [3.0]])
    revin = RevINTransformer(gamma=gamma, beta=np.zeros((2, 1))).fit(
        np.zeros((1, 2, 3))
    )
    assert_array_equal(revin.gamma_, [2.0, 3.0])
    assert revin.gamma_.shape == revin.beta_.shape == (2,)


@pytest.mark.parametrize("params", [{"eps": 0}, {"eps": -1.0}, {"n_variates": 0}])
def test_revin_transformer_invalid_parameters_are_errors(params):
    """Check that _parameter_constraints guards eps and n_variates."""
    with pytest.raises(ValueError, match="parameter of RevINTransformer"):
        RevINTransformer(**params).fit(np.zeros((2, 3)))


# ------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int64, np.float64),
        (np.int8, np.float64),
        (np.bool_, np.float64),
        (np.float16, np.float64),
    ],
)
def test_revin_transformer_output_dtype(dtype, expected):
    """Check float32 in gives float32 out, float64 float64, anything else float64."""
    X = (np.arange(12).reshape(3, 4) % 2).astype(dtype)
    revin = RevINTransformer()
    Z = revin.fit_transform(X)
    assert Z.dtype == expected
    assert revin.transform(X).dtype == expected
    assert revin.inverse_transform(Z).dtype == expected


# ---------------------------------------------------------- torch and copy


def test_revin_transformer_tensor_in_gives_tensor_out():
    """Check that tensors stay tensors, with their dtype, and match NumPy input."""
    rng = np.random.RandomState(4)
    windows = _random_windows(rng, dtype=np.float32)
    tensor = torch.from_numpy(windows.copy())
    revin = RevINTransformer()

    Z = revin.fit_transform(tensor)
    stats = revin.instance_statistics(tensor)
    back = revin.inverse_transform(Z, statistics=stats)

    assert isinstance(Z, torch.Tensor)
    assert Z.dtype == torch.float32
    assert isinstance(stats.mean, torch.Tensor)
    assert isinstance(back, torch.Tensor)
    assert isinstance(revin.mean_, np.ndarray)
    assert_allclose(Z.numpy(), RevINTransformer().fit_transform(windows))
    assert_allclose(back.numpy(), windows, rtol=1e-5, atol=1e-4)
    assert_array_equal(tensor.numpy(), windows)  # the input was not touched


def test_revin_transformer_integer_tensor_becomes_float64():
    """Check that an integer tensor is computed and returned as float64."""
    Z = RevINTransformer().fit_transform(torch.arange(6).reshape(2, 3))
    assert Z.dtype == torch.float64


def test_revin_transformer_tensor_width_is_checked():
    """Check the n_features_in_ contract for tensors, as for arrays."""
    revin = RevINTransformer().fit(torch.zeros(2, 4))
    assert revin.n_features_in_ == 4
    with pytest.raises(ValueError, match="X has 3 features, but RevINTransformer"):
        revin.transform(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="0 sample"):
        revin.transform(torch.zeros(0, 4))


@pytest.mark.parametrize("order", ["C", "F"])
def test_revin_transformer_copy_false_normalizes_in_place(order):
    """Check that copy=False writes into a writable float array and returns it."""
    rng = np.random.RandomState(5)
    X = np.asarray(_as_2d(_random_windows(rng, n_variates=1)), order=order)
    expected = RevINTransformer().fit_transform(X)

    revin = RevINTransformer(copy=False)
    Z = revin.fit_transform(X)
    assert Z is X
    assert_allclose(X, expected)

    back = revin.inverse_transform(X)
    assert back is X
    Z_again = revin.transform(X, copy=True)
    assert Z_again is not X


def test_revin_transformer_copy_false_tensor_in_place():
    """Check that copy=False writes into a float tensor."""
    tensor = torch.tensor([[1.0, 2.0, 3.0]])
    revin = RevINTransformer(copy=False)
    assert revin.fit_transform(tensor) is tensor
    assert_allclose(tensor.numpy(), [[-1.2247449, 0.0, 1.2247449]], rtol=1e-6)


def test_revin_transformer_copy_true_leaves_input_alone():
    """Check that the default copy=True never writes into X."""
    X = np.array([[1.0, 2.0, 3.0]])
    Z = RevINTransformer().fit_transform(X)
    assert Z is not X
    assert_array_equal(X, [[1.0, 2.0, 3.0]])


def test_revin_transformer_copy_false_read_only_input_is_not_written():
    """Check that copy=False on a read-only array returns a new array instead."""
    X = np.array([[1.0, 2.0, 3.0]])
    X.flags.writeable = False
    Z = RevINTransformer(copy=False).fit_transform(X)
    assert Z is not X
    assert_array_equal(X, [[1.0, 2.0, 3.0]])


def _tolerance(dtype):
    if dtype == np.float32:
        return {"rtol": 1e-5, "atol": 1e-5}
    return {"rtol": 1e-12, "atol": 1e-12}


def _round_trip_tolerance(dtype):
    # Values up to ~60 in magnitude: float32 keeps about 1e-5 of them.
    return {"atol": 1e-3} if dtype == np.float32 else {"atol": 1e-9}


@given(case=st.one_of(strided_views(ndim=2), strided_views(ndim=3)))
def test_revin_transformer_any_strided_input_equals_its_copy(case):
    """Check slices, gaps, reversed views, transposes and Fortran order.

    A reversed view (negative strides, as skforecast's lag matrix) cannot be
    wrapped by torch without a copy; every method must still give what it
    gives for a contiguous copy, and copy=True must leave the base untouched.
    """
    base, view_of = case
    original = base.copy()
    X = view_of(base)
    assume(X.ndim == 3 or X.shape[1] > 1)  # one column is refused (see below)
    revin = RevINTransformer().fit(X)
    expected = RevINTransformer().fit(X.copy())
    tolerance = _tolerance(X.dtype)
    assert_allclose(revin.mean_, expected.mean_, **tolerance)
    assert_allclose(revin.scale_, expected.scale_, **tolerance)
    Z = revin.transform(X)
    assert_allclose(Z, expected.transform(X.copy()), **tolerance)
    statistics = revin.instance_statistics(X)
    assert_allclose(
        revin.normalize_with(X, statistics),
        expected.normalize_with(X.copy(), statistics),
        **tolerance,
    )
    assert_allclose(revin.inverse_transform(Z), X, **_round_trip_tolerance(X.dtype))
    assert_array_equal(base, original)


@given(case=st.one_of(strided_views(ndim=2), strided_views(ndim=3)))
def test_revin_transformer_copy_false_writes_into_any_strided_view(case):
    """Check that copy=False returns the view holding the result, base untouched.

    Where torch cannot view X (negative strides) the result is computed in a
    copy and written back into X: copy=False still normalizes X in place.
    """
    base, view_of = case
    original = base.copy()
    assume(view_of(original).ndim == 3 or view_of(original).shape[1] > 1)
    revin = RevINTransformer(copy=False).fit(view_of(original))
    expected = revin.transform(view_of(original), copy=True)
    X = view_of(base)
    Z = revin.transform(X)
    assert Z is X
    assert_allclose(X, expected, **_tolerance(X.dtype))
    written = original.copy()
    view_of(written)[...] = expected
    assert_allclose(base, written, **_tolerance(X.dtype))
    back = revin.inverse_transform(X)
    assert back is X
    assert_allclose(base, original, **_round_trip_tolerance(X.dtype))


# ----------------------------------------------------------------- devices


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "auto"])
def test_revin_transformer_accepts_cpu_devices(device):
    """Check the device spellings that every machine has."""
    Z = RevINTransformer(device=device).fit_transform(np.array([[1.0, 3.0]]))
    assert_allclose(Z, [[-1.0, 1.0]])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_revin_transformer_unavailable_device_is_an_error_at_fit(device):
    """Check that asking for CUDA without it fails at fit, saying why."""
    with pytest.raises(ValueError, match="CUDA is not available"):
        RevINTransformer(device=device).fit(np.zeros((2, 3)))


def test_revin_transformer_unknown_device_is_an_error():
    """Check that a device name torch does not know is a clear ValueError."""
    with pytest.raises(ValueError, match="device must be 'auto'"):
        RevINTransformer(device="gpu-please").fit(np.zeros((2, 3)))


# ------------------------------------------------------- sklearn contract


def test_revin_transformer_fitted_attributes():
    """Check the fitted attributes, their types and shapes."""
    X = np.arange(24.0).reshape(4, 6)
    revin = RevINTransformer(n_variates=2).fit(X)
    assert revin.n_features_in_ == 6
    assert (revin.n_variates_, revin.n_steps_) == (2, 3)
    for name, shape in [("gamma_", (2,)), ("beta_", (2,)), ("mean_", (4, 2))]:
        assert isinstance(getattr(revin, name), np.ndarray)
        assert getattr(revin, name).shape == shape
    assert revin.scale_.shape == (4, 2)
    assert not hasattr(revin, "feature_names_in_")


def test_revin_transformer_pickle_round_trip():
    """Check that a fitted transformer pickles with NumPy state only and works after."""
    rng = np.random.RandomState(6)
    X = _as_2d(_random_windows(rng, n_variates=2))
    revin = RevINTransformer(n_variates=2, gamma=[1.0, 2.0]).fit(X)

    restored = pickle.loads(pickle.dumps(revin))

    for value in vars(restored).values():
        assert not isinstance(value, torch.Tensor)
    assert_array_equal(restored.mean_, revin.mean_)
    assert_allclose(restored.transform(X), revin.transform(X))


def test_revin_transformer_clone_keeps_parameters():
    """Check that clone keeps the parameters and drops the fitted state."""
    revin = RevINTransformer(n_variates=2, gamma=[1.0, 2.0], eps=1e-3, copy=False)
    revin.fit(np.zeros((2, 4)))
    cloned = clone(revin)
    assert cloned.get_params() == revin.get_params()
    assert not hasattr(cloned, "mean_")


def test_revin_transformer_feature_names_out_are_the_input_names():
    """Check get_feature_names_out, a one-to-one transformer."""
    revin = RevINTransformer().fit(np.zeros((2, 3)))
    assert_array_equal(revin.get_feature_names_out(), ["x0", "x1", "x2"])


@st.composite
def _well_conditioned_windows(draw):
    n_instances = draw(st.integers(1, 5))
    n_variates = draw(st.integers(1, 3))
    n_steps = draw(st.integers(2, 32))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-1e3, 1e3, size=(n_instances, n_variates, 1))
    spreads = 10.0 ** rng.uniform(-1, 2, size=(n_instances, n_variates, 1))
    windows = offsets + spreads * rng.standard_normal(
        (n_instances, n_variates, n_steps)
    )
    gamma = rng.uniform(0.2, 3, n_variates) * rng.choice([-1, 1], n_variates)
    beta = rng.uniform(-3, 3, n_variates)
    return windows, gamma, beta


@given(case=_well_conditioned_windows())
def test_revin_transformer_output_moments_property(case):
    """Check each normalized window has mean beta and std |gamma| (variance > eps)."""
    windows, gamma, beta = case
    assume(windows.var(axis=-1).min() > 1e-3)  # the eps clamp is not active
    Z = RevINTransformer(gamma=gamma, beta=beta).fit_transform(windows)
    assert_allclose(Z.mean(axis=-1), np.broadcast_to(beta, Z.shape[:2]), atol=1e-9)
    std = np.broadcast_to(np.abs(gamma), Z.shape[:2])
    assert_allclose(Z.std(axis=-1), std, rtol=1e-9)


@given(
    case=_well_conditioned_windows(),
    factor=st.floats(0.01, 100),
    shift=st.floats(-1e4, 1e4),
)
def test_revin_transformer_invariant_to_affine_change_of_units(case, factor, shift):
    """Check that a positive rescaling and shift of each series leaves Z unchanged."""
    windows, gamma, beta = case
    revin = RevINTransformer(gamma=gamma, beta=beta)
    smallest_variance = windows.var(axis=-1).min() * min(1.0, factor**2)
    assume(smallest_variance > 1e-3)  # the eps clamp is not active either way
    Z = revin.fit_transform(windows)
    Z_rescaled = revin.fit_transform(windows * factor + shift)
    assert_allclose(Z_rescaled, Z, rtol=1e-6, atol=1e-6)


def test_revin_transformer_copy_false_infinity_may_leave_x_partly_normalized():
    """Check the documented copy=False contract: the error comes, X may be touched.

    The infinity is found by the pass that normalizes, so earlier blocks of a
    large X are already normalized in place when the ValueError is raised.
    """
    X = np.random.RandomState(0).standard_normal((100_000, 64)) + 5.0
    X[-1, 3] = np.inf
    revin = RevINTransformer(copy=False).fit(np.zeros((1, 64)))
    with pytest.raises(ValueError, match="infinity"):
        revin.transform(X)
    assert abs(X[0].mean()) < 1e-9  # the first block was normalized


# ------------------------------------------ step order, passthrough, named layouts


@st.composite
def _windows_with_passthrough(draw):
    n_variates = draw(st.integers(1, 3))
    n_steps = draw(st.integers(2, 6))
    n_extra = draw(st.integers(1, 4))
    n_features = n_variates * n_steps + n_extra
    extra = draw(
        st.lists(
            st.integers(0, n_features - 1),
            min_size=n_extra,
            max_size=n_extra,
            unique=True,
        )
    )
    seed = draw(st.integers(0, 2**16))
    return n_variates, n_steps, sorted(extra), seed


@given(case=_windows_with_passthrough(), center=st.sampled_from(["mean", "last"]))
def test_revin_transformer_passthrough_columns_stay_out_and_in_place(case, center):
    """Check that passthrough columns are unchanged and the rest is RevIN alone."""
    n_variates, n_steps, extra, seed = case
    rng = np.random.RandomState(seed)
    windows = _as_2d(_random_windows(rng, 5, n_variates, n_steps))
    n_features = windows.shape[1] + len(extra)
    window_columns = np.delete(np.arange(n_features), extra)
    X = np.empty((5, n_features))
    X[:, window_columns] = windows
    X[:, extra] = 1e6 * rng.standard_normal((5, len(extra)))

    revin = RevINTransformer(n_variates=n_variates, passthrough=extra, center=center)
    Z = revin.fit_transform(X)
    alone = RevINTransformer(n_variates=n_variates, center=center).fit(windows)

    assert_array_equal(Z[:, extra], X[:, extra])
    assert_allclose(Z[:, window_columns], alone.transform(windows), atol=1e-12)
    assert_allclose(revin.mean_, alone.mean_)
    assert_allclose(revin.scale_, alone.scale_)
    assert revin.n_features_in_ == n_features
    assert (revin.n_variates_, revin.n_steps_) == (n_variates, n_steps)
    assert_array_equal(revin.passthrough_, extra)


def test_revin_transformer_passthrough_by_index_name_or_mask_agree():
    """Check that passthrough takes indices, names and a boolean mask alike."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.standard_normal((6, 5)), columns=list("abcde"))
    mask = np.array([False, True, False, False, True])
    outputs = [
        RevINTransformer(passthrough=passthrough).fit_transform(X)
        for passthrough in ([1, 4], [-4, -1], ["b", "e"], mask, list(mask))
    ]
    for Z in outputs[1:]:
        assert_array_equal(Z, outputs[0])
    revin = RevINTransformer(passthrough=["b", "e"]).fit(X)
    assert_array_equal(revin.get_feature_names_out(), list("abcde"))


def test_revin_transformer_passthrough_copy_false_and_tensor():
    """Check passthrough in place (copy=False) and on a tensor."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((4, 7))
    expected = RevINTransformer(passthrough=[0]).fit_transform(X)
    in_place = X.copy()
    RevINTransformer(passthrough=[0], copy=False).fit_transform(in_place)
    assert_allclose(in_place, expected)
    tensor = torch.from_numpy(X)
    out = RevINTransformer(passthrough=[0]).fit_transform(tensor)
    assert torch.is_tensor(out)
    assert_allclose(out.numpy(), expected)
    assert_array_equal(tensor.numpy(), X)  # the input is left alone


@pytest.mark.parametrize(
    ("passthrough", "message"),
    [
        ([0, 0], "must not repeat"),
        ([9], "out of range"),
        (["a"], "X has no column names"),
        ([True, False], "one value per column"),
        ([0, 1, 2, 3], "passthrough names all columns"),
        ([0.5], "column indices, column names or a boolean mask"),
    ],
)
def test_revin_transformer_invalid_passthrough_is_an_error(passthrough, message):
    """Check that passthrough naming no valid set of columns is refused."""
    with pytest.raises(ValueError, match=re.escape(message)):
        RevINTransformer(passthrough=passthrough).fit(np.zeros((3, 4)))


def test_revin_transformer_passthrough_3d_is_an_error():
    """Check that passthrough is refused for 3-D X, which holds windows only."""
    with pytest.raises(ValueError, match="passthrough selects columns of 2-D X"):
        RevINTransformer(passthrough=[0]).fit(np.zeros((3, 2, 4)))


@pytest.mark.parametrize("layout", ["2d", "3d"])
@pytest.mark.parametrize("center", ["mean", "last"])
def test_revin_transformer_newest_first_is_oldest_first_reversed(layout, center):
    """Check that newest_first means the reversed steps, center="last" included."""
    rng = np.random.RandomState(0)
    windows = _random_windows(rng, n_variates=2, n_steps=5)
    windows[1, 0, -1] = np.nan  # the last observed value is the one before
    reversed_ = np.ascontiguousarray(windows[..., ::-1])
    prepare = (lambda w: w) if layout == "3d" else _as_2d

    oldest = RevINTransformer(n_variates=2, center=center)
    newest = RevINTransformer(n_variates=2, center=center, step_order="newest_first")
    Z_oldest = oldest.fit_transform(prepare(windows))
    Z_newest = newest.fit_transform(prepare(reversed_))

    assert_allclose(
        Z_newest.reshape(windows.shape)[..., ::-1],
        Z_oldest.reshape(windows.shape),
        atol=1e-12,
    )
    assert_allclose(newest.mean_, oldest.mean_)
    if center == "last":
        assert_allclose(newest.mean_[0], windows[0, :, -1])
        assert_allclose(newest.mean_[1, 0], windows[1, 0, -2])
    Y = rng.standard_normal((8, 6))
    assert_allclose(newest.inverse_transform(Y), oldest.inverse_transform(Y))


def test_revin_transformer_layout_read_from_make_windows_names():
    """Check that n_variates and the variate names come from name[t-k] columns."""
    pd = pytest.importorskip("pandas")
    from sklearn_revin import make_windows

    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.standard_normal((30, 3)), columns=["a", "b", "c"])
    X, _ = make_windows(frame, 6, 2)
    revin = RevINTransformer().fit(X)
    assert (revin.n_variates_, revin.n_steps_) == (3, 6)
    assert list(revin.variate_names_) == ["a", "b", "c"]
    assert_allclose(
        revin.transform(X), RevINTransformer(n_variates=3).fit_transform(X.to_numpy())
    )
    with pytest.raises(ValueError, match=re.escape("n_variates=2, but the column")):
        RevINTransformer(n_variates=2).fit(X)
    with pytest.raises(ValueError, match="step_order='oldest_first'"):
        RevINTransformer(step_order="newest_first").fit(X)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["a[t-1]", "b[t-1]", "a[t]", "b[t]"], "not variate-major"),
        (["a[t-2]", "a[t-1]", "a[t]", "b[t]"], "different number of steps"),
        (["a[t-1]", "a[t-3]", "b[t-1]", "b[t-3]"], "not consecutive"),
    ],
)
def test_revin_transformer_names_of_an_unreadable_layout_are_an_error(columns, message):
    """Check that window names in a layout RevIN cannot read are refused."""
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.zeros((3, 4)), columns=columns)
    with pytest.raises(ValueError, match=message):
        RevINTransformer().fit(X)


def test_revin_transformer_lag_names_must_match_step_order():
    """Check that skforecast's lag_1, lag_2, ... (newest first) need newest_first."""
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(
        np.arange(12.0).reshape(3, 4), columns=["lag_1", "lag_2", "lag_3", "exog"]
    )
    with pytest.raises(ValueError, match="step_order='newest_first'"):
        RevINTransformer(passthrough=["exog"]).fit(X)
    revin = RevINTransformer(
        passthrough=["exog"], step_order="newest_first", center="last"
    ).fit(X)
    assert_allclose(revin.mean_.ravel(), X["lag_1"])


def test_revin_transformer_time_major_3d_is_named_in_the_error():
    """Check that (n, steps, variates) input with n_variates set gets a hint."""
    with pytest.raises(ValueError, match=re.escape("X.transpose(0, 2, 1)")):
        RevINTransformer(n_variates=3).fit(np.zeros((4, 10, 3)))


@pytest.mark.parametrize("method", ["fit", "fit_transform"])
def test_revin_transformer_single_column_is_an_error_naming_the_hooks(method):
    """Check that one column (a series, one step per row) is refused, not zeroed.

    Non-regression test: TransformedTargetRegressor(transformer=RevINTransformer())
    turned the target into zeros.
    """
    with pytest.raises(ValueError, match="use RevINRegressor") as error:
        getattr(RevINTransformer(), method)(np.arange(5.0).reshape(-1, 1))
    assert "1 feature(s)" in str(error.value)
    assert "TransformedTargetRegressor" in str(error.value)


def test_revin_transformer_in_transformed_target_regressor_is_a_clear_error():
    """Check the error in TransformedTargetRegressor, the hook it was zeros in."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge

    X = np.random.RandomState(0).standard_normal((20, 4))
    model = TransformedTargetRegressor(Ridge(), transformer=RevINTransformer())
    with pytest.raises(ValueError, match="use RevINRegressor"):
        model.fit(X, X.sum(axis=1))


# ------------------------------------------------------- hardening (issue 14)


@pytest.mark.parametrize(
    "X",
    [
        np.array([[-1e19, 1e19, -1e19, 1e19]], np.float32),
        np.array([[-1e155, 1e155, -1e155, 1e155]]),
        np.full((1, 8), np.finfo(np.float32).max / 2, np.float32),
        np.array([[1.0, 2.0, 3.0, 4.0], [3e38, 3e38, np.nan, 3.1e38]], np.float32),
    ],
    ids=["float32-1e19", "float64-1e155", "float32-near-max", "float32-with-nan"],
)
@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("method", ["fit_transform", "fit", "stats"])
def test_revin_transformer_overflowing_statistics_are_an_error(X, as_tensor, method):
    """Check that windows whose statistics overflow raise, never a silent 0 or NaN."""
    X = torch.from_numpy(X) if as_tensor else X
    if method == "stats":
        call = RevINTransformer().fit(np.zeros((1, X.shape[1]))).instance_statistics
    else:
        call = getattr(RevINTransformer(), method)
    with pytest.raises(ValueError, match="overflow"):
        call(X)


@pytest.mark.parametrize(
    ("mean", "scale", "message"),
    [
        ([[0.0]], [[0.0]], "statistics.scale must be positive"),
        ([[0.0]], [[-1.0]], "statistics.scale must be positive"),
        ([[0.0]], [[np.inf]], "statistics.scale must be finite"),
        ([[np.inf]], [[1.0]], "statistics.mean must be finite"),
        ([[-np.inf]], [[1.0]], "statistics.mean must be finite"),
        ([[1j]], [[1.0]], "Complex data not supported"),
        ([[0.0]], [[1.0 + 1j]], "Complex data not supported"),
    ],
)
@pytest.mark.parametrize("method", ["inverse_transform", "normalize_with"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_revin_transformer_invalid_statistics_values_are_errors(
    mean, scale, message, method, as_tensor
):
    """Check that caller-supplied statistics are checked: no inf, no dropped 1j."""
    revin = RevINTransformer().fit(np.zeros((1, 4)))
    statistics = (np.asarray(mean), np.asarray(scale))
    if as_tensor:
        statistics = tuple(torch.from_numpy(part) for part in statistics)
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(revin, method)(np.zeros((1, 2)), statistics=statistics)


def test_revin_transformer_nan_statistics_of_all_nan_windows_are_accepted():
    """Check that the NaN statistics of an all-NaN window still map (to NaN)."""
    X = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]])
    revin = RevINTransformer().fit(X)
    stats = revin.instance_statistics(X)
    back = revin.inverse_transform(np.ones((2, 2)), statistics=stats)
    assert np.isfinite(back[0]).all()
    assert np.isnan(back[1]).all()


@pytest.mark.parametrize("method", ["inverse_transform", "normalize_with"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_revin_transformer_4d_input_to_statistics_maps_is_an_error(method, as_tensor):
    """Check that 4-D X is refused by inverse_transform and normalize_with."""
    revin = RevINTransformer().fit(np.zeros((3, 4)))
    X = np.zeros((3, 1, 2, 2))
    X = torch.from_numpy(X) if as_tensor else X
    with pytest.raises(ValueError, match=re.escape("got shape (3, 1, 2, 2)")):
        getattr(revin, method)(X)


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("shape", [(3, 0), (3, 2, 0)])
@pytest.mark.parametrize("method", ["fit", "inverse_transform", "normalize_with"])
def test_revin_transformer_empty_windows_are_errors(as_tensor, shape, method):
    """Check that 0 columns or 0 steps are refused, tensors as NumPy input."""
    X = torch.zeros(shape, dtype=torch.float64) if as_tensor else np.zeros(shape)
    revin = (
        RevINTransformer()
        if method == "fit"
        else RevINTransformer().fit(np.zeros((3, 2, 4)))
    )
    kwargs = {"variates": [0, 1]} if method != "fit" and len(shape) == 3 else {}
    with pytest.raises(ValueError, match=r"0 (feature|step)\(s\)"):
        getattr(revin, method)(X, **kwargs)


@pytest.mark.parametrize("center", ["mean", "last"])
@pytest.mark.parametrize("n_instances", [1, 5000])
def test_revin_transformer_constant_float32_window_gives_beta(center, n_instances):
    """Non-regression test: eps=1e-12, gamma=9 gave 1.375 for beta 1.34375."""
    X = np.full((n_instances, 7), 1e6 + 0.3, np.float32)
    revin = RevINTransformer(eps=1e-12, gamma=[9.0], beta=[1.34375], center=center)
    Z = revin.fit_transform(X)
    assert_array_equal(Z, np.float32(1.34375))


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(4.0).expand(3, 4),  # stride 0
        lambda: torch.arange(8.0).as_strided((3, 4), (2, 1)),  # rows overlap
    ],
    ids=["expanded", "self-overlapping"],
)
@pytest.mark.parametrize("method", ["fit_transform", "transform", "inverse_transform"])
def test_revin_transformer_copy_false_overlapping_tensor_is_an_error(make, method):
    """Check that copy=False refuses a tensor whose elements share memory."""
    revin = RevINTransformer(copy=False)
    if method != "fit_transform":
        revin.fit(np.zeros((3, 4)))
    X = make()
    before = X.clone()
    with pytest.raises(ValueError, match="share memory"):
        getattr(revin, method)(X)
    assert torch.equal(X, before)


def test_revin_transformer_copy_false_overlapping_array_is_an_error():
    """Check that copy=False refuses a writable self-overlapping NumPy view."""
    base = np.arange(8.0)
    X = np.lib.stride_tricks.as_strided(base, (3, 4), (16, 8), writeable=True)
    before = X.copy()
    with pytest.raises(ValueError, match="share memory"):
        RevINTransformer(copy=False).fit_transform(X)
    assert_array_equal(X, before)


@pytest.mark.parametrize("copy", [True, False])
def test_revin_transformer_copy_true_overlapping_tensor_is_fine(copy):
    """Check that an expanded tensor is read as it is when nothing is written."""
    X = torch.arange(4.0).expand(3, 4)
    revin = RevINTransformer(copy=copy)
    stats = revin.fit(X).instance_statistics(X)
    assert_allclose(stats.mean.numpy(), 1.5)
    assert_allclose(
        RevINTransformer().fit_transform(X).numpy()[0],
        [-1.342, -0.447, 0.447, 1.342],
        atol=1e-3,
    )


@pytest.mark.parametrize("copy", [True, False])
def test_revin_transformer_statistics_of_a_read_only_view_do_not_copy_it(copy):
    """Check that fit and instance_statistics only read make_windows' view."""
    import tracemalloc

    from sklearn_revin import make_windows

    series = np.random.RandomState(0).standard_normal(200_000)
    X, _ = make_windows(series, window=96, horizon=1)
    assert not X.flags.writeable
    revin = RevINTransformer(copy=copy).fit(X[:1])
    tracemalloc.start()
    try:
        revin.instance_statistics(X)
        RevINTransformer(copy=copy).fit(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.size * X.itemsize / 8, peak


def test_revin_transformer_meta_device_is_an_error():
    """Check that device="meta", which holds no data, is a clear ValueError."""
    with pytest.raises(ValueError, match="meta"):
        RevINTransformer(device="meta").fit(np.zeros((2, 3)))


@pytest.mark.parametrize("method", ["fit", "inverse_transform"])
def test_revin_transformer_meta_tensor_is_an_error(method):
    """Check that a meta tensor (shapes, no values) is a clear ValueError."""
    revin = (
        RevINTransformer()
        if method == "fit"
        else RevINTransformer().fit(np.zeros((2, 3)))
    )
    with pytest.raises(ValueError, match="'meta', which holds shapes but no values"):
        getattr(revin, method)(torch.zeros(2, 3, device="meta"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_revin_transformer_fused_path_equals_the_fallback(monkeypatch, dtype):
    """Short windows through fit_transform and back, with numba and without."""
    from sklearn_revin import _fused

    if not _fused.available():
        pytest.skip("the fused kernel needs numba (the 'fast' extra)")
    rng = np.random.RandomState(0)
    X = (rng.normal(size=(500, 16)) * rng.uniform(0.1, 5, (500, 1)) + 1e3).astype(dtype)
    X[3, 5] = np.nan
    results = []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(_fused, "available", lambda: False)
        revin = RevINTransformer(n_variates=2, gamma=[1.5, -0.5], beta=[0.1, 2.0])
        Z = revin.fit_transform(X)
        assert revin.mean_.dtype == revin.scale_.dtype == np.float64
        results.append((Z, revin.mean_, revin.scale_, revin.inverse_transform(Z)))
    tolerance = {"rtol": 1e-5, "atol": 1e-4} if dtype == np.float32 else {}
    for a, b in zip(*results, strict=True):
        assert a.dtype == b.dtype
        assert_allclose(a, b, **tolerance)
    assert_allclose(results[0][3], X, rtol=1e-6 if dtype == np.float32 else 1e-12)


def _array_kinds(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((6, 8)) * 3 + 10
    read_only = values.astype(np.float32)
    read_only.flags.writeable = False
    memmap = np.lib.format.open_memmap(
        tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=values.shape
    )
    memmap[:] = values
    return {
        "C float32": values.astype(np.float32),
        "F float64": np.asfortranarray(values),
        "3-D float64": values.reshape(6, 2, 4),
        "read-only float32": read_only,
        "big-endian float64": values.astype(">f8"),
        "memmap float64": memmap,
        "int64": np.rint(values).astype(np.int64),
        "strided view": values[:, ::2],
    }


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize(
    "kind",
    [
        "C float32",
        "F float64",
        "3-D float64",
        "read-only float32",
        "big-endian float64",
        "memmap float64",
        "int64",
        "strided view",
    ],
)
def test_revin_transformer_arrays_that_skip_check_array_match_check_array(
    kind, copy, tmp_path, monkeypatch
):
    """Check that skipping check_array for plain float arrays changes no result.

    Every kind of array is transformed twice, once as it comes and once with
    the shortcut turned off (everything through check_array): the outputs,
    their dtype and type, and whether X itself was written agree.
    """
    from sklearn_revin import _transformer

    results = []
    for shortcut in (True, False):
        if not shortcut:
            monkeypatch.setattr(
                _transformer, "is_checked_float_array", lambda X, **_: False
            )
        X = _array_kinds(tmp_path)[kind]
        before = np.array(X)
        n_variates = 1 if kind == "strided view" else 2
        revin = RevINTransformer(n_variates=n_variates, copy=copy)
        fitted = revin.fit_transform(X)
        transformed = revin.transform(X if copy else before.copy())
        written = not np.array_equal(np.asarray(X), before)
        results.append((fitted, transformed, fitted is X, written))
        monkeypatch.undo()
    (fit_a, tr_a, same_a, written_a), (fit_b, tr_b, same_b, written_b) = results
    assert_array_equal(fit_a, fit_b)
    assert_array_equal(tr_a, tr_b)
    assert fit_a.dtype == fit_b.dtype
    assert type(fit_a) is type(fit_b)
    assert (same_a, written_a) == (same_b, written_b)


def test_revin_transformer_plain_array_still_checks_the_feature_count():
    """Check that an array that skips check_array is still checked against fit."""
    revin = RevINTransformer().fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match="X has 3 features, but RevINTransformer"):
        revin.transform(np.ones((3, 3)))


def test_revin_transformer_plain_array_after_named_fit_warns_of_missing_names():
    """Check that an array after a fit on a data frame gets scikit-learn's warning."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(np.arange(12.0).reshape(3, 4), columns=list("abcd"))
    revin = RevINTransformer(n_variates=1).fit(frame)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        revin.transform(frame.to_numpy())
