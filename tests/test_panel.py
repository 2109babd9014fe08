"""make_windows on long panels (id_col, time_col): windows within each series only.

Every panel result is checked against a hand-written loop over the series
(groupby, sort by time, slide a window), for pandas and polars, series of
unequal lengths and rows given in any order.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import Ridge

from sklearn_revin import RevINRegressor, make_windows

pd = pytest.importorskip("pandas")


def _panel(lengths, seed=0, n_values=1, shuffle=True):
    """Random walks of very different levels, one per length, rows shuffled."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, n in enumerate(lengths):
        level = 10.0 ** (1 + i % 3)
        columns = {
            "unique_id": f"s{i}",
            "ds": pd.date_range("2021-03-01", periods=n, freq="h"),
        }
        for v in range(n_values):
            name = "y" if v == 0 else f"x{v}"
            columns[name] = level + rng.normal(size=n).cumsum()
        parts.append(pd.DataFrame(columns))
    panel = pd.concat(parts, ignore_index=True)
    if shuffle:
        panel = panel.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return panel


def _by_hand(panel, window, horizon, step, value_names, target_names):
    """The windows of each series by a plain loop, series in sorted order."""
    X_rows, Y_rows, keys = [], [], []
    for uid, group in panel.groupby("unique_id"):
        group = group.sort_values("ds")
        values = group[value_names].to_numpy()
        targets = group[target_names].to_numpy()
        times = group["ds"].to_numpy()
        for start in range(0, len(group) - window - horizon + 1, step):
            inputs = values[start : start + window]  # (window, n_values)
            ahead = targets[start + window : start + window + horizon]
            X_rows.append(inputs.T.ravel())  # variate-major
            Y_rows.append(ahead.T.ravel())
            keys.append((uid, times[start + window - 1]))
    return np.array(X_rows), np.array(Y_rows), keys


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(4, 30), min_size=1, max_size=5),
    window=st.integers(1, 4),
    horizon=st.integers(1, 3),
    step=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_windows_stay_within_each_series(lengths, window, horizon, step, seed):
    """Check every window and horizon against the groupby loop, unsorted input."""
    panel = _panel(lengths, seed=seed, n_values=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # series shorter than a window
        X, Y = make_windows(
            panel, window, horizon, step=step, id_col="unique_id", time_col="ds"
        )
    X_hand, Y_hand, keys = _by_hand(
        panel, window, horizon, step, ["y", "x1"], ["y", "x1"]
    )
    assert X.shape == (len(keys), 2 * window)
    assert Y.shape == (len(keys), 2 * horizon)
    if keys:
        assert_array_equal(X.to_numpy(), X_hand)
        assert_array_equal(Y.to_numpy(), Y_hand)
    assert list(X.index) == keys
    assert list(X.index.names) == ["unique_id", "ds"]
    assert Y.index.equals(X.index)
    assert list(X.columns[:window]) == [
        f"y[t-{lag}]" if lag else "y[t]" for lag in range(window - 1, -1, -1)
    ]


def test_polars_panel_matches_pandas():
    """Check a polars long frame: the same windows, id and time as leading columns."""
    pl = pytest.importorskip("polars")
    panel = _panel([15, 9, 22], n_values=2)
    X, Y = make_windows(
        panel, 4, 2, step=2, target="y", id_col="unique_id", time_col="ds"
    )
    X_pl, Y_pl = make_windows(
        pl.from_pandas(panel),
        4,
        2,
        step=2,
        target="y",
        id_col="unique_id",
        time_col="ds",
    )
    assert X_pl.columns[:2] == ["unique_id", "ds"]
    assert X_pl.columns[2:] == list(X.columns)
    assert Y_pl.columns == list(Y.columns) == ["y[t+1]", "y[t+2]"]
    assert_array_equal(X_pl.drop("unique_id", "ds").to_numpy(), X.to_numpy())
    assert_array_equal(Y_pl.to_numpy(), Y.to_numpy())
    assert X_pl.get_column("unique_id").to_list() == list(
        X.index.get_level_values("unique_id")
    )
    assert_array_equal(
        X_pl.get_column("ds").to_numpy(), X.index.get_level_values("ds").to_numpy()
    )


def test_target_selects_value_columns():
    """Check target by name: Y holds that column's horizon only, X all columns."""
    panel = _panel([12, 8], n_values=3)
    X, Y = make_windows(panel, 3, 2, target="x2", id_col="unique_id", time_col="ds")
    X_hand, Y_hand, _ = _by_hand(panel, 3, 2, 1, ["y", "x1", "x2"], ["x2"])
    assert_array_equal(X.to_numpy(), X_hand)
    assert_array_equal(Y.to_numpy(), Y_hand)
    with pytest.raises(ValueError, match="'zz' is not a value column"):
        make_windows(panel, 3, 2, target="zz", id_col="unique_id", time_col="ds")


def test_horizon_zero_gives_each_series_last_window():
    """Check horizon=0: one row per series, its last window, keyed by its last time."""
    panel = _panel([12, 30, 7])
    X, Y = make_windows(panel, 5, 0, id_col="unique_id", time_col="ds")
    assert Y.shape == (3, 0)
    for uid, group in panel.groupby("unique_id"):
        group = group.sort_values("ds")
        row = X.loc[(uid, group["ds"].iloc[-1])]
        assert_array_equal(row.to_numpy(), group["y"].to_numpy()[-5:])


def test_short_series_are_named_and_padded_or_left_out():
    """Check a series shorter than a window: warned by name; NaN-padded at horizon=0."""
    panel = _panel([20, 3])
    with pytest.warns(
        UserWarning, match=r"shorter than window \+ horizon.*'s1'.*no training rows"
    ):
        X, _ = make_windows(panel, 5, 2, id_col="unique_id", time_col="ds")
    assert set(X.index.get_level_values("unique_id")) == {"s0"}
    with pytest.warns(UserWarning, match=r"'s1'.*front-padded with NaN"):
        X_last, _ = make_windows(panel, 5, 0, id_col="unique_id", time_col="ds")
    short = panel[panel["unique_id"] == "s1"].sort_values("ds")["y"].to_numpy()
    assert_array_equal(
        X_last.loc["s1"].to_numpy().ravel(), np.r_[np.nan, np.nan, short]
    )


def test_duplicated_and_unsortable_times_name_the_series():
    """Check a repeated, missing or unsortable time: an error naming its series."""
    panel = _panel([6, 6], shuffle=False)
    repeated = panel.copy()
    repeated.loc[8, "ds"] = repeated.loc[7, "ds"]
    with pytest.raises(ValueError, match=r"Series 's1' has the time .* more than once"):
        make_windows(repeated, 2, 1, id_col="unique_id", time_col="ds")
    missing = panel.copy()
    missing.loc[2, "ds"] = pd.NaT
    with pytest.raises(ValueError, match="Series 's0' has a missing time"):
        make_windows(missing, 2, 1, id_col="unique_id", time_col="ds")
    mixed = panel.assign(ds=[0, 1, 2, 3, 4, 5, 0, 1, "2", 3, 4, 5])
    with pytest.raises(
        ValueError, match="Series 's1' has times in 'ds' that cannot be sorted"
    ):
        make_windows(mixed, 2, 1, id_col="unique_id", time_col="ds")


def test_without_time_col_rows_keep_their_order_within_each_series():
    """Check time_col=None: each series in its rows' order, keyed by position."""
    panel = _panel([6, 5], shuffle=False).drop(columns="ds")
    X, _ = make_windows(panel, 3, 1, id_col="unique_id")
    assert list(X.index) == [("s0", 2), ("s0", 3), ("s0", 4), ("s1", 2), ("s1", 3)]
    assert_array_equal(X.loc[("s1", 2)].to_numpy(), panel["y"].to_numpy()[6:9])


def test_bad_id_and_time_columns_are_errors():
    """Check the errors for unknown columns, non-numeric values and a lone time_col."""
    panel = _panel([6, 6])
    with pytest.raises(ValueError, match="id_col='id' is not a column"):
        make_windows(panel, 2, 1, id_col="id", time_col="ds")
    with pytest.raises(ValueError, match="time_col='t' is not a column"):
        make_windows(panel, 2, 1, id_col="unique_id", time_col="t")
    with pytest.raises(ValueError, match="Column 'label' must hold numbers"):
        make_windows(panel.assign(label="a"), 2, 1, id_col="unique_id", time_col="ds")
    with pytest.raises(ValueError, match=r"time_col='ds' .* needs id_col"):
        make_windows(panel, 2, 1, time_col="ds")
    with pytest.raises(ValueError, match="long pandas or polars DataFrame"):
        make_windows(panel["y"].to_numpy(), 2, 1, id_col="unique_id")


def test_multiindex_without_id_col_is_an_error_naming_id_col():
    """Check a (unique_id, ds) MultiIndex Series: no window across two series."""
    long = _panel([10, 10]).set_index(["unique_id", "ds"])["y"]
    with pytest.raises(
        ValueError, match=r"MultiIndex.*id_col='unique_id', time_col='ds'"
    ):
        make_windows(long, 3, 1)


def test_long_frame_without_id_col_is_an_error_naming_id_col():
    """Check the unnamed-long cases: string ids, or times repeated across series."""
    panel = _panel([10, 10])
    with pytest.raises(
        ValueError, match=r"columns \['unique_id', 'ds'\] do not.*id_col"
    ):
        make_windows(panel, 3, 1)
    with pytest.raises(ValueError, match=r"index of the series repeats.*id_col"):
        make_windows(panel.set_index("ds")["y"], 3, 1)


def test_categorical_id_passes_through_to_hist_gradient_boosting():
    """Check a categorical id column: handed as a category, forecasts as by hand."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    panel = _panel([60, 45, 50])
    X, Y = make_windows(panel, 6, 1, id_col="unique_id", time_col="ds")
    X = X.assign(unique_id=X.index.get_level_values("unique_id").astype("category"))
    hgb = HistGradientBoostingRegressor(
        categorical_features="from_dtype", max_iter=30, random_state=0
    )
    # The weights of one series, as by hand below (panel windows otherwise
    # weigh by series: test_panel_windows_give_their_series_to_the_regressor_weights).
    model = RevINRegressor(hgb, passthrough="unique_id", window_weights="scale")
    model.fit(X, Y["y[t+1]"])
    assert model.regressor_.is_categorical_.tolist() == [False] * 6 + [True]

    windows = X.iloc[:, :6].to_numpy()
    mean = windows.mean(axis=1, keepdims=True)
    scale = np.sqrt(np.maximum(windows.var(axis=1, keepdims=True), 1e-5))
    by_hand = pd.DataFrame(
        (windows - mean) / scale, columns=X.columns[:6], index=X.index
    )
    by_hand["unique_id"] = X["unique_id"]
    weights = (scale.ravel() ** 2) / np.mean(scale**2)
    target = (Y["y[t+1]"].to_numpy() - mean.ravel()) / scale.ravel()
    reference = HistGradientBoostingRegressor(
        categorical_features="from_dtype", max_iter=30, random_state=0
    ).fit(by_hand, target, sample_weight=weights)
    expected = reference.predict(by_hand) * scale.ravel() + mean.ravel()
    predicted = model.predict(X)
    assert predicted.index.equals(X.index)  # the rows keep their series and time
    assert_allclose(predicted.to_numpy(), expected, rtol=1e-6)


def test_string_id_must_be_passthrough():
    """Check a string column outside passthrough: an error naming it and passthrough."""
    panel = _panel([30, 30])
    X, Y = make_windows(panel, 4, 1, id_col="unique_id", time_col="ds")
    X = X.assign(unique_id=X.index.get_level_values("unique_id"))
    with pytest.raises(
        ValueError, match=r"\['unique_id'\] of X are not numbers.*passthrough"
    ):
        RevINRegressor().fit(X, Y)
    with pytest.raises(ValueError, match="channel_independent=False"):
        RevINRegressor(passthrough="unique_id", channel_independent=True).fit(X, Y)


def test_polars_categorical_id_passes_through():
    """Check polars: a Categorical id reaches the regressor as a category."""
    pl = pytest.importorskip("polars")
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, Y = make_windows(
        pl.from_pandas(_panel([40, 30])), 5, 1, id_col="unique_id", time_col="ds"
    )
    X = X.drop("ds").with_columns(pl.col("unique_id").cast(pl.Categorical))
    hgb = HistGradientBoostingRegressor(categorical_features="from_dtype", max_iter=10)
    model = RevINRegressor(hgb, passthrough="unique_id").fit(X, Y.to_series())
    assert model.regressor_.is_categorical_.tolist() == [True] + [False] * 5
    assert model.predict(X).shape == (X.height,)


def test_last_windows_forecast_each_series_as_alone():
    """Check horizon=0: each series' forecast is that of its own last window."""
    panel = _panel([40, 25, 33])
    X, Y = make_windows(panel, 8, 3, id_col="unique_id", time_col="ds")
    model = RevINRegressor().fit(X, Y)
    X_last, _ = make_windows(panel, 8, 0, id_col="unique_id", time_col="ds")
    forecast = model.predict(X_last)
    for uid, group in panel.groupby("unique_id"):
        last = group.sort_values("ds")["y"].to_numpy()[-8:]
        alone = model.predict(pd.DataFrame(last[None, :], columns=X.columns))
        assert_allclose(forecast.loc[uid].to_numpy(), alone)


def test_grunfeld_panel_windows_match_the_loop():
    """Check the statsmodels Grunfeld panel (11 firms, cut to unequal lengths)."""
    sm_datasets = pytest.importorskip("statsmodels.datasets")
    data = sm_datasets.grunfeld.load_pandas().data
    kept = data.groupby("firm").cumcount() < 10 + data["firm"].str.len() % 10
    data = data[kept]
    panel = data.rename(columns={"firm": "unique_id", "year": "ds", "invest": "y"})[
        ["unique_id", "ds", "y"]
    ]
    X, Y = make_windows(panel, 6, 2, id_col="unique_id", time_col="ds")
    X_hand, Y_hand, keys = _by_hand(panel, 6, 2, 1, ["y"], ["y"])
    assert sorted(X.index) == sorted(keys)
    assert_array_equal(X.loc[keys].to_numpy(), X_hand)
    assert_array_equal(Y.loc[keys].to_numpy(), Y_hand)


def test_dask_long_frame_gives_lazy_windows_per_partition():
    """Check a dask panel: lazy windows equal to pandas', a split series refused."""
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")
    panel = _panel([20, 15, 30, 12], shuffle=False)
    split = dd.from_pandas(panel, npartitions=3, sort=False)
    with pytest.raises(ValueError, match=r"has rows in partitions .*shuffle\(on="):
        make_windows(split, 4, 2, id_col="unique_id", time_col="ds")
    by_series = split.shuffle(on="unique_id")
    X, Y = make_windows(by_series, 4, 2, id_col="unique_id", time_col="ds")
    assert isinstance(X, dd.DataFrame)
    assert list(X.columns[:2]) == ["unique_id", "ds"]
    X_computed, Y_computed = dask.compute(X, Y)
    X_pandas, Y_pandas = make_windows(panel, 4, 2, id_col="unique_id", time_col="ds")
    keyed = X_computed.set_index(["unique_id", "ds"])
    assert sorted(keyed.index) == sorted(X_pandas.index)
    assert_array_equal(keyed.to_numpy(), X_pandas.loc[keyed.index].to_numpy())
    assert_array_equal(Y_computed.to_numpy(), Y_pandas.loc[keyed.index].to_numpy())


def test_string_id_reaches_a_pipeline_that_encodes_it():
    """Check a string id column: handed as strings, one-hot encoded by the pipeline."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    panel = _panel([40, 30, 35])
    X, Y = make_windows(panel, 5, 2, id_col="unique_id", time_col="ds")
    X = X.assign(unique_id=X.index.get_level_values("unique_id").astype(object))
    encode = make_column_transformer(
        (OneHotEncoder(), ["unique_id"]), remainder="passthrough"
    )
    model = RevINRegressor(make_pipeline(encode, Ridge()), passthrough="unique_id").fit(
        X, Y
    )
    assert model.regressor_[0].transformers_[0][1].categories_[0].tolist() == [
        "s0",
        "s1",
        "s2",
    ]
    assert model.predict(X).shape == Y.shape


def test_skforecast_series_code_must_be_passthrough():
    """Check that a `_level_skforecast` column is recognised as not a window step."""
    X = pd.DataFrame(
        np.random.default_rng(0).normal(size=(30, 4)),
        columns=["lag_1", "lag_2", "lag_3", "_level_skforecast"],
    )
    y = X["lag_1"].to_numpy()
    with pytest.raises(ValueError, match="series code of skforecast"):
        RevINRegressor(step_order="newest_first").fit(X, y)
    model = RevINRegressor(
        step_order="newest_first", passthrough="_level_skforecast"
    ).fit(X, y)
    assert model.revin_.passthrough_.tolist() == [3]


def test_panel_windows_give_their_series_to_the_regressor_weights():
    """Check that pandas panel windows weigh by series without ``groups``.

    make_windows(id_col=...) indexes the windows by (series, time): "auto"
    is then "scale_free" over those series, the same fit as passing the
    first index level as groups; NumPy windows of the same panel are one
    series to the regressor.
    """
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frames = [
        pd.DataFrame(
            {
                "unique_id": name,
                "ds": np.arange(n),
                "y": level * (1 + 0.01 * rng.standard_normal(n).cumsum()),
            }
        )
        for name, n, level in [("a", 60, 5.0), ("b", 45, 300.0), ("c", 80, 1e4)]
    ]
    long_frame = pd.concat(frames, ignore_index=True)
    X, Y = make_windows(long_frame, 8, 2, id_col="unique_id", time_col="ds")

    model = RevINRegressor(Ridge()).fit(X, Y)
    by_hand = RevINRegressor(Ridge()).fit(
        X, Y, groups=X.index.get_level_values("unique_id")
    )
    as_arrays = RevINRegressor(Ridge()).fit(X.to_numpy(), Y.to_numpy())

    assert model.window_weights_ == "scale_free"
    assert as_arrays.window_weights_ == "scale"
    assert_allclose(model.predict(X), by_hand.predict(X), rtol=1e-12)
    assert not np.allclose(as_arrays.predict(X.to_numpy()), model.predict(X))
