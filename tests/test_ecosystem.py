"""RevIN inside the forecasting libraries: skforecast, sktime, mlforecast.

Each forecast made through a library's own forecaster is checked against the
same forecast built by hand with NumPy: the lag matrix the library builds,
normalized window by window, the other columns passed through raw, a Ridge
fitted on that and the forecast mapped back. The libraries come with the
``ecosystem`` extra (``pip install -e ".[ecosystem]"``). Without it these
tests skip with the reason, except where ``SKLEARN_REVIN_REQUIRE_ECOSYSTEM=1``
(CI's ecosystem step sets it), where a missing library is an error.
"""

import importlib
import os
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import Ridge

from sklearn_revin import RevINRegressor, RevINTransformer

pd = pytest.importorskip("pandas")

EPS = 1e-5
ALPHA = 0.3
N_LAGS = 12


def _series(n=160, seed=0):
    rng = np.random.RandomState(seed)
    t = np.arange(n, dtype=float)
    values = 0.4 * t + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(scale=0.5, size=n)
    index = pd.date_range("2000-01-01", periods=n, freq="MS")
    exog = pd.DataFrame({"temp": np.cos(2 * np.pi * t / 12) + 0.1 * t}, index=index)
    return pd.Series(values, index=index, name="y"), exog


def _statistics(window, center):
    """Location and scale of one window (oldest first), as RevIN computes them."""
    loc = window[-1] if center == "last" else window.mean()
    return loc, np.sqrt(max(window.var(), EPS))


def _normalized_row(window, extra, center):
    loc, scale = _statistics(window, center)
    return np.concatenate([(window - loc) / scale, extra]), loc, scale


def _fit_by_hand(windows, extras, targets, center):
    """Ridge on normalized windows and raw extras; targets normalized likewise.

    Each window weighs by its squared scale (over their mean): the error on the
    series' own scale, as RevINRegressor's default window_weights does.
    """
    rows, z, weights = [], [], []
    for window, extra, target in zip(windows, extras, targets, strict=True):
        row, loc, scale = _normalized_row(window, extra, center)
        rows.append(row)
        z.append((target - loc) / scale)
        weights.append(scale**2)
    weights = np.array(weights) / np.mean(weights)
    return Ridge(alpha=ALPHA).fit(np.array(rows), np.array(z), sample_weight=weights)


def _predict_by_hand(model, window, extra, center):
    row, loc, scale = _normalized_row(window, extra, center)
    return model.predict(row[None])[0] * scale + loc


def _library(name):
    if os.environ.get("SKLEARN_REVIN_REQUIRE_ECOSYSTEM") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=f'{name} comes with the "ecosystem" extra')


# --------------------------------------------------------------------- skforecast


@pytest.fixture
def skforecast():
    return _library("skforecast")


@pytest.mark.parametrize("center", ["mean", "last"])
def test_skforecast_forecaster_recursive_with_exog_and_window_features(
    skforecast, center
):
    """Check ForecasterRecursive against the recursive forecast built by hand.

    skforecast's columns: lag_1 ... lag_12 (newest first), the window feature,
    the exog column. Non-regression test: its reversed lag matrix crashed
    (negative strides) and center="last" subtracted the oldest value.
    """
    from skforecast.preprocessing import RollingFeatures
    from skforecast.recursive import ForecasterRecursive

    y, exog = _series()
    train, steps = 140, 6
    model = RevINRegressor(
        Ridge(alpha=ALPHA),
        step_order="newest_first",
        passthrough=[-2, -1],
        revin=RevINTransformer(center=center),
    )
    forecaster = ForecasterRecursive(
        model,
        lags=N_LAGS,
        window_features=RollingFeatures(stats=["mean"], window_sizes=6),
    )
    forecaster.fit(y[:train], exog=exog[:train])
    predicted = forecaster.predict(steps=steps, exog=exog[train : train + steps])

    values, temp = y.to_numpy(), exog["temp"].to_numpy()
    times = range(N_LAGS, train)
    hand = _fit_by_hand(
        [values[t - N_LAGS : t] for t in times],
        [[values[t - 6 : t].mean(), temp[t]] for t in times],
        [values[t] for t in times],
        center,
    )
    history = list(values[:train])
    for t in range(train, train + steps):
        window = np.array(history[-N_LAGS:])
        extra = [window[-6:].mean(), temp[t]]
        history.append(_predict_by_hand(hand, window, extra, center))
    assert_allclose(predicted.to_numpy(), history[train:], rtol=1e-8)


def test_skforecast_forecaster_direct_with_exog_and_window_features(skforecast):
    """Check ForecasterDirect (one model per step) against the forecast by hand."""
    from skforecast.direct import ForecasterDirect
    from skforecast.preprocessing import RollingFeatures

    y, exog = _series()
    train, steps = 140, 3
    model = RevINRegressor(
        Ridge(alpha=ALPHA), step_order="newest_first", passthrough=[-2, -1]
    )
    forecaster = ForecasterDirect(
        model,
        steps=steps,
        lags=N_LAGS,
        window_features=RollingFeatures(stats=["mean"], window_sizes=6),
    )
    forecaster.fit(y[:train], exog=exog[:train])
    predicted = forecaster.predict(exog=exog[train : train + steps])

    values, temp = y.to_numpy(), exog["temp"].to_numpy()
    times = range(N_LAGS, train - steps + 1)
    window = values[train - N_LAGS : train]
    expected = []
    for step in range(steps):
        hand = _fit_by_hand(
            [values[t - N_LAGS : t] for t in times],
            [[values[t - 6 : t].mean(), temp[t + step]] for t in times],
            [values[t + step] for t in times],
            "mean",
        )
        extra = [window[-6:].mean(), temp[train + step]]
        expected.append(_predict_by_hand(hand, window, extra, "mean"))
    assert_allclose(predicted.to_numpy(), expected, rtol=1e-8)


def test_skforecast_transformer_y_is_a_clear_error(skforecast):
    """Check that RevINTransformer as transformer_y says why and what to use."""
    from skforecast.recursive import ForecasterRecursive

    y, _ = _series()
    forecaster = ForecasterRecursive(
        Ridge(), lags=N_LAGS, transformer_y=RevINTransformer()
    )
    with pytest.raises(ValueError, match="use RevINRegressor"):
        forecaster.fit(y)


# ------------------------------------------------------------------------ sktime


@pytest.fixture
def sktime():
    return _library("sktime")


def test_sktime_make_reduction_recursive_with_exog(sktime):
    """Check make_reduction against the recursive forecast built by hand.

    sktime's columns: the window of y (oldest first), then the window of each
    exog column; the exog windows are passed through.
    """
    from sktime.forecasting.compose import make_reduction

    y, exog = _series()
    y.index = exog.index = y.index.to_period("M")
    train, steps = 140, 4
    model = RevINRegressor(Ridge(alpha=ALPHA), passthrough=list(range(N_LAGS, 24)))
    forecaster = make_reduction(model, window_length=N_LAGS, strategy="recursive")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sktime's remember_data
        forecaster.fit(y[:train], X=exog[:train])
        fh = np.arange(1, steps + 1)
        predicted = forecaster.predict(fh=fh, X=exog[train : train + steps])

    values, temp = y.to_numpy(), exog["temp"].to_numpy()
    times = range(N_LAGS, train)
    hand = _fit_by_hand(
        [values[t - N_LAGS : t] for t in times],
        [temp[t - N_LAGS : t] for t in times],
        [values[t] for t in times],
        "mean",
    )
    history = list(values[:train])
    for t in range(train, train + steps):
        window = np.array(history[-N_LAGS:])
        history.append(_predict_by_hand(hand, window, temp[t - N_LAGS : t], "mean"))
    assert_allclose(predicted.to_numpy(), history[train:], rtol=1e-8)


def test_sktime_tabular_to_series_adaptor_is_a_clear_error(sktime):
    """Check that TabularToSeriesAdaptor(RevINTransformer()) says why, not zeros."""
    from sktime.transformations.series.adapt import TabularToSeriesAdaptor

    y, _ = _series()
    with pytest.raises(ValueError, match="use RevINRegressor"):
        TabularToSeriesAdaptor(RevINTransformer()).fit_transform(y)


# -------------------------------------------------------------------- mlforecast


@pytest.fixture
def mlforecast():
    return _library("mlforecast")


def _long_frame():
    y, _ = _series()
    return pd.DataFrame({"unique_id": "co2", "ds": y.index, "y": y.to_numpy()})


def test_mlforecast_with_date_features(mlforecast):
    """Check MLForecast (lag1 ... lag12, newest first, and month) against by hand."""
    from mlforecast import MLForecast

    frame = _long_frame()
    train, steps = 140, 5
    model = RevINRegressor(
        Ridge(alpha=ALPHA),
        step_order="newest_first",
        passthrough=["month"],
        revin=RevINTransformer(center="last"),
    )
    forecaster = MLForecast(
        models={"revin": model},
        freq="MS",
        lags=range(1, N_LAGS + 1),
        date_features=["month"],
    )
    forecaster.fit(frame[:train])
    predicted = forecaster.predict(steps)["revin"].to_numpy()

    values = frame["y"].to_numpy()
    months = frame["ds"].dt.month.to_numpy()
    times = range(N_LAGS, train)
    hand = _fit_by_hand(
        [values[t - N_LAGS : t] for t in times],
        [[months[t]] for t in times],
        [values[t] for t in times],
        "last",
    )
    history = list(values[:train])
    for t in range(train, train + steps):
        window = np.array(history[-N_LAGS:])
        history.append(_predict_by_hand(hand, window, [months[t]], "last"))
    assert_allclose(predicted, history[train:], rtol=1e-8)


def test_mlforecast_lag_names_need_newest_first(mlforecast):
    """Check that mlforecast's lag1, lag2, ... are refused as oldest-first."""
    from mlforecast import MLForecast

    model = RevINRegressor(Ridge(), passthrough=["month"])
    forecaster = MLForecast(
        models={"revin": model},
        freq="MS",
        lags=range(1, N_LAGS + 1),
        date_features=["month"],
    )
    with pytest.raises(ValueError, match="step_order='newest_first'"):
        forecaster.fit(_long_frame())


def test_mlforecast_global_sklearn_transformer_is_a_clear_error(mlforecast):
    """Check that GlobalSklearnTransformer(RevINTransformer()) says why."""
    from mlforecast import MLForecast
    from mlforecast.target_transforms import GlobalSklearnTransformer

    forecaster = MLForecast(
        models={"ridge": Ridge()},
        freq="MS",
        lags=[1, 2],
        target_transforms=[GlobalSklearnTransformer(RevINTransformer())],
    )
    with pytest.raises(ValueError, match="use RevINRegressor"):
        forecaster.fit(_long_frame())


# ---------------------------------------------------------------- panels (issue 23)

PANEL_LAGS = 6


def _panel_series(lengths=(50, 60, 40), end="2009-12-01"):
    """Random walks of levels 10, 100, 1000, unequal lengths, a common end."""
    rng = np.random.RandomState(3)
    return {
        f"s{i}": pd.Series(
            10.0 ** (i + 1) + rng.normal(size=n).cumsum(),
            index=pd.date_range(end=end, periods=n, freq="MS"),
            name=f"s{i}",
        )
        for i, n in enumerate(lengths)
    }


def _recursive_by_hand(hand, values, steps, extra, center="mean"):
    history = list(values)
    for _ in range(steps):
        window = np.array(history[-PANEL_LAGS:])
        history.append(_predict_by_hand(hand, window, extra, center))
    return history[len(values) :]


def test_skforecast_multi_series_passes_the_level_column_through(skforecast):
    """Check ForecasterRecursiveMultiSeries with its level column passed through.

    skforecast's columns: lag_1 ... lag_6 (newest first), then
    ``_level_skforecast``, the series' code (ordinal encoding: sorted names).
    Normalized with the lags, the code would be a step of the window.
    """
    from skforecast.recursive import ForecasterRecursiveMultiSeries

    series, steps = _panel_series(), 4
    model = RevINRegressor(
        Ridge(alpha=ALPHA), step_order="newest_first", passthrough="_level_skforecast"
    )
    forecaster = ForecasterRecursiveMultiSeries(
        model, lags=PANEL_LAGS, encoding="ordinal", transformer_series=None
    )
    forecaster.fit(series)
    predicted = forecaster.predict(steps=steps)

    names = sorted(series)
    windows, extras, targets = [], [], []
    for code, name in enumerate(names):
        values = series[name].to_numpy()
        for t in range(PANEL_LAGS, len(values)):
            windows.append(values[t - PANEL_LAGS : t])
            extras.append([code])
            targets.append(values[t])
    hand = _fit_by_hand(windows, extras, targets, "mean")
    for code, name in enumerate(names):
        expected = _recursive_by_hand(hand, series[name].to_numpy(), steps, [code])
        got = predicted.loc[predicted["level"] == name, "pred"].to_numpy()
        assert_allclose(got, expected, rtol=1e-8)


def test_skforecast_multi_series_category_level_reaches_the_trees(skforecast):
    """Check encoding="ordinal_category": the level arrives as a category."""
    from skforecast.recursive import ForecasterRecursiveMultiSeries
    from sklearn.ensemble import HistGradientBoostingRegressor

    hgb = HistGradientBoostingRegressor(
        categorical_features="from_dtype", max_iter=20, random_state=0
    )
    model = RevINRegressor(
        hgb, step_order="newest_first", passthrough="_level_skforecast"
    )
    forecaster = ForecasterRecursiveMultiSeries(
        model, lags=PANEL_LAGS, encoding="ordinal_category", transformer_series=None
    )
    forecaster.fit(_panel_series())
    fitted = forecaster.estimator.regressor_
    assert fitted.is_categorical_.tolist() == [False] * PANEL_LAGS + [True]
    predicted = forecaster.predict(steps=3)
    assert np.isfinite(predicted["pred"].to_numpy()).all()


def test_mlforecast_panel_of_unequal_series(mlforecast):
    """Check MLForecast on a long panel (3 series, unequal lengths) against by hand."""
    from mlforecast import MLForecast

    series, steps = _panel_series(), 5
    frame = pd.concat(
        pd.DataFrame({"unique_id": name, "ds": s.index, "y": s.to_numpy()})
        for name, s in series.items()
    )
    model = RevINRegressor(Ridge(alpha=ALPHA), step_order="newest_first")
    forecaster = MLForecast(
        models={"revin": model}, freq="MS", lags=range(1, PANEL_LAGS + 1)
    )
    forecaster.fit(frame.sample(frac=1.0, random_state=0))
    predicted = forecaster.predict(steps)

    windows, targets = [], []
    for s in series.values():
        values = s.to_numpy()
        windows += [values[t - PANEL_LAGS : t] for t in range(PANEL_LAGS, len(values))]
        targets += [values[t] for t in range(PANEL_LAGS, len(values))]
    hand = _fit_by_hand(windows, [[]] * len(windows), targets, "mean")
    for name, s in series.items():
        expected = _recursive_by_hand(hand, s.to_numpy(), steps, [])
        rows = predicted[predicted["unique_id"] == name]
        assert_allclose(rows["revin"].to_numpy(), expected, rtol=1e-8)
        future = pd.date_range(s.index[-1], periods=steps + 1, freq="MS")[1:]
        assert_array_equal(rows["ds"].to_numpy(), future.to_numpy())


def test_sktime_global_reduction_over_a_panel(sktime):
    """Check make_reduction(pooling="global") on a (unique_id, ds) panel by hand.

    sktime's global lag columns are y_lag_1 ... y_lag_6, newest first. Its
    global reduction wants series of one length (sktime 1.2.0 forecasts a
    shorter series from a window of zeros), so the series here have one.
    """
    from sktime.forecasting.compose import make_reduction

    series, steps = _panel_series(lengths=(48, 48, 48)), 3
    y = pd.concat(
        pd.DataFrame(
            {"y": s.to_numpy()},
            index=pd.MultiIndex.from_arrays(
                [[name] * len(s), s.index.to_period("M")], names=["unique_id", "ds"]
            ),
        )
        for name, s in series.items()
    )
    # sktime pools the panel's rows under its (unique_id, ds) index, from
    # which "auto" would weigh by series ("scale_free"); the windows by hand
    # below weigh by their scale, as one series.
    model = RevINRegressor(
        Ridge(alpha=ALPHA), step_order="newest_first", window_weights="scale"
    )
    forecaster = make_reduction(
        model, window_length=PANEL_LAGS, strategy="recursive", pooling="global"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        forecaster.fit(y)
        predicted = forecaster.predict(fh=np.arange(1, steps + 1))

    windows, targets = [], []
    for s in series.values():
        values = s.to_numpy()
        windows += [values[t - PANEL_LAGS : t] for t in range(PANEL_LAGS, len(values))]
        targets += [values[t] for t in range(PANEL_LAGS, len(values))]
    hand = _fit_by_hand(windows, [[]] * len(windows), targets, "mean")
    for name, s in series.items():
        expected = _recursive_by_hand(hand, s.to_numpy(), steps, [])
        assert_allclose(predicted.loc[name, "y"].to_numpy(), expected, rtol=1e-8)


def test_skforecast_level_column_outside_passthrough_is_an_error(skforecast):
    """Check that skforecast's series code is recognised: never normalized as a lag."""
    from skforecast.recursive import ForecasterRecursiveMultiSeries

    model = RevINRegressor(Ridge(), step_order="newest_first")
    forecaster = ForecasterRecursiveMultiSeries(
        model, lags=PANEL_LAGS, encoding="ordinal", transformer_series=None
    )
    with pytest.raises(ValueError, match="passthrough='_level_skforecast'"):
        forecaster.fit(_panel_series())
