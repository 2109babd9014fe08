"""to_long_forecast: wide panel forecasts as (unique_id, ds, model), future times."""

import datetime

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_revin import RevINRegressor, make_windows, to_long_forecast

pd = pytest.importorskip("pandas")


def _panel(freq="h"):
    """Three random walks of unequal lengths and levels, rows shuffled."""
    rng = np.random.default_rng(1)
    parts = [
        pd.DataFrame(
            {
                "unique_id": uid,
                "ds": pd.date_range("2022-05-01", periods=n, freq=freq),
                "y": level + rng.normal(size=n).cumsum(),
            }
        )
        for uid, n, level in [("b", 40, 50.0), ("a", 33, 900.0), ("c", 51, 5.0)]
    ]
    return pd.concat(parts).sample(frac=1.0, random_state=0)


def _expected(panel, forecast_rows, horizon, freq):
    """The long frame built by hand: each series' last time plus h steps."""
    rows = []
    for uid in sorted(panel["unique_id"].unique()):
        last = panel.loc[panel["unique_id"] == uid, "ds"].max()
        for h in range(1, horizon + 1):
            rows.append((uid, last + h * pd.tseries.frequencies.to_offset(freq)))
    keys = pd.DataFrame(rows, columns=["unique_id", "ds"])
    values = np.concatenate(
        [
            forecast_rows.loc[uid].to_numpy().ravel()
            for uid in keys["unique_id"].unique()
        ]
    )
    return keys, values


@pytest.mark.parametrize("freq", ["h", "MS"])
def test_pandas_forecast_gets_future_timestamps(freq):
    """Check the long frame of a pandas forecast: ids, future times, values."""
    panel = _panel(freq)
    X, Y = make_windows(panel, 12, 4, id_col="unique_id", time_col="ds")
    X_last, _ = make_windows(panel, 12, 0, id_col="unique_id", time_col="ds")
    wide = RevINRegressor().fit(X, Y).predict(X_last)
    forecast = to_long_forecast(wide, freq=freq)
    keys, values = _expected(panel, wide, 4, freq)
    assert list(forecast.columns) == ["unique_id", "ds", "RevINRegressor"]
    assert_array_equal(forecast["unique_id"].to_numpy(), keys["unique_id"].to_numpy())
    assert_array_equal(forecast["ds"].to_numpy(), keys["ds"].to_numpy())
    assert_allclose(forecast["RevINRegressor"].to_numpy(), values)


def test_polars_forecast_takes_keys_from_x():
    """Check polars: keys=X (id and time columns), a duration string or timedelta."""
    pl = pytest.importorskip("polars")
    panel = _panel()
    X, Y = make_windows(pl.from_pandas(panel), 6, 3, id_col="unique_id", time_col="ds")
    X_last, _ = make_windows(
        pl.from_pandas(panel), 6, 0, id_col="unique_id", time_col="ds"
    )
    # polars windows carry their series as a column: groups says it.
    groups = X.get_column("unique_id").to_numpy()
    model = RevINRegressor().fit(X.drop("unique_id", "ds"), Y, groups=groups)
    wide = model.predict(X_last.drop("unique_id", "ds"))
    by_string = to_long_forecast(wide, X_last, freq="1h", name="ridge")
    by_delta = to_long_forecast(
        wide, X_last, freq=datetime.timedelta(hours=1), name="ridge"
    )
    assert by_string.equals(by_delta)
    assert by_string.columns == ["unique_id", "ds", "ridge"]
    wide_pd = RevINRegressor().fit(
        *make_windows(panel, 6, 3, id_col="unique_id", time_col="ds")
    )
    reference = to_long_forecast(
        wide_pd.predict(
            make_windows(panel, 6, 0, id_col="unique_id", time_col="ds")[0]
        ),
        freq="h",
        name="ridge",
    )
    assert (
        by_string.get_column("unique_id").to_list() == reference["unique_id"].tolist()
    )
    assert_array_equal(
        by_string.get_column("ds").to_numpy(), reference["ds"].to_numpy()
    )
    assert_allclose(
        by_string.get_column("ridge").to_numpy(), reference["ridge"].to_numpy()
    )


def test_integer_times_and_several_targets():
    """Check integer times (freq=None means 1) and one column per target variate."""
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(
        {
            "unique_id": np.repeat([7, 3], 20),
            "ds": np.tile(np.arange(100, 120), 2),
            "y": rng.normal(size=40).cumsum(),
            "x": rng.normal(size=40).cumsum(),
        }
    )
    X, Y = make_windows(panel, 5, 2, id_col="unique_id", time_col="ds")
    X_last, _ = make_windows(panel, 5, 0, id_col="unique_id", time_col="ds")
    wide = RevINRegressor().fit(X, Y).predict(X_last)
    forecast = to_long_forecast(wide, name="m")
    assert list(forecast.columns) == ["unique_id", "ds", "m[y]", "m[x]"]
    assert forecast["unique_id"].tolist() == [3, 3, 7, 7]
    assert forecast["ds"].tolist() == [120, 121, 120, 121]
    assert_allclose(
        forecast["m[x]"].to_numpy()[:2],
        wide.loc[3][["x[t+1]", "x[t+2]"]].to_numpy().ravel(),
    )


def test_missing_keys_and_freq_are_errors():
    """Check the errors: no keys, rows that do not match, dates without freq."""
    panel = _panel()
    X, Y = make_windows(panel, 6, 2, id_col="unique_id", time_col="ds")
    X_last, _ = make_windows(panel, 6, 0, id_col="unique_id", time_col="ds")
    wide = RevINRegressor().fit(X, Y).predict(X_last)
    with pytest.raises(ValueError, match="freq is needed"):
        to_long_forecast(wide)
    with pytest.raises(ValueError, match=r"series and the time of each row"):
        to_long_forecast(wide.to_numpy(), freq="h")
    with pytest.raises(ValueError, match=r"y_pred has 3 row\(s\) but keys has 2"):
        to_long_forecast(wide.to_numpy(), X_last.iloc[:2], freq="h")
