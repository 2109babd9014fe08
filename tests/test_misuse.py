"""Tests of the warnings for inputs that give garbage without a word (_misuse.py)."""

import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, QuantileRegressor, Ridge
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_revin import RevINRegressor, RevINTransformer, make_windows

LAYOUT = "Pass n_variates={} (to RevINRegressor or RevINTransformer)"


def _series(n_times=300, n_variates=3, seed=0):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((n_times, n_variates)).cumsum(axis=0)


@contextmanager
def _no_misuse_warning():
    """A context in which a warning of _misuse.py is an error."""
    with warnings.catch_warnings():
        for start in ("X looks like", "X's columns are named", "gamma is negative"):
            warnings.filterwarnings("error", message=re.escape(start))
        warnings.filterwarnings("error", message=r"\w+\.fit got a regression target")
        yield


# ------------------------------------------------- multivariate NumPy windows


@pytest.mark.parametrize("step", [1, 3])
def test_channel_independent_on_numpy_windows_of_several_variates_warns(step):
    """Check that multivariate NumPy windows without n_variates name n_variates.

    Non-regression test for issue 19: make_windows of 7 ETT variates fitted
    as one variate of 2,352 steps, MSE 1.95 instead of 0.259, no warning.
    """
    X, Y = make_windows(_series(), window=24, horizon=4, step=step)
    model = RevINRegressor(Ridge(), channel_independent=True)
    with pytest.warns(UserWarning, match=re.escape(LAYOUT.format(3))):
        model.fit(X, Y)
    with pytest.warns(UserWarning, match="3 variates of 24 steps"):
        RevINTransformer().fit(X)


def test_newest_first_numpy_windows_of_several_variates_warn():
    """Check that windows with each variate's steps reversed are recognized."""
    X, _ = make_windows(_series(), window=12, horizon=1)
    X = X.reshape(len(X), 3, 12)[:, :, ::-1].reshape(len(X), -1)
    with pytest.warns(UserWarning, match=re.escape(LAYOUT.format(3))):
        RevINTransformer(step_order="newest_first", center="last").fit(X)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: RevINRegressor(Ridge(), n_variates=3, channel_independent=True),
        lambda: RevINRegressor(Ridge(), revin=RevINTransformer(n_variates=3)),
        lambda: RevINRegressor(Ridge(), n_variates=1),
    ],
)
def test_stated_layout_does_not_warn(make_model):
    """Check that n_variates, given anywhere, silences the layout warning."""
    X, Y = make_windows(_series(), window=24, horizon=4)
    with _no_misuse_warning():
        make_model().fit(X, Y)


def test_windows_of_one_variate_or_of_named_frames_do_not_warn():
    """Check the inputs whose layout is known or one variate: no warning."""
    pd = pytest.importorskip("pandas")
    series = _series()
    with _no_misuse_warning():
        X, Y = make_windows(series[:, 0], window=24, horizon=4)
        RevINRegressor(Ridge(), channel_independent=True).fit(X, Y)
        frame = pd.DataFrame(series, columns=["co2", "temp", "rain"])
        X, Y = make_windows(frame, window=24, horizon=4)
        RevINRegressor(Ridge(), channel_independent=True).fit(X, Y)
        rng = np.random.RandomState(0)
        RevINTransformer().fit(rng.standard_normal((50, 24)))


@settings(max_examples=40, deadline=None)
@given(
    n_variates=st.integers(1, 4),
    window=st.integers(4, 16),
    step=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
)
def test_variate_blocks_reads_the_layout_of_windows_in_time_order(
    n_variates, window, step, seed
):
    """Check that any windows make_windows cuts show their own layout.

    One variate is no warning (None); several give (n_variates, window).
    """
    from sklearn_revin._misuse import variate_blocks

    series = _series(n_times=window + 40 * step, n_variates=n_variates, seed=seed)
    X, _ = make_windows(series, window=window, horizon=1, step=step)
    expected = None if n_variates == 1 else (n_variates, window)
    assert variate_blocks(X) == expected


def test_variate_blocks_finds_nothing_in_tabular_data():
    """Check that rows that are not windows of a series show no layout."""
    from sklearn_revin._misuse import variate_blocks

    rng = np.random.RandomState(0)
    assert variate_blocks(rng.standard_normal((100, 24))) is None
    assert variate_blocks(np.zeros((100, 24))) is None


def test_missing_n_variates_costs_accuracy_on_etth2_and_warns(public_data):
    """Check on ETTh2 that the warning fires where the error is several times worse.

    A short version of benchmarks/misuse_layout.py, on its split (train: the
    first 12 months; test: months 17 to 20), 96 hours in, 24 out: MSE 0.325
    without n_variates, 0.170 with n_variates=7.
    """
    path = public_data("ETTh2.csv")
    pd = pytest.importorskip("pandas")
    values = pd.read_csv(path).iloc[:, 1:].to_numpy()
    month, window, horizon = 30 * 24, 96, 24
    data = StandardScaler().fit(values[: 12 * month]).transform(values)
    X_train, Y_train = make_windows(data[: 12 * month], window, horizon)
    X_test, Y_test = make_windows(
        data[16 * month - window : 20 * month], window, horizon
    )
    errors = {}
    for n_variates in (None, 7):
        model = RevINRegressor(Ridge(), n_variates=n_variates, channel_independent=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X_train, Y_train)
        said = any(LAYOUT.format(7) in str(w.message) for w in caught)
        assert said == (n_variates is None)
        errors[n_variates] = np.mean((model.predict(X_test) - Y_test) ** 2)
    assert errors[None] > 1.5 * errors[7], errors


# ------------------------------------------------------ a target in a Pipeline


def test_regression_target_to_revin_transformer_in_a_pipeline_warns():
    """Check that a Pipeline's raw regression y names RevINRegressor.

    Non-regression test for issue 19: make_pipeline(RevINTransformer(),
    Ridge()) maps normalized windows to raw targets without a word.
    """
    X, Y = make_windows(_series()[:, 0], window=24, horizon=4)
    pipeline = make_pipeline(RevINTransformer(), Ridge())
    with pytest.warns(UserWarning, match=r"own scale.*RevINRegressor\(Ridge\(\)\)"):
        pipeline.fit(X, Y)
    with pytest.warns(UserWarning, match="continuous"):
        RevINTransformer().fit(X, Y[:, 0])


def test_misuse_warnings_point_at_the_users_call():
    """Check that a warning from inside a Pipeline names this file, not the package."""
    X, Y = make_windows(_series(), window=24, horizon=4)
    with pytest.warns(UserWarning, match="regression target|X looks like") as caught:
        make_pipeline(RevINTransformer(), Ridge()).fit(X, Y)
    assert len(caught) == 2  # the target and the layout of 3 variates
    assert {Path(w.filename).name for w in caught} == {Path(__file__).name}


def test_classification_target_or_no_target_does_not_warn():
    """Check that a class label y, as a classifier's pipeline passes it, is fine."""
    X, Y = make_windows(_series()[:, 0], window=24, horizon=4)
    labels = (Y[:, -1] > X[:, -1]).astype(int)
    with _no_misuse_warning():
        make_pipeline(RevINTransformer(), LogisticRegression()).fit(X, labels)
        RevINTransformer().fit_transform(X, labels.astype(str))
        RevINTransformer().fit(X)
        RevINRegressor(Ridge()).fit(X, Y)


# ------------------------------------------------ columns that are variables


def test_columns_named_as_variables_warn_naming_revin_regressor_and_passthrough():
    """Check that a table of variables (time in rows) is not normalized silently.

    Non-regression test for issue 19: sktime's TabularToSeriesAdaptor on two
    variates and skforecast's transformer_exog turned every row into [-1, 1].
    """
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame(_series(n_variates=2), columns=["temperature", "humidity"])
    with pytest.warns(UserWarning, match=r"RevINRegressor.*as passthrough") as caught:
        out = RevINTransformer().fit_transform(table)
    assert "'temperature', 'humidity'" in str(caught[0].message)
    assert_allclose(np.abs(out), 1.0, rtol=1e-3)  # what the warning is about


def test_sktime_tabular_to_series_adaptor_on_named_variates_warns():
    """Check sktime's TabularToSeriesAdaptor on two named variates (the real library).

    With input_type="pandas" the names reach RevINTransformer; with the
    default NumPy input there is nothing to tell a table from windows.
    """
    pd = pytest.importorskip("pandas")
    adapt = pytest.importorskip("sktime.transformations.series.adapt")
    index = pd.period_range("2000-01", periods=50, freq="M")
    y = pd.DataFrame(_series(50, 2) + 10, columns=["a", "b"], index=index)
    adaptor = adapt.TabularToSeriesAdaptor(RevINTransformer(), input_type="pandas")
    with pytest.warns(
        UserWarning, match=r"named as different variables \(\['a', 'b'\]"
    ):
        adaptor.fit_transform(y)


def test_skforecast_transformer_exog_on_named_variables_warns():
    """Check skforecast's transformer_exog path (transform_dataframe), the real one."""
    pd = pytest.importorskip("pandas")
    utils = pytest.importorskip("skforecast.utils")
    index = pd.date_range("2000-01-01", periods=50, freq="D")
    exog = pd.DataFrame(_series(50, 2), columns=["temp", "holiday"], index=index)
    with pytest.warns(UserWarning, match="skforecast's transformer_exog"):
        utils.transform_dataframe(exog, RevINTransformer(), fit=True)


@pytest.mark.parametrize(
    "columns",
    [
        [f"x{i}" for i in range(6)],
        [f"lag_{i}" for i in range(6, 0, -1)],
        [f"step_{i}" for i in range(6)],
        [f"co2[t-{i}]" for i in range(5, 0, -1)] + ["co2[t]"],
    ],
)
def test_columns_named_as_steps_do_not_warn(columns):
    """Check that names of steps (one stem and a number, window names) are fine."""
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.RandomState(0).standard_normal((8, 6)), columns=columns)
    with _no_misuse_warning():
        RevINTransformer().fit(X)
        RevINTransformer(n_variates=1).fit(X.rename(columns=str.upper))
        RevINTransformer(passthrough=[0]).fit(X.set_axis(list("abcdef"), axis=1))


# ------------------------------------------------ quantiles and a negative gamma


def _quantile_forecasts(gamma):
    X, Y = make_windows(_series()[:, 0], window=12, horizon=1)
    bounds = []
    for quantile in (0.1, 0.9):
        model = RevINRegressor(
            GradientBoostingRegressor(
                loss="quantile", alpha=quantile, n_estimators=20, random_state=0
            ),
            revin=RevINTransformer(gamma=[gamma]),
        )
        bounds.append(model.fit(X[:200], Y[:200, 0]).predict(X[200:]))
    return bounds


def test_negative_gamma_swaps_quantiles_and_warns():
    """Check what the regressor page says: a negative gamma swaps the bounds."""
    with _no_misuse_warning():
        low, high = _quantile_forecasts(1.0)
    assert np.mean(low <= high) > 0.95
    with pytest.warns(UserWarning, match="quantile 1 - alpha"):
        low, high = _quantile_forecasts(-1.0)
    assert np.mean(low <= high) < 0.05


@pytest.mark.parametrize(
    "regressor",
    [
        QuantileRegressor(quantile=0.9, alpha=0.0),
        MultiOutputRegressor(GradientBoostingRegressor(loss="quantile")),
    ],
)
def test_negative_gamma_with_any_quantile_regressor_warns(regressor):
    """Check that a quantile loss is found in the regressor or inside it."""
    X, Y = make_windows(_series()[:, 0], window=12, horizon=1)
    model = RevINRegressor(regressor, revin=RevINTransformer(gamma=[-2.0]))
    with pytest.warns(UserWarning, match=re.escape("gamma is negative ([-2.0])")):
        model.fit(X[:60], Y[:60])


def test_negative_gamma_with_a_mean_regressor_does_not_warn():
    """Check that the squared error, symmetric, needs no warning."""
    X, Y = make_windows(_series()[:, 0], window=12, horizon=1)
    with _no_misuse_warning():
        RevINRegressor(Ridge(), revin=RevINTransformer(gamma=[-2.0])).fit(X, Y)


# ------------------------------------------------ a sparse tensor as X


def _sparse_tensors():
    torch = pytest.importorskip("torch")
    dense = torch.arange(30.0).reshape(5, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: CSR support is beta
        return dense, {
            "coo": dense.to_sparse(),
            "csr": dense.to_sparse_csr(),
            "csc": dense.to_sparse_csc(),
            "bsr": dense.to_sparse_bsr((1, 2)),
        }


@pytest.mark.parametrize("layout", ["coo", "csr", "csc", "bsr"])
@pytest.mark.parametrize(
    "method", ["fit", "transform", "instance_statistics", "fit_regressor", "predict"]
)
def test_sparse_tensor_as_x_is_an_error_naming_dense_data(layout, method):
    """Check that a sparse torch tensor is refused, saying what came and what to do.

    Non-regression test for issue 19 (case 12): torch's "reshape is not
    implemented for sparse tensors" or "can't convert Sparse layout tensor".
    """
    dense, sparse = _sparse_tensors()
    X, y = sparse[layout], np.arange(5.0)
    call = {
        "fit": lambda: RevINTransformer().fit(X),
        "transform": lambda: RevINTransformer().fit(dense).transform(X),
        "instance_statistics": lambda: (
            RevINTransformer().fit(dense).instance_statistics(X)
        ),
        "fit_regressor": lambda: RevINRegressor().fit(X, y),
        "predict": lambda: RevINRegressor().fit(dense, y).predict(X),
    }[method]
    message = f"X is a sparse torch tensor (layout torch.sparse_{layout}, shape (5, 6))"
    with pytest.raises(TypeError, match=re.escape(message)) as raised:
        call()
    assert "X.to_dense()" in str(raised.value)


def test_sparse_tensor_as_y_is_an_error_naming_y():
    """Check that the regressor names y when y is the sparse one."""
    dense, sparse = _sparse_tensors()
    with pytest.raises(TypeError, match=re.escape("y is a sparse torch tensor")):
        RevINRegressor().fit(dense, sparse["coo"])
