"""Tests of dask input: lazy, row-parallel RevIN on a real distributed cluster.

Every result computed on the cluster is compared exactly with the in-memory
result of the same estimator method on the same data.
"""

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from sklearn_revin import RevINRegressor, RevINTransformer, make_windows

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

from sklearn_revin import _dask  # noqa: E402

WORKER_MEMORY = 1024**3


@pytest.fixture(scope="module")
def client(local_cluster):
    """A two-process LocalCluster with one thread and 1 GiB per worker."""
    return local_cluster(n_workers=2, memory_limit=WORKER_MEMORY)


def compute(client, *collections):
    """Compute on the cluster, checking that it is the scheduler in use."""
    assert dask.base.get_scheduler() == client.get
    return dask.compute(*collections)


def windows(rng, shape, *, dtype=np.float64, nan_fraction=0.02):
    """Windows of random level and scale, with NaN holes."""
    level = rng.uniform(-100, 100, size=(shape[0],) + (1,) * (len(shape) - 1))
    X = level + rng.lognormal(size=level.shape) * rng.normal(size=shape)
    X[rng.uniform(size=shape) < nan_fraction] = np.nan
    return X.astype(dtype)


def make_transformer(n_variates=3):
    return RevINTransformer(
        n_variates=n_variates, gamma=[1.5, -0.7, 0.3], beta=[0.1, 0.0, -2.0]
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((61, 12), (10, 12)),  # rows chunked, one column chunk
        ((61, 12), (17, 5)),  # columns chunked too: rechunked to one
        ((61, 3, 4), (9, 2, 3)),  # 3-D
    ],
)
def test_transform_dask_matches_in_memory(
    client, global_random_seed, dtype, shape, chunks
):
    """Check transform, fit_transform and fitted statistics against NumPy input."""
    rng = np.random.RandomState(global_random_seed)
    X = windows(rng, shape, nan_fraction=0.0 if dtype is np.int64 else 0.02)
    X = (X * 10).astype(dtype)
    X_dask = da.from_array(X, chunks=chunks)
    reference = make_transformer()
    expected = reference.fit_transform(X)

    revin = make_transformer()
    fitted_output = revin.fit_transform(X_dask)
    transformed = revin.transform(X_dask)

    for output in (fitted_output, transformed, revin.transform(X_dask)):
        assert isinstance(output, da.Array)
        assert output.chunks[0] == X_dask.chunks[0]
        assert output.dtype == expected.dtype
    assert isinstance(revin.mean_, da.Array)
    assert isinstance(revin.scale_, da.Array)
    Z_fit, Z, mean, scale = compute(
        client, fitted_output, transformed, revin.mean_, revin.scale_
    )
    assert_array_equal(Z_fit, expected)
    assert_array_equal(Z, expected)
    assert_array_equal(mean, reference.mean_)
    assert_array_equal(scale, reference.scale_)
    assert revin.n_features_in_ == reference.n_features_in_
    assert (revin.n_variates_, revin.n_steps_) == (3, 4)
    assert_array_equal(revin.gamma_, reference.gamma_)
    assert_array_equal(revin.beta_, reference.beta_)


def test_transform_dask_agrees_with_numpy_formula(client, global_random_seed):
    """Check the cluster's output against an independent NumPy RevIN."""
    from conftest import numpy_revin

    rng = np.random.RandomState(global_random_seed)
    X = windows(rng, (40, 2, 6))
    Z = compute(client, RevINTransformer().fit_transform(da.from_array(X, (7, 2, 6))))
    expected, _, _ = numpy_revin(X)
    assert_allclose(Z[0], expected, rtol=1e-10, atol=1e-10)


def test_instance_statistics_dask_matches_in_memory(client, global_random_seed):
    """Check that instance_statistics of dask X is lazy and equals NumPy's."""
    rng = np.random.RandomState(global_random_seed)
    X = windows(rng, (50, 12))
    revin = make_transformer().fit(X[:5])
    expected = revin.instance_statistics(X)

    statistics = revin.instance_statistics(da.from_array(X, chunks=(8, 6)))

    assert type(statistics) is type(expected)
    assert isinstance(statistics.mean, da.Array)
    assert statistics.mean.shape == expected.mean.shape
    assert statistics.mean.chunks[0] == (8,) * 6 + (2,)
    mean, scale = compute(client, statistics.mean, statistics.scale)
    assert_array_equal(mean, expected.mean)
    assert_array_equal(scale, expected.scale)


@pytest.mark.parametrize("fit_on", ["dask", "numpy"])
@pytest.mark.parametrize("y_chunks", [(11, 4), (7, 8)])
def test_inverse_transform_dask_matches_in_memory(
    client, global_random_seed, fit_on, y_chunks
):
    """Check the inverse of a dask forecast with fitted statistics of either kind."""
    rng = np.random.RandomState(global_random_seed)
    X = windows(rng, (44, 12))
    Y = rng.normal(size=(44, 8))  # horizon 4 of variates 2 and 0
    reference = make_transformer().fit(X)
    expected = reference.inverse_transform(Y, variates=[2, 0])

    revin = make_transformer()
    revin.fit(da.from_array(X, chunks=(10, 12)) if fit_on == "dask" else X)
    restored = revin.inverse_transform(
        da.from_array(Y, chunks=y_chunks), variates=[2, 0]
    )

    assert isinstance(restored, da.Array)
    (result,) = compute(client, restored)
    assert_array_equal(result, expected)


def test_inverse_transform_dask_with_new_statistics(client, global_random_seed):
    """Check normalize_with and inverse_transform with statistics of new dask data."""
    rng = np.random.RandomState(global_random_seed)
    X_train, X_new = windows(rng, (20, 2, 5)), windows(rng, (33, 2, 5))
    Y_new = rng.normal(size=(33, 1, 3))
    revin = RevINTransformer().fit(X_train)
    statistics = revin.instance_statistics(X_new)
    expected_z = revin.normalize_with(Y_new, statistics, variates=[1])
    expected = revin.inverse_transform(expected_z, statistics=statistics, variates=[1])

    X_dask = da.from_array(X_new, chunks=(10, 2, 5))
    dask_statistics = revin.instance_statistics(X_dask)
    Y_dask = da.from_array(Y_new, chunks=(6, 1, 3))
    Z = revin.normalize_with(Y_dask, dask_statistics, variates=[1])
    restored = revin.inverse_transform(Z, statistics=dask_statistics, variates=[1])

    Z, restored = compute(client, Z, restored)
    assert_array_equal(Z, expected_z)
    assert_array_equal(restored, expected)
    assert_allclose(restored, Y_new, rtol=1e-12, atol=1e-12)


@settings(max_examples=8, deadline=None)
@given(
    n_rows=st.integers(1, 30),
    n_variates=st.integers(1, 3),
    n_steps=st.integers(2, 6),  # one column of one step is refused
    row_chunk=st.integers(1, 30),
    column_chunk=st.integers(1, 18),
    float32=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_dask_any_chunking(
    client, n_rows, n_variates, n_steps, row_chunk, column_chunk, float32, seed
):
    """Check fit_transform then inverse_transform for any chunking of dask X."""
    rng = np.random.RandomState(seed)
    dtype = np.float32 if float32 else np.float64
    X = windows(rng, (n_rows, n_variates * n_steps), dtype=dtype)
    revin = RevINTransformer(n_variates=n_variates)
    expected_z = clone(revin).fit_transform(X)

    X_dask = da.from_array(X, chunks=(row_chunk, column_chunk))
    Z = revin.fit_transform(X_dask)
    restored = revin.inverse_transform(Z)

    Z, restored = compute(client, Z, restored)
    assert_array_equal(Z, expected_z)
    assert_array_equal(restored, clone(revin).fit(X).inverse_transform(expected_z))
    assert_allclose(restored, X, rtol=1e-3 if float32 else 1e-9, atol=1e-3)


def test_dask_blocks_are_never_written_in_place(client, global_random_seed):
    """Check that copy=False never writes into a block another task also reads."""
    rng = np.random.RandomState(global_random_seed)
    X = windows(rng, (30, 8))
    revin = RevINTransformer(copy=False).fit(X[:2].copy())
    X_dask = da.from_array(X, chunks=(10, 8)) + 0.0  # blocks of a task's output

    # In-process, where two tasks that read one block get the same object.
    X_back, Z, _ = dask.compute(
        X_dask,
        revin.transform(X_dask),
        revin.inverse_transform(X_dask[:2]),
        scheduler="sync",
    )

    assert_array_equal(X_back, X)
    assert_array_equal(Z, RevINTransformer().fit(X[:2]).transform(X))


def _never_computed(block):
    raise AssertionError("a block was computed by a method that must stay lazy")


def test_dask_methods_compute_nothing(client):
    """Check that every method on dask input builds a graph and computes nothing."""
    X = da.zeros((40, 6), chunks=(10, 6)).map_blocks(_never_computed, dtype=float)
    revin = RevINTransformer(n_variates=2)

    Z = revin.fit_transform(X)
    revin.fit(X)
    outputs = [
        Z,
        revin.transform(X),
        *revin.instance_statistics(X),
        revin.inverse_transform(X[:, :2], variates=[0]),
        revin.normalize_with(X[:, :2], revin.instance_statistics(X), variates=[1]),
    ]
    model = RevINRegressor(Ridge(), n_variates=2, target_variates=0).fit(
        np.ones((4, 6)), np.ones(4)
    )
    outputs.append(model.predict(X))
    assert all(isinstance(output, da.Array) for output in outputs)
    with pytest.raises(AssertionError, match="must stay lazy"):
        compute(client, Z)


@pytest.mark.parametrize(
    ("regressor", "y_shape"),
    [
        (Ridge(alpha=0.5), (1,)),
        (Ridge(alpha=0.5), (6,)),
        (RandomForestRegressor(n_estimators=5, random_state=0), (2, 3)),
    ],
)
def test_regressor_predict_dask_matches_in_memory(
    client, global_random_seed, regressor, y_shape
):
    """Check fitting on a sample and predicting lazily over all dask windows."""
    rng = np.random.RandomState(global_random_seed)
    series = np.cumsum(rng.normal(size=(600, 2)), axis=0) + np.array([100.0, -30.0])
    n_targets, horizon = (1, y_shape[0]) if len(y_shape) == 1 else y_shape
    target = [0] if n_targets == 1 else [0, 1]
    X, Y = make_windows(series, window=12, horizon=horizon, target=target)
    y = Y.ravel() if y_shape == (1,) else Y
    model = RevINRegressor(regressor, n_variates=2, target_variates=target)
    model.fit(X[:200], y[:200])
    expected = model.predict(X)

    predicted = model.predict(da.from_array(X, chunks=(100, 24)))

    assert isinstance(predicted, da.Array)
    assert predicted.shape == expected.shape
    (result,) = compute(client, predicted)
    assert_array_equal(result, expected)


@pytest.mark.parametrize(
    ("n_variates", "window", "horizon", "step", "target"),
    [(1, 8, 2, 1, None), (3, 5, 3, 2, [2, 0]), (2, 20, 4, 3, 1)],
)
def test_make_windows_dask_matches_in_memory(
    client, global_random_seed, n_variates, window, horizon, step, target
):
    """Check windows cut across chunk boundaries, with tiny output chunks."""
    rng = np.random.RandomState(global_random_seed)
    series = rng.normal(size=(307, n_variates))
    expected_X, expected_Y = make_windows(
        series, window, horizon, step=step, target=target
    )

    with dask.config.set({"array.chunk-size": "4KiB"}):
        X, Y = make_windows(
            da.from_array(series, chunks=(23, 1)),
            window,
            horizon,
            step=step,
            target=target,
        )

    assert isinstance(X, da.Array)
    assert X.numblocks[0] > 3  # the windows span several chunks
    X, Y = compute(client, X, Y)
    assert_array_equal(X, expected_X)
    assert_array_equal(Y, expected_Y)


@pytest.mark.parametrize("horizon", [4, 96])
def test_make_windows_dask_blocks_stay_near_the_chunk_size(horizon):
    """Check a block of windows of many variates is about array.chunk-size.

    Its size must not grow with the window or the horizon: blocks cut from
    time chunks at least as long as the overlap held window + horizon windows
    (7.7 GiB each for Traffic at horizon 720).
    """
    series = np.arange(600.0 * 40).reshape(600, 40)
    window = 48
    with dask.config.set({"array.chunk-size": "64KiB"}):
        X, Y = make_windows(da.from_array(series, chunks=(100, 40)), window, horizon)
    row_bytes = 8 * 40 * (window + horizon)
    assert max(X.chunks[0]) == max(1, 64 * 1024 // row_bytes)
    expected_X, expected_Y = make_windows(series, window, horizon)
    assert_array_equal(X.compute(scheduler="sync"), expected_X)
    assert_array_equal(Y.compute(scheduler="sync"), expected_Y)


def test_make_windows_dask_dataframe_by_column_name(client):
    """Check a dask DataFrame with targets named by column."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"co2": np.arange(50.0), "temp": -(np.arange(50.0) ** 2)})
    expected_X, expected_Y = make_windows(frame.to_numpy(), 6, 2, target=[1])

    X, Y = make_windows(dd.from_pandas(frame, npartitions=4), 6, 2, target="temp")

    X, Y = compute(client, X, Y)
    assert_array_equal(X, expected_X)
    assert_array_equal(Y, expected_Y)


def test_make_windows_dask_short_series_is_the_in_memory_error(client):
    """Check that a dask series shorter than one span raises the in-memory error."""
    with pytest.raises(ValueError, match=re.escape("window + horizon = 8 + 2 = 10")):
        make_windows(da.zeros(9, chunks=3), 8, 2)


def test_row_chunk_larger_than_worker_memory_is_a_clear_error(client):
    """Check the message for a row chunk that cannot fit a worker, and its advice."""
    limit, where = _dask.memory_per_task()
    assert limit == WORKER_MEMORY
    assert "dask workers" in where
    # 20,000 rows x 10,000 columns in column chunks: one row chunk of 1.5 GiB
    # once the columns are put together, in a 1 GiB worker.
    X = da.zeros((40_000, 10_000), chunks=(20_000, 1_000))
    revin = RevINTransformer().fit(np.zeros((1, 10_000)))

    message = (
        "A row chunk of X holds up to 20000 rows of 10000 values (1.5 GiB) once "
        "its columns are in one chunk"
    )
    for method in (revin.transform, revin.instance_statistics, revin.fit_transform):
        with pytest.raises(ValueError, match=re.escape(message)) as error:
            method(X)
    advice = re.search(r"X\.rechunk\(\{0: (\d+), 1: -1\}\)", str(error.value))
    assert advice is not None
    rows = int(advice.group(1))
    assert rows >= 1
    assert rows * 10_000 * 8 * _dask.WORKING_SET_FACTOR <= limit
    assert isinstance(revin.transform(X.rechunk({0: rows, 1: -1})), da.Array)


@pytest.mark.parametrize("method", ["fit", "transform", "inverse_transform"])
def test_dask_dataframe_is_a_clear_error(client, method):
    """Check that a dask DataFrame is refused with the way to convert it."""
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(np.ones((8, 4))), npartitions=2)
    revin = RevINTransformer().fit(np.ones((2, 4)))
    with pytest.raises(ValueError, match=re.escape("X.to_dask_array(lengths=True)")):
        getattr(revin, method)(frame)


def test_dask_input_errors_match_in_memory(client):
    """Check that layout errors of dask input are the in-memory messages."""
    revin = RevINTransformer(n_variates=2).fit(np.ones((3, 6)))
    X_wide = da.ones((10, 8), chunks=5)
    with pytest.raises(ValueError, match="is expecting 6 features") as in_memory:
        revin.transform(np.ones((10, 8)))
    with pytest.raises(ValueError, match="is expecting 6 features") as on_dask:
        revin.transform(X_wide)
    assert str(on_dask.value) == str(in_memory.value)

    with pytest.raises(ValueError, match=r"X has 10 instance\(s\) \(rows\), but the"):
        revin.inverse_transform(da.ones((10, 2), chunks=5))
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        revin.transform(da.ones((0, 6), chunks=5))
    unknown_rows = da.ones((10, 2), chunks=5)[da.ones(10, chunks=5) > 0]
    with pytest.raises(ValueError, match=re.escape("X.compute_chunk_sizes()")):
        revin.inverse_transform(unknown_rows)


def test_transformer_fitted_on_dask_pickles(client, global_random_seed):
    """Check that a transformer with lazy statistics pickles and computes after."""
    rng = np.random.RandomState(global_random_seed)
    X = windows(rng, (30, 4))
    revin = RevINTransformer().fit(da.from_array(X, chunks=(8, 4)))
    expected = RevINTransformer().fit(X).mean_

    restored = pickle.loads(pickle.dumps(revin))

    (mean,) = compute(client, restored.mean_)
    assert_array_equal(mean, expected)


def test_numpy_input_does_not_import_dask():
    """Check that sklearn_revin never imports dask for in-memory input."""
    code = (
        "import sys, numpy as np; import sklearn_revin as s; "
        "r = s.RevINTransformer(); "
        "r.inverse_transform(r.fit_transform(np.ones((2, 3)))); "
        "s.make_windows(np.arange(9.0), 3, 1); "
        "assert not any(m == 'dask' or m.startswith(('dask.', 'distributed')) "
        "for m in sys.modules), sorted(m for m in sys.modules if 'dask' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_dask_predict_uses_only_the_public_predict(client, global_random_seed):
    """Check that the lazy predict maps any row-wise estimator's public predict.

    _dask is given the estimator and calls nothing private of it: a plain
    scikit-learn Ridge works the same as RevINRegressor.
    """
    rng = np.random.RandomState(global_random_seed)
    X, y = rng.normal(size=(90, 5)), rng.normal(size=(90, 2))
    ridge = Ridge().fit(X, y)

    predicted = _dask.predict(ridge, da.from_array(X, chunks=(20, 5)))

    (result,) = compute(client, predicted)
    assert_allclose(result, ridge.predict(X), rtol=1e-12)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"window": 0, "horizon": 1}, "window must be an integer >= 1; got 0."),
        ({"window": 2, "horizon": 1.5}, "horizon must be an integer >= 0; got 1.5."),
        ({"window": 2, "horizon": 1, "step": 0}, "step must be an integer >= 1"),
        ({"window": 2, "horizon": 1, "target": 3}, "target 3 is out of range"),
    ],
)
def test_make_windows_dask_argument_errors_are_the_in_memory_errors(
    client, arguments, message
):
    """Check that bad arguments fail before any dask work, as for NumPy."""
    series = np.arange(20.0).reshape(10, 2)
    for data in (series, da.from_array(series, chunks=(4, 2))):
        with pytest.raises(ValueError, match=re.escape(message)):
            make_windows(data, **arguments)


def test_dask_blocks_of_a_reversed_view_match_in_memory(client, global_random_seed):
    """Check blocks with negative strides (from_array of a reversed view)."""
    rng = np.random.RandomState(global_random_seed)
    base = windows(rng, (40, 6))
    X = base[::-1, ::-1]
    revin = RevINTransformer(n_variates=2).fit(X)

    Z = revin.transform(da.from_array(X, chunks=(7, 6)))
    back = revin.inverse_transform(Z)

    Z, back = compute(client, Z, back)
    assert_array_equal(Z, revin.transform(X))
    assert_allclose(back, X, rtol=1e-10)


class _GenericRidge(Ridge):
    """A subclass of Ridge: fitted by Ridge.fit in memory, the reference."""


@pytest.mark.parametrize("channel_independent", [True, False])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_regressor_fit_dask_equals_ridge_in_memory(
    client, global_random_seed, channel_independent, fit_intercept, weighted
):
    """Check the dask fit (statistics reduced on the cluster) against Ridge.fit."""
    rng = np.random.RandomState(global_random_seed)
    series = np.cumsum(rng.normal(size=(900, 3)), axis=0) + np.array([50.0, -3.0, 7.0])
    X, Y = make_windows(series, window=24, horizon=5)
    weight = rng.uniform(0.2, 2.0, len(X)) if weighted else None
    ridge = Ridge(alpha=0.7, fit_intercept=fit_intercept)
    params = dict(n_variates=3, channel_independent=channel_independent)
    X_dask, Y_dask = make_windows(
        da.from_array(series, chunks=(200, -1)), window=24, horizon=5
    )

    model = RevINRegressor(ridge, **params).fit(X_dask, Y_dask, sample_weight=weight)
    reference = RevINRegressor(_GenericRidge(**ridge.get_params()), **params).fit(
        X, Y, sample_weight=weight
    )

    assert len(model.regressors_) == len(reference.regressors_)
    for got, want in zip(model.regressors_, reference.regressors_, strict=True):
        scale = np.max(np.abs(want.coef_))
        assert_allclose(got.coef_, want.coef_, rtol=1e-8, atol=1e-8 * scale)
        assert_allclose(got.intercept_, want.intercept_, rtol=1e-8, atol=1e-10)
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-8)


def test_regressor_fit_dask_on_windows_larger_than_a_worker(client):
    """Check a fit on dask windows that do not fit one worker's memory whole.

    The windows (1.1 GiB of float64, built lazily by make_windows from a
    series generated on the workers) exceed the 1 GiB limit of each worker:
    the sufficient statistics are reduced block by block, and equal the
    in-memory fit from the same statistics on make_windows' NumPy view (which
    copies nothing).
    """
    steps = da.random.default_rng(0).standard_normal((20_000, 360), chunks=(2_000, -1))
    series = steps.cumsum(axis=0)
    # At dask's default 128 MiB blocks, the workers of one CI run passed the
    # nanny's 95% of 1 GiB on a block's task, four times; 32 MiB leaves room.
    with dask.config.set({"array.chunk-size": "32MiB"}):
        X_dask, Y_dask = make_windows(series, window=16, horizon=4)
    assert X_dask.nbytes + Y_dask.nbytes > WORKER_MEMORY
    model = RevINRegressor(Ridge(), n_variates=360, channel_independent=True)

    model.fit(X_dask, Y_dask)

    (series_in_memory,) = compute(client, series)
    X, Y = make_windows(series_in_memory, window=16, horizon=4)
    reference = clone(model).fit(X, Y)
    # 7 million rows added in another order: rounding of 1e-9 relative to the
    # largest coefficient.
    coef = reference.regressor_.coef_
    assert_allclose(
        model.regressor_.coef_, coef, rtol=1e-8, atol=1e-8 * np.max(np.abs(coef))
    )
    assert_allclose(
        model.regressor_.intercept_, reference.regressor_.intercept_, atol=1e-8
    )


def test_regressor_fit_dask_without_an_out_of_core_route_warns(client):
    """Check that a dask fit that computes X whole says so."""
    rng = np.random.RandomState(0)
    series = np.cumsum(rng.normal(size=(300, 2)), axis=0)
    X, Y = make_windows(da.from_array(series, chunks=(100, -1)), window=12, horizon=2)
    forest = RandomForestRegressor(n_estimators=3, random_state=0)
    with pytest.warns(UserWarning, match="computes the whole dask arrays X and y"):
        model = RevINRegressor(forest, n_variates=2).fit(X, Y)
    expected = RevINRegressor(forest, n_variates=2).fit(*compute(client, X, Y))
    assert_array_equal(model.predict(X[:5]).compute(), expected.predict(X[:5]))
