"""Tests of make_windows: layout, views, errors, NaN and feature names."""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_revin import RevINTransformer, make_windows


def loop_windows(series, window, horizon, step=1, target=None):
    """Windows by a plain Python loop over time, for a (n_times, n_variates) list."""
    n_times, n_variates = len(series), len(series[0])
    targets = range(n_variates) if target is None else target
    rows_x, rows_y = [], []
    start = 0
    while start + window + horizon <= n_times:
        row_x = []
        for variate in range(n_variates):
            for k in range(window):
                row_x.append(series[start + k][variate])
        row_y = []
        for variate in targets:
            for h in range(horizon):
                row_y.append(series[start + window + h][variate])
        rows_x.append(row_x)
        rows_y.append(row_y)
        start += step
    return np.array(rows_x), np.array(rows_y)


@pytest.mark.parametrize(
    ("window", "horizon", "step"),
    [(1, 1, 1), (4, 2, 1), (5, 3, 2), (3, 1, 7), (4, 0, 1), (3, 0, 2)],
)
@pytest.mark.parametrize(
    ("n_variates", "target"),
    [(1, None), (1, [0]), (3, None), (3, [1]), (3, [2, 0]), (3, [0, 1, 2])],
)
def test_make_windows_matches_a_plain_loop(
    global_random_seed, n_variates, window, horizon, step, target
):
    """Check X and Y against a Python loop, for each layout and target choice."""
    rng = np.random.RandomState(global_random_seed)
    series = rng.normal(size=(rng.randint(window + horizon, 40), n_variates))

    X, Y = make_windows(series, window, horizon, step=step, target=target)

    X_loop, Y_loop = loop_windows(series.tolist(), window, horizon, step, target)
    assert_array_equal(X, X_loop)
    assert_array_equal(Y, Y_loop.reshape(len(X_loop), -1))


def test_make_windows_1d_equals_one_variate_2d():
    """Check that a 1-D series is one variate."""
    series = np.arange(12.0)
    X1, Y1 = make_windows(series, 4, 2)
    X2, Y2 = make_windows(series[:, None], 4, 2)
    assert_array_equal(X1, X2)
    assert_array_equal(Y1, Y2)


def test_make_windows_row_count():
    """Check n_windows = (n_times - window - horizon) // step + 1."""
    for n_times, window, horizon, step in [(10, 3, 2, 1), (10, 3, 2, 2), (10, 8, 2, 5)]:
        X, Y = make_windows(np.zeros(n_times), window, horizon, step=step)
        expected = (n_times - window - horizon) // step + 1
        assert X.shape == (expected, window)
        assert Y.shape == (expected, horizon)


def test_make_windows_univariate_outputs_are_views_of_the_series():
    """Check that a univariate series is windowed without copying it."""
    series = np.arange(1000.0)
    X, Y = make_windows(series, 24, 6, step=3)
    assert np.shares_memory(X, series)
    assert np.shares_memory(Y, series)
    assert not X.flags.writeable  # a view must not be written into by mistake


def test_make_windows_single_target_of_a_multivariate_series_is_a_view():
    """Check that Y of one target is a view, and X is the one copy."""
    series = np.arange(300.0).reshape(100, 3)
    X, Y = make_windows(series, 5, 2, target=1)
    assert np.shares_memory(Y, series)
    assert not np.shares_memory(X, series)  # variate-major rows must be copied
    assert X.base is None or X.base.size == X.size  # one copy, not a larger buffer


def test_make_windows_several_targets_are_one_copy():
    """Check that Y of several targets owns exactly its own values."""
    series = np.arange(300.0).reshape(100, 3)
    _, Y = make_windows(series, 5, 2, target=[2, 0])
    assert not np.shares_memory(Y, series)
    assert Y.base is None or Y.base.size == Y.size


def test_make_windows_keeps_dtype():
    """Check that the values keep their dtype (the transformer converts later)."""
    for dtype in (np.float32, np.float64, np.int64):
        X, Y = make_windows(np.arange(10).astype(dtype), 3, 1)
        assert X.dtype == dtype
        assert Y.dtype == dtype


@pytest.mark.parametrize(
    ("n_times", "window", "horizon"), [(5, 4, 2), (0, 1, 1), (9, 9, 1)]
)
def test_make_windows_short_series_is_an_error(n_times, window, horizon):
    """Check the error for a series shorter than window + horizon."""
    message = (
        f"The series has {n_times} step(s), but window + horizon = {window} + "
        f"{horizon} = {window + horizon} are needed"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        make_windows(np.zeros(n_times), window, horizon)


def test_make_windows_exact_length_gives_one_window():
    """Check that window + horizon steps give exactly one window."""
    X, Y = make_windows(np.arange(5.0), 3, 2)
    assert_array_equal(X, [[0.0, 1.0, 2.0]])
    assert_array_equal(Y, [[3.0, 4.0]])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (name, value)
        for name in ("window", "horizon", "step")
        for value in (0, -1, 2.0, True, "3")
        if (name, value) != ("horizon", 0)  # valid: the windows to forecast from
    ],
)
def test_make_windows_bad_sizes_are_errors(name, value):
    """Check that window and step are positive integers, horizon one >= 0."""
    minimum = 0 if name == "horizon" else 1
    sizes = {"window": 3, "horizon": 1, "step": 1, name: value}
    with pytest.raises(ValueError, match=f"{name} must be an integer >= {minimum}"):
        make_windows(
            np.zeros(20), sizes["window"], sizes["horizon"], step=sizes["step"]
        )


def test_make_windows_bad_series_are_errors():
    """Check the errors for 3-D, non-numeric and empty-width series."""
    with pytest.raises(ValueError, match=r"1-D \(n_times,\) or 2-D"):
        make_windows(np.zeros((10, 2, 2)), 2, 1)
    with pytest.raises(ValueError, match="series must hold numbers"):
        make_windows(np.array(["a"] * 10), 2, 1)
    with pytest.raises(ValueError, match="no variate"):
        make_windows(np.zeros((10, 0)), 2, 1)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (3, "target 3 is out of range for a series with 3 variate(s)"),
        ([0, 0], "target must not repeat a variate"),
        ([], "target must name at least one variate"),
        ("co2", "target 'co2' is not a variate of the series (it has no column"),
        (1.5, "target must be variate positions or column names"),
    ],
)
def test_make_windows_bad_target_is_an_error(target, message):
    """Check the errors for targets that name no variate."""
    with pytest.raises(ValueError, match=re.escape(message)):
        make_windows(np.zeros((10, 3)), 2, 1, target=target)


def test_make_windows_negative_target_counts_from_the_end():
    """Check that target=-1 is the last variate, as in NumPy indexing."""
    series = np.arange(30.0).reshape(10, 3)
    _, Y_last = make_windows(series, 2, 1, target=-1)
    _, Y_two = make_windows(series, 2, 1, target=2)
    assert_array_equal(Y_last, Y_two)


def test_make_windows_nan_is_passed_through():
    """Check that NaN lands in every window that covers it, and nowhere else."""
    series = np.arange(20.0)
    series[7] = np.nan
    X, Y = make_windows(series, 4, 2)
    X_loop, Y_loop = loop_windows(series[:, None].tolist(), 4, 2)
    assert_array_equal(X, X_loop)  # assert_array_equal treats NaN == NaN
    assert_array_equal(Y, Y_loop)
    assert np.isnan(X).any(axis=1).sum() == 4  # windows starting at 4..7
    assert np.isnan(Y).any(axis=1).sum() == 2  # horizons covering step 7


def test_make_windows_pandas_series_names_and_index():
    """Check feature names and the time index for a named pandas Series."""
    pd = pytest.importorskip("pandas")
    index = pd.date_range("2000-01-01", periods=8, freq="MS")
    series = pd.Series(np.arange(8.0), index=index, name="co2")

    X, Y = make_windows(series, 3, 2, step=2)

    assert list(X.columns) == ["co2[t-2]", "co2[t-1]", "co2[t]"]
    assert list(Y.columns) == ["co2[t+1]", "co2[t+2]"]
    # each row is indexed by the time of its last input step
    assert list(X.index) == list(index[[2, 4]])
    assert list(Y.index) == list(X.index)
    X_plain, Y_plain = make_windows(np.arange(8.0), 3, 2, step=2)
    assert_array_equal(X.to_numpy(), X_plain)
    assert_array_equal(Y.to_numpy(), Y_plain)


def test_make_windows_unnamed_pandas_series_is_x0():
    """Check that an unnamed Series gets the name x0."""
    pd = pytest.importorskip("pandas")
    X, Y = make_windows(pd.Series(np.arange(5.0)), 2, 1)
    assert list(X.columns) == ["x0[t-1]", "x0[t]"]
    assert list(Y.columns) == ["x0[t+1]"]


def test_make_windows_pandas_dataframe_variate_major_names_and_named_target():
    """Check variate-major names and a target chosen by column name."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"gdp": np.arange(6.0), "cons": 10 * np.arange(6.0)})

    X, Y = make_windows(frame, 2, 2, target=["cons"])

    assert list(X.columns) == ["gdp[t-1]", "gdp[t]", "cons[t-1]", "cons[t]"]
    assert list(Y.columns) == ["cons[t+1]", "cons[t+2]"]
    X_plain, Y_plain = make_windows(frame.to_numpy(), 2, 2, target=1)
    assert_array_equal(X.to_numpy(), X_plain)
    assert_array_equal(Y.to_numpy(), Y_plain)


def test_make_windows_unknown_column_name_is_an_error():
    """Check the error for a target name that is not a column."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"gdp": np.arange(6.0)})
    with pytest.raises(ValueError, match=re.escape("target 'cpi' is not a variate")):
        make_windows(frame, 2, 1, target="cpi")


def test_make_windows_polars_dataframe_names():
    """Check that a polars frame gives polars frames with the feature names."""
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"gdp": np.arange(6.0), "cons": 10 * np.arange(6.0)})

    X, Y = make_windows(frame, 2, 1, target="gdp")

    assert isinstance(X, pl.DataFrame)
    assert isinstance(Y, pl.DataFrame)
    assert X.columns == ["gdp[t-1]", "gdp[t]", "cons[t-1]", "cons[t]"]
    assert Y.columns == ["gdp[t+1]"]
    X_plain, Y_plain = make_windows(frame.to_numpy(), 2, 1, target=0)
    assert_array_equal(X.to_numpy(), X_plain)
    assert_array_equal(Y.to_numpy(), Y_plain)


def test_make_windows_polars_series_names():
    """Check that a named polars Series names the columns."""
    pl = pytest.importorskip("polars")
    X, Y = make_windows(pl.Series("sst", np.arange(5.0)), 3, 1)
    assert X.columns == ["sst[t-2]", "sst[t-1]", "sst[t]"]
    assert Y.columns == ["sst[t+1]"]


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_make_windows_feature_names_reach_the_transformer_output(library):
    """Check that get_feature_names_out and set_output carry the window names."""
    frame_library = pytest.importorskip(library)
    frame = frame_library.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) ** 2})
    X, _ = make_windows(frame, 3, 1)

    revin = RevINTransformer(n_variates=2).set_output(transform=library)
    Z = revin.fit_transform(X)

    names = ["a[t-2]", "a[t-1]", "a[t]", "b[t-2]", "b[t-1]", "b[t]"]
    assert list(revin.get_feature_names_out()) == names
    assert list(Z.columns) == names


@pytest.mark.parametrize("library", ["numpy", "pandas", "polars"])
def test_make_windows_horizon_zero_ends_with_the_last_observation(library):
    """Check that horizon=0 gives every window, the last one ending the series."""
    values = np.column_stack([np.arange(10.0), 10 * np.arange(10.0)])
    if library == "numpy":
        series = values
    else:
        module = pytest.importorskip(library)
        series = module.DataFrame({"a": values[:, 0], "b": values[:, 1]})
    X, Y = make_windows(series, 4, 0)
    X_last = np.asarray(X)[-1]
    assert np.asarray(X).shape == (7, 8)
    assert np.asarray(Y).shape == (7, 0)
    assert_array_equal(X_last, np.concatenate([values[-4:, 0], values[-4:, 1]]))
    if library == "pandas":
        assert X.index[-1] == series.index[-1]
        assert list(X.columns[:4]) == ["a[t-3]", "a[t-2]", "a[t-1]", "a[t]"]
    # The windows with a horizon are the first rows of these.
    X_fit, _ = make_windows(series, 4, 1)
    assert_array_equal(np.asarray(X)[:-1], np.asarray(X_fit))
