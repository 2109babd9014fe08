"""Tests of sklearn_revin.metrics: M4's sMAPE, MASE, OWA and Naive2."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sklearn_revin.metrics import mase, naive2_forecast, owa, smape


def read_m4_hourly(public_data):
    pd = pytest.importorskip("pandas")
    train = pd.read_csv(public_data("m4/Hourly-train.csv"), index_col=0)
    test = pd.read_csv(public_data("m4/Hourly-test.csv"), index_col=0)
    assert list(train.index) == list(test.index)
    return [row.dropna().to_numpy() for _, row in train.iterrows()], test.to_numpy()


def test_naive2_on_m4_hourly_gives_the_published_smape_and_mase(public_data):
    # The competition's published Naive2 on the 414 hourly series: 18.383, 2.395.
    train, test = read_m4_hourly(public_data)
    assert len(train) == 414
    assert test.shape == (414, 48)
    forecast = naive2_forecast(train, 48, seasonality=24)
    assert round(smape(test, forecast), 3) == 18.383
    assert round(mase(test, forecast, train, seasonality=24), 3) == 2.395
    assert owa(
        smape(test, forecast),
        mase(test, forecast, train, seasonality=24),
        naive2_smape=18.383,
        naive2_mase=2.395,
    ) == pytest.approx(1.0, abs=1e-3)


def test_a_slice_of_m4_scores_as_the_mean_of_its_series(public_data):
    train, test = read_m4_hourly(public_data)
    rows = [0, 1, 200, 413]
    train_slice, test_slice = [train[k] for k in rows], test[rows]
    forecast = naive2_forecast(train_slice, 48, seasonality=24)
    assert_allclose(forecast, naive2_forecast(train, 48, seasonality=24)[rows])
    per_series = [
        (
            smape(test_slice[k], forecast[k]),
            mase(test_slice[k], forecast[k], s, seasonality=24),
        )
        for k, s in enumerate(train_slice)
    ]
    assert smape(test_slice, forecast) == pytest.approx(
        np.mean([p[0] for p in per_series])
    )
    assert mase(test_slice, forecast, train_slice, seasonality=24) == pytest.approx(
        np.mean([p[1] for p in per_series])
    )
    # The seasonal naive scale by hand for the first series.
    x = train_slice[0]
    by_hand = np.mean([abs(x[t] - x[t - 24]) for t in range(24, len(x))])
    assert mase(test_slice[0], forecast[0], x, seasonality=24) == pytest.approx(
        np.mean(np.abs(test_slice[0] - forecast[0])) / by_hand
    )


def test_smape_by_hand():
    # 200 * 10 / 210 and 200 * 20 / 380, averaged.
    expected = (2000 / 210 + 4000 / 380) / 2
    assert smape([100.0, 200.0], [110.0, 180.0]) == pytest.approx(expected)
    assert smape([1.0, -1.0], [-1.0, 1.0]) == pytest.approx(200.0)
    assert smape([0.0], [0.0]) == 0.0


def test_smape_of_series_of_unequal_horizons_is_the_mean_of_the_series():
    y_true = [np.array([1.0, 2.0, 3.0]), np.array([5.0])]
    y_pred = [np.array([1.0, 2.0, 4.0]), np.array([4.0])]
    assert smape(y_true, y_pred) == pytest.approx(
        (smape(y_true[0], y_pred[0]) + smape(y_true[1], y_pred[1])) / 2
    )


def test_mase_by_hand():
    train = [10.0, 20.0, 30.0, 12.0, 22.0, 32.0]  # |x_t - x_{t-3}| = 2
    assert mase([40.0, 10.0], [36.0, 10.0], train, seasonality=3) == pytest.approx(1.0)
    # seasonality=1: mean |diff| of [1, 2, 4] = (1 + 2) / 2
    assert mase([5.0], [8.0], [1.0, 2.0, 4.0]) == pytest.approx(2.0)


def test_mase_errors_name_the_series():
    with pytest.raises(ValueError, match="Series 1 repeats itself every 2"):
        mase(
            [[1.0], [1.0]],
            [[1.0], [1.0]],
            [[1.0, 2.0, 3.0], [1.0, 2.0, 1.0, 2.0]],
            seasonality=2,
        )
    with pytest.raises(ValueError, match="Series 0 has 2 training value"):
        mase([1.0], [1.0], [1.0, 2.0], seasonality=2)
    with pytest.raises(ValueError, match="y_train holds 1 series, y_true 2"):
        mase([[1.0], [2.0]], [[1.0], [2.0]], [1.0, 2.0, 3.0])


def test_mismatched_shapes_are_an_error():
    with pytest.raises(ValueError, match="same series and horizons"):
        smape([1.0, 2.0], [1.0])


def test_owa_of_the_m4_winner():
    # Smyl's ES-RNN on Hourly: sMAPE 9.328, MASE 0.893, OWA 0.440 (published).
    assert round(owa(9.328, 0.893, naive2_smape=18.383, naive2_mase=2.395), 3) == 0.440
    with pytest.raises(ValueError, match="must be positive"):
        owa(1.0, 1.0, naive2_smape=0.0, naive2_mase=1.0)


def test_naive2_without_season_is_the_naive():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=200) + 50
    assert_allclose(
        naive2_forecast(noise, 5, seasonality=24), np.full((1, 5), noise[-1])
    )
    short = np.tile([1.0, 5.0], 20)  # seasonal, but shorter than 3 seasons of 24
    assert_allclose(naive2_forecast(short, 3, seasonality=24), [[5.0, 5.0, 5.0]])


def test_naive2_repeats_a_multiplicative_season():
    profile = np.array([1.0, 3.0, 2.0, 0.5, 1.5, 1.0])
    series = 100 * np.tile(profile / profile.mean(), 12)
    forecast = naive2_forecast(series, 9, seasonality=6)
    # The season continues where the series stops.
    assert_allclose(forecast[0], np.resize(series[:6], 9), rtol=1e-12)


finite = st.floats(0.1, 1e6, allow_nan=False, allow_infinity=False)


@given(
    st.lists(st.tuples(finite, finite), min_size=1, max_size=30),
    st.floats(1e-3, 1e3),
)
def test_smape_is_bounded_symmetric_and_scale_free(pairs, factor):
    y_true, y_pred = np.array(pairs).T
    value = smape(y_true, y_pred)
    assert 0.0 <= value <= 200.0
    assert value == pytest.approx(smape(y_pred, y_true))
    assert value == pytest.approx(smape(factor * y_true, factor * y_pred), abs=1e-9)


@given(
    st.lists(finite, min_size=8, max_size=40),
    st.lists(st.tuples(finite, finite), min_size=1, max_size=10),
    st.floats(1e-3, 1e3),
    st.floats(-1e3, 1e3),
    st.integers(1, 4),
)
def test_mase_is_invariant_to_scale_and_shift(train, pairs, factor, shift, m):
    train = np.array(train)
    y_true, y_pred = np.array(pairs).T
    assume(np.mean(np.abs(train[m:] - train[:-m])) > 1e-3)
    value = mase(y_true, y_pred, train, seasonality=m)
    moved = mase(
        factor * y_true + shift,
        factor * y_pred + shift,
        factor * train + shift,
        seasonality=m,
    )
    assert value >= 0.0
    assert moved == pytest.approx(value, rel=1e-6, abs=1e-9)
    assert mase(y_true, y_true, train, seasonality=m) == 0.0
