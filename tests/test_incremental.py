"""Tests of the incremental fits: partial_fit, and fit on dask X block by block.

The reference is a loop written here with the public RevINTransformer: each
batch normalized by its windows' own statistics, weighed by (scale / |gamma|)^2
over one fixed divisor, and handed to ``clone(regressor).partial_fit``.
SGDRegressor(shuffle=False) is deterministic and, within one pass, sequential:
one partial_fit over all rows equals partial_fit over the same rows cut in
batches, which the property tests use.
"""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.linear_model import Ridge, SGDRegressor
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neural_network import MLPRegressor

from sklearn_revin import RevINRegressor, RevINTransformer, make_windows

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

# Blocks of about 35 windows of 3 variates: make_windows on dask cuts blocks of
# about dask's array.chunk-size (128 MiB would be one block here).
SMALL_BLOCKS = "24KiB"
pytest.importorskip("distributed")

WORKER_MEMORY = 1024**3


def sgd():
    return SGDRegressor(shuffle=False, random_state=0)


def series_of(rng, n_times=900, n_variates=3):
    levels = np.array([50.0, -3.0, 7.0, 120.0])[:n_variates]
    return np.cumsum(rng.normal(size=(n_times, n_variates)), axis=0) + levels


def coefficients(regressor):
    """The learned coefficients of an SGDRegressor or a MultiOutputRegressor of it."""
    if hasattr(regressor, "estimators_"):
        return np.concatenate(
            [np.append(e.coef_, e.intercept_) for e in regressor.estimators_]
        )
    return np.append(regressor.coef_, regressor.intercept_)


def assert_same_regressors(got, want, rtol=1e-10):
    assert len(got.regressors_) == len(want)
    for a, b in zip(got.regressors_, want, strict=True):
        expected = coefficients(b)
        assert_allclose(
            coefficients(a), expected, rtol=rtol, atol=rtol * np.max(np.abs(expected))
        )


def hand_loop(regressor, batches, *, n_variates, channel_independent, weights):
    """partial_fit by hand over ``batches`` of (X, Y, sample_weight or None).

    All variates are targets; ``weights`` is "scale" or "uniform". The divisor
    of the "scale" weights is their (sample-weighted) mean over all batches,
    as an in-memory fit divides them. Returns the fitted regressors: one with
    ``channel_independent``, uniform weights or one variate; one per variate
    otherwise.
    """
    revin = RevINTransformer(n_variates=n_variates).fit(batches[0][0][:1])
    gamma = np.abs(revin.gamma_)
    targets = list(range(n_variates))
    prepared = []
    for X, Y, w in batches:
        statistics = revin.instance_statistics(X)
        X_normalized = revin.transform(X)
        Y_normalized = revin.normalize_with(Y, statistics, variates=targets)
        if weights == "scale":
            factor = np.square(statistics.scale / gamma)
        else:
            factor = np.ones((len(X), n_variates))
        base = np.ones(len(X)) if w is None else w
        prepared.append((X_normalized, Y_normalized, factor, base))
    horizon = prepared[0][1].shape[1] // n_variates
    if channel_independent:
        total = sum(np.sum(b[:, None] * f) for _, _, f, b in prepared)
        divisor = total / sum(n_variates * np.sum(b) for *_, b in prepared)
        fitted = clone(regressor)
        for X_n, Y_n, f, b in prepared:
            n = len(X_n)
            rows = X_n.reshape(n * n_variates, -1)
            y_rows = Y_n.reshape(n * n_variates, horizon)
            y_rows = y_rows.ravel() if horizon == 1 else y_rows
            fitted.partial_fit(
                rows,
                y_rows,
                sample_weight=(np.repeat(b, n_variates) * f.ravel()) / divisor,
            )
        return [fitted]
    per_variate = weights == "scale" and n_variates > 1
    sets = range(n_variates) if per_variate else [0]
    fitted = []
    for k in sets:
        total = sum(np.sum(b * f[:, k]) for _, _, f, b in prepared)
        divisor = total / sum(np.sum(b) for *_, b in prepared)
        model = clone(regressor)
        for X_n, Y_n, f, b in prepared:
            Y_k = Y_n[:, k * horizon : (k + 1) * horizon] if per_variate else Y_n
            Y_k = Y_k.ravel() if Y_k.shape[1] == 1 else Y_k
            model.partial_fit(X_n, Y_k, sample_weight=b * f[:, k] / divisor)
        fitted.append(model)
    return fitted


# ------------------------------------------------------------------ partial_fit


def test_partial_fit_exists_only_where_the_regressor_has_it():
    """Check that partial_fit is available with SGDRegressor, not with Ridge."""
    assert hasattr(RevINRegressor(sgd()), "partial_fit")
    assert hasattr(RevINRegressor(MultiOutputRegressor(sgd())), "partial_fit")
    assert not hasattr(RevINRegressor(Ridge()), "partial_fit")
    assert not hasattr(RevINRegressor(), "partial_fit")


@pytest.mark.parametrize("channel_independent", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_partial_fit_batches_equal_the_hand_written_loop(
    global_random_seed, channel_independent, weighted
):
    """Check partial_fit over batches against normalizing and weighing by hand.

    Three variates, all targets, horizon 3: with channel_independent=False and
    "scale" weights, one MultiOutputRegressor per target variate. The first
    batch fixes the divisor of the weights, so the reference divides by that
    batch's mean weight.
    """
    rng = np.random.RandomState(global_random_seed)
    X, Y = make_windows(series_of(rng), window=24, horizon=3)
    w = rng.uniform(0.2, 2.0, len(X)) if weighted else None
    cuts = [0, 300, 310, 700, len(X)]
    batches = [
        (X[a:b], Y[a:b], None if w is None else w[a:b])
        for a, b in itertools.pairwise(cuts)
    ]
    regressor = MultiOutputRegressor(sgd())  # horizon 3: several outputs
    model = RevINRegressor(
        regressor, n_variates=3, channel_independent=channel_independent
    )
    for X_b, Y_b, w_b in batches:
        model.partial_fit(X_b, Y_b, sample_weight=w_b)

    first = RevINRegressor(
        regressor, n_variates=3, channel_independent=channel_independent
    ).partial_fit(*batches[0][:2], sample_weight=batches[0][2])
    assert_allclose(model.window_weight_divisors_, first.window_weight_divisors_)
    want = _hand_loop_with_divisors(
        regressor,
        batches,
        divisors=first.window_weight_divisors_,
        channel_independent=channel_independent,
    )
    assert model.window_weights_ == "scale"
    assert_same_regressors(model, want)


def _hand_loop_with_divisors(regressor, batches, *, divisors, channel_independent):
    """hand_loop with the given divisors instead of the mean over all batches."""
    n_variates = 3
    revin = RevINTransformer(n_variates=n_variates).fit(batches[0][0][:1])
    gamma = np.abs(revin.gamma_)
    horizon = batches[0][1].shape[1] // n_variates
    sets = 1 if channel_independent else n_variates
    fitted = [clone(regressor) for _ in range(sets)]
    for X, Y, w in batches:
        n = len(X)
        statistics = revin.instance_statistics(X)
        X_n = revin.transform(X)
        Y_n = revin.normalize_with(Y, statistics, variates=[0, 1, 2])
        factor = np.square(statistics.scale / gamma)
        base = np.ones(n) if w is None else w
        if channel_independent:
            fitted[0].partial_fit(
                X_n.reshape(n * n_variates, -1),
                Y_n.reshape(n * n_variates, horizon),
                sample_weight=np.repeat(base, n_variates)
                * factor.ravel()
                / divisors[0],
            )
            continue
        for k in range(n_variates):
            fitted[k].partial_fit(
                X_n,
                Y_n[:, k * horizon : (k + 1) * horizon],
                sample_weight=base * factor[:, k] / divisors[k],
            )
    return fitted


def test_partial_fit_of_one_batch_divides_by_the_in_memory_mean(global_random_seed):
    """Check that one partial_fit batch is weighed exactly as fit weighs it."""
    rng = np.random.RandomState(global_random_seed)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    w = rng.uniform(0.2, 2.0, len(X))
    model = RevINRegressor(sgd(), n_variates=3, channel_independent=True)
    model.partial_fit(X, Y, sample_weight=w)
    fitted = clone(model).fit(X, Y, sample_weight=w)
    assert_allclose(
        model.window_weight_divisors_, fitted.window_weight_divisors_, rtol=1e-14
    )
    want = hand_loop(
        sgd(),
        [(X, Y, w)],
        n_variates=3,
        channel_independent=True,
        weights="scale",
    )
    assert_same_regressors(model, want)


@settings(max_examples=15, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 870), min_size=0, max_size=6, unique=True),
    weighted=st.booleans(),
)
def test_partial_fit_in_any_batches_equals_one_batch_with_uniform_weights(
    cuts, weighted
):
    """Check that cutting the windows into batches anywhere changes nothing.

    SGDRegressor(shuffle=False) makes one sequential pass either way; with
    "uniform" weights no divisor depends on the batches.
    """
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    w = rng.uniform(0.2, 2.0, len(X)) if weighted else None
    params = dict(n_variates=3, channel_independent=True, window_weights="uniform")
    whole = RevINRegressor(sgd(), **params).partial_fit(X, Y, sample_weight=w)
    model = RevINRegressor(sgd(), **params)
    bounds = [0, *sorted(c for c in cuts if c < len(X)), len(X)]
    for a, b in itertools.pairwise(bounds):
        model.partial_fit(X[a:b], Y[a:b], sample_weight=None if w is None else w[a:b])
    assert_same_regressors(model, whole.regressors_, rtol=1e-10)


def test_partial_fit_continues_a_fit_with_its_divisors(global_random_seed):
    """Check that partial_fit after fit updates fit's regressor, same weights."""
    rng = np.random.RandomState(global_random_seed)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    model = RevINRegressor(sgd(), n_variates=3, channel_independent=True)
    model.fit(X[:400], Y[:400])
    fitted, divisors = model.regressor_, model.window_weight_divisors_.copy()
    before = coefficients(fitted)
    model.partial_fit(X[400:], Y[400:])
    assert model.regressor_ is fitted
    assert_allclose(model.window_weight_divisors_, divisors, rtol=0)
    assert not np.allclose(coefficients(model.regressor_), before)


def test_partial_fit_later_batch_of_other_columns_is_an_error():
    """Check the errors for later batches whose X or y differ from the first."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng), window=24, horizon=2)
    model = RevINRegressor(MultiOutputRegressor(sgd()), n_variates=3)
    model.partial_fit(X[:100], Y[:100])
    with pytest.raises(ValueError, match="X has 69 features, but RevINRegressor is"):
        model.partial_fit(X[100:200, :-3], Y[100:200])
    with pytest.raises(
        ValueError,
        match=r"y has shape \(n_windows, 3\), but this RevINRegressor was fitted "
        r"on y of shape \(n_windows, 6\)",
    ):
        model.partial_fit(X[100:200], Y[100:200, :3])
    one = RevINRegressor(sgd(), n_variates=3, target_variates=0)
    one.partial_fit(X[:100], Y[:100, 0])
    with pytest.raises(
        ValueError, match=r"y has shape \(n_windows, 2\), .* \(n_windows,\)"
    ):
        one.partial_fit(X[100:200], Y[100:200, :2])


def test_partial_fit_routes_sample_weight_where_requested():
    """Check metadata routing: partial_fit's sample_weight to a requester only."""
    import sklearn

    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    w = rng.uniform(0.2, 2.0, len(X))
    params = dict(n_variates=3, channel_independent=True)
    with sklearn.config_context(enable_metadata_routing=True):
        requested = sgd().set_partial_fit_request(sample_weight=True)
        model = RevINRegressor(requested, **params).partial_fit(X, Y, sample_weight=w)
        with pytest.raises(ValueError, match="sample_weight"):
            RevINRegressor(sgd(), **params).partial_fit(X, Y, sample_weight=w)
    plain = RevINRegressor(sgd(), **params).partial_fit(X, Y, sample_weight=w)
    assert_same_regressors(model, plain.regressors_, rtol=1e-12)


def test_partial_fit_checks_the_column_names_of_later_batches():
    """Check that a later data-frame batch must have the first batch's names."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(series_of(rng), columns=["a", "b", "c"])
    X, Y = make_windows(frame, window=24, horizon=1)
    model = RevINRegressor(sgd(), channel_independent=True)
    model.partial_fit(X.iloc[:300], Y.iloc[:300])
    assert model.revin_.n_variates_ == 3
    model.partial_fit(X.iloc[300:600], Y.iloc[300:600])
    renamed = X.iloc[600:].rename(columns={X.columns[0]: "other[t-23]"})
    with pytest.raises(ValueError, match="feature names"):
        model.partial_fit(renamed, Y.iloc[600:])
    assert model.predict(X.iloc[600:]).shape == Y.iloc[600:].shape


def test_partial_fit_refuses_scale_free_weights():
    """Check that window_weights='scale_free' (all windows of a series) is refused."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    model = RevINRegressor(
        sgd(), n_variates=3, channel_independent=True, window_weights="scale_free"
    )
    with pytest.raises(ValueError, match="window_weights='scale_free' weighs each"):
        model.partial_fit(X, Y)


class _UnweightedSGD(SGDRegressor):
    """SGDRegressor whose partial_fit takes no sample_weight."""

    def partial_fit(self, X, y):
        return super().partial_fit(X, y)


def test_partial_fit_without_sample_weight_refuses_scale_weights():
    """Check the error where partial_fit cannot take the window weights."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    model = RevINRegressor(
        _UnweightedSGD(), n_variates=3, channel_independent=True, window_weights="scale"
    )
    with pytest.raises(ValueError, match=r"_UnweightedSGD.partial_fit does not take"):
        model.partial_fit(X, Y)
    model.set_params(window_weights="uniform").partial_fit(X, Y)
    assert model.window_weight_divisors_.tolist() == [1.0]


def test_partial_fit_keeps_float32_where_the_regressor_does():
    """Check that MLPRegressor learns float32 weights from float32 windows."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng).astype(np.float32), window=24, horizon=1)
    mlp = MLPRegressor(hidden_layer_sizes=(4,), random_state=0)
    model = RevINRegressor(mlp, n_variates=3, channel_independent=True)
    model.partial_fit(X, Y)
    assert model.regressor_.coefs_[0].dtype == np.float32
    assert model.predict(X).dtype == np.float32


# ----------------------------------------------------------------- dask fit


@pytest.mark.parametrize(
    ("channel_independent", "horizon"), [(True, 1), (False, 3), (True, 3)]
)
@pytest.mark.parametrize("weights", ["scale", "uniform"])
@pytest.mark.parametrize("weighted", [True, False])
def test_dask_fit_equals_the_hand_written_loop_over_its_blocks(
    global_random_seed, channel_independent, horizon, weights, weighted
):
    """Check fit on dask windows against partial_fit by hand over the same blocks.

    The blocks are computed in memory and normalized and weighed by hand, the
    weights divided by their mean over all windows; the dask fit streams them
    with the synchronous scheduler.
    """
    rng = np.random.RandomState(global_random_seed)
    series = series_of(rng)
    with dask.config.set({"array.chunk-size": SMALL_BLOCKS}):
        X_dask, Y_dask = make_windows(
            da.from_array(series, chunks=(200, -1)), window=24, horizon=horizon
        )
    w = rng.uniform(0.2, 2.0, X_dask.shape[0]) if weighted else None
    regressor = sgd() if horizon == 1 else MultiOutputRegressor(sgd())
    model = RevINRegressor(
        regressor,
        n_variates=3,
        channel_independent=channel_independent,
        window_weights=weights,
    )
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("error")  # no "computes the whole" warning
        model.fit(X_dask, Y_dask, sample_weight=w)

    ends = np.cumsum(X_dask.chunks[0])
    batches = [
        (
            X_dask.blocks[i].compute(),
            Y_dask.blocks[i].compute(),
            None if w is None else w[end - n : end],
        )
        for i, (n, end) in enumerate(zip(X_dask.chunks[0], ends, strict=True))
    ]
    assert len(batches) > 2
    want = hand_loop(
        regressor,
        batches,
        n_variates=3,
        channel_independent=channel_independent,
        weights=weights,
    )
    assert_same_regressors(model, want)


@settings(max_examples=10, deadline=None)
@given(chunk=st.integers(30, 900))
def test_dask_fit_in_any_chunks_equals_one_partial_fit_in_memory(chunk):
    """Check that the dask fit weighs and fits as one in-memory batch would."""
    rng = np.random.RandomState(1)
    series = series_of(rng)
    X, Y = make_windows(series, window=24, horizon=1)
    params = dict(n_variates=3, channel_independent=True)
    whole = RevINRegressor(sgd(), **params).partial_fit(X, Y)
    X_dask = da.from_array(X, chunks=(chunk, -1))
    with dask.config.set(scheduler="sync"):
        model = RevINRegressor(sgd(), **params).fit(X_dask, da.from_array(Y))
    assert_allclose(
        model.window_weight_divisors_, whole.window_weight_divisors_, rtol=1e-12
    )
    assert_same_regressors(model, whole.regressors_, rtol=1e-10)


@pytest.mark.parametrize("channel_independent", [True, False])
def test_dask_fit_with_window_statistics_equals_one_partial_fit(channel_independent):
    """Check the window statistics as features on the block-by-block route."""
    rng = np.random.RandomState(2)
    # Levels near 1: the statistics as raw features keep SGD from diverging.
    X, Y = make_windows(series_of(rng) / 100, window=24, horizon=2)
    params = dict(
        n_variates=3, channel_independent=channel_independent, window_statistics=True
    )
    regressor = MultiOutputRegressor(sgd())
    whole = RevINRegressor(regressor, **params).partial_fit(X, Y)
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("error")
        model = RevINRegressor(regressor, **params).fit(
            da.from_array(X, chunks=(200, -1)), da.from_array(Y)
        )
    assert_same_regressors(model, whole.regressors_, rtol=1e-10)


EVENTS = []


class _RecordingSGD(SGDRegressor):
    """SGDRegressor that records the rows of each partial_fit."""

    def partial_fit(self, X, y, sample_weight=None):
        EVENTS.append(("partial_fit", len(X)))
        return super().partial_fit(X, y, sample_weight=sample_weight)


def _recorded_block(block):
    EVENTS.append(("block", len(block)))
    return block


def test_dask_fit_computes_one_block_at_a_time():
    """Check that fit never computes more than one block of X per partial_fit.

    Every computation of a block of X is recorded: one pass of the weights'
    reduction (each block once, each reduced to a few sums), then, for each
    block, its computation and the partial_fit on its rows, alternating.
    """
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng, n_times=1200), window=24, horizon=1)
    chunks = (300, 300, 300, 300 - 24)
    X_dask = da.from_array(X, chunks=(chunks, -1)).map_blocks(
        _recorded_block, dtype=X.dtype
    )
    model = RevINRegressor(
        _RecordingSGD(shuffle=False, random_state=0),
        n_variates=3,
        channel_independent=True,
    )
    EVENTS.clear()
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X_dask, da.from_array(Y, chunks=100))
    reduction, stream = EVENTS[: len(chunks)], EVENTS[len(chunks) :]
    assert sorted(reduction) == sorted(("block", n) for n in chunks)
    assert stream == [
        event for n in chunks for event in (("block", n), ("partial_fit", 3 * n))
    ]


def test_dask_partial_fit_makes_one_more_pass(global_random_seed):
    """Check that partial_fit on dask arrays is one pass over the blocks."""
    rng = np.random.RandomState(global_random_seed)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    X_dask, Y_dask = da.from_array(X, chunks=(250, -1)), da.from_array(Y)
    params = dict(n_variates=3, channel_independent=True)
    with dask.config.set(scheduler="sync"):
        model = RevINRegressor(sgd(), **params).fit(X_dask, Y_dask)
        model.partial_fit(X_dask, Y_dask)
    whole = RevINRegressor(sgd(), **params).partial_fit(X, Y).partial_fit(X, Y)
    assert_same_regressors(model, whole.regressors_, rtol=1e-10)


def test_dask_fit_keeps_float32_where_the_regressor_does():
    """Check float32 dask windows give MLPRegressor float32 weights."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng).astype(np.float32), window=24, horizon=1)
    mlp = MLPRegressor(hidden_layer_sizes=(4,), random_state=0)
    model = RevINRegressor(mlp, n_variates=3, channel_independent=True)
    with dask.config.set(scheduler="sync"):
        model.fit(da.from_array(X, chunks=(200, -1)), da.from_array(Y))
    assert model.regressor_.coefs_[0].dtype == np.float32


def test_dask_fit_with_scale_free_weights_still_warns():
    """Check that scale_free weights on dask compute X whole, and say so."""
    rng = np.random.RandomState(0)
    X, Y = make_windows(series_of(rng), window=24, horizon=1)
    model = RevINRegressor(
        sgd(), n_variates=3, channel_independent=True, window_weights="scale_free"
    )
    with (
        dask.config.set(scheduler="sync"),
        pytest.warns(UserWarning, match="computes the whole dask arrays X and y"),
    ):
        model.fit(da.from_array(X, chunks=(200, -1)), da.from_array(Y))


# ------------------------------------------------------- distributed cluster


@pytest.fixture(scope="module")
def client(local_cluster):
    """A two-process LocalCluster with one thread and 1 GiB per worker."""
    return local_cluster(n_workers=2, memory_limit=WORKER_MEMORY)


def test_dask_fit_on_a_cluster_equals_the_hand_written_loop(client):
    """Check the weights' reduction on the workers and the streamed pass."""
    rng = np.random.RandomState(3)
    series = series_of(rng, n_times=1500)
    with dask.config.set({"array.chunk-size": SMALL_BLOCKS}):
        X_dask, Y_dask = make_windows(
            da.from_array(series, chunks=(300, -1)), window=24, horizon=1
        )
    w = rng.uniform(0.2, 2.0, X_dask.shape[0])
    model = RevINRegressor(sgd(), n_variates=3, channel_independent=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X_dask, Y_dask, sample_weight=w)
    assert dask.base.get_scheduler() == client.get

    ends = np.cumsum(X_dask.chunks[0])
    batches = [
        (*dask.compute(X_dask.blocks[i], Y_dask.blocks[i]), w[end - n : end])
        for i, (n, end) in enumerate(zip(X_dask.chunks[0], ends, strict=True))
    ]
    want = hand_loop(
        sgd(), batches, n_variates=3, channel_independent=True, weights="scale"
    )
    assert_same_regressors(model, want)


def test_dask_fit_on_windows_larger_than_a_worker(client):
    """Check a partial_fit route fit on windows no worker could hold whole.

    The windows (1.03 GiB of float64, built lazily by make_windows from a
    series generated on the workers) exceed each worker's 1 GiB limit. The
    reference is RevINRegressor.partial_fit over the same blocks, computed
    one at a time here, with uniform weights (no divisor to agree on).
    """
    steps = da.random.default_rng(0).standard_normal((24_000, 360), chunks=(2_000, -1))
    series = steps.cumsum(axis=0)
    X_dask, Y_dask = make_windows(series, window=16, horizon=1)
    assert X_dask.nbytes > WORKER_MEMORY
    params = dict(n_variates=360, channel_independent=True, window_weights="uniform")
    model = RevINRegressor(sgd(), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X_dask, Y_dask)

    reference = RevINRegressor(sgd(), **params)
    for i in range(X_dask.numblocks[0]):
        X_block, Y_block = dask.compute(X_dask.blocks[i], Y_dask.blocks[i])
        reference.partial_fit(X_block, Y_block)
    assert_same_regressors(model, reference.regressors_, rtol=1e-10)
    assert model.regressor_.t_ == 360 * X_dask.shape[0] + 1


# --------------------------------------------- regressors with their own dask fit


@pytest.fixture(scope="module")
def one_worker_client(local_cluster):
    """A LocalCluster of one worker process: LightGBM then trains as in memory."""
    return local_cluster(n_workers=1, memory_limit=WORKER_MEMORY)


def fit_on_dask_and_in_memory(
    dask_regressor, local_regressor, params, X_dask, Y_dask, sample_weight, ignore=None
):
    """Fit RevINRegressor around a library's dask and in-memory estimators.

    The dask fit must not compute the whole windows (its warning is an
    error here) and must weight the windows by "scale" over all blocks, as
    the in-memory fit on the computed windows does. Returns the dask model,
    the in-memory reference and the computed X.
    """
    model = RevINRegressor(dask_regressor, **params)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "fit computes the whole")
        if ignore is not None:
            warnings.filterwarnings("ignore", ignore)
        model.fit(X_dask, Y_dask, sample_weight=sample_weight)
    assert model.window_weights_ == "scale"
    X, Y = dask.compute(X_dask, Y_dask)
    reference = RevINRegressor(local_regressor, **params).fit(
        X, Y, sample_weight=sample_weight
    )
    return model, reference, X


@pytest.mark.parametrize(
    ("channel_independent", "target_variates"), [(True, None), (False, 1)]
)
@pytest.mark.parametrize("weighted", [True, False])
def test_lightgbm_dask_fit_equals_lightgbm_in_memory(
    one_worker_client, channel_independent, target_variates, weighted
):
    """Check DaskLGBMRegressor on the lazily normalized windows on a cluster.

    With one worker LightGBM's distributed training sees the same rows as
    LGBMRegressor in memory: the forecasts are equal (to rounding), with the
    "scale" window weights over all blocks and sample weights.
    """
    pytest.importorskip("lightgbm.dask", reason="LightGBM's dask estimators")
    from lightgbm import LGBMRegressor
    from lightgbm.dask import DaskLGBMRegressor

    rng = np.random.RandomState(0)
    series = series_of(rng, n_times=1500)
    target = None if target_variates is None else [target_variates]
    with dask.config.set({"array.chunk-size": SMALL_BLOCKS}):
        X_dask, Y_dask = make_windows(
            da.from_array(series, chunks=(300, -1)), window=24, horizon=1, target=target
        )
    w = rng.uniform(0.2, 2.0, X_dask.shape[0]) if weighted else None
    lgbm = dict(
        n_estimators=20,
        num_leaves=7,
        random_state=0,
        verbose=-1,
        deterministic=True,
        force_row_wise=True,
    )
    params = dict(
        n_variates=3,
        channel_independent=channel_independent,
        target_variates=target_variates,
    )
    model, reference, X = fit_on_dask_and_in_memory(
        DaskLGBMRegressor(**lgbm),
        LGBMRegressor(**lgbm),
        params,
        X_dask,
        Y_dask,
        sample_weight=w,
        ignore="Parameter n_jobs will be ignored",
    )
    assert isinstance(model.regressor_, LGBMRegressor)  # to_local()
    want = reference.predict(X)
    assert_allclose(model.predict(X), want, rtol=1e-10, atol=1e-10)
    assert_allclose(model.predict(X_dask).compute(), want, rtol=1e-10, atol=1e-10)


# Largest difference of the XGBoost forecasts (normalized space, then
# denormalized) between the dask and the in-memory fit; see the test.
XGBOOST_TOLERANCE = 1e-10


@pytest.mark.parametrize(
    ("channel_independent", "target_variates", "horizon"),
    [(True, None, 1), (False, 1, 1), (True, None, 3), (False, None, 2)],
)
@pytest.mark.parametrize("weighted", [True, False])
def test_xgboost_dask_fit_equals_xgboost_in_memory(
    one_worker_client, channel_independent, target_variates, horizon, weighted
):
    """Check DaskXGBRegressor on the lazily normalized windows on a cluster.

    The fitted booster is kept as an XGBRegressor (multi-output y included:
    horizon 3 with ``channel_independent``, one clone per target with
    "scale" weights otherwise); its forecasts are compared with those of
    ``XGBRegressor(tree_method="hist")`` fitted in memory on the same windows,
    with "scale" window weights over all blocks and sample weights.
    """
    pytest.importorskip("xgboost.dask", reason="XGBoost's dask estimators")
    from xgboost import XGBRegressor
    from xgboost.dask import DaskXGBRegressor

    rng = np.random.RandomState(0)
    series = series_of(rng, n_times=1500)
    target = None if target_variates is None else [target_variates]
    X_dask, Y_dask = make_windows(
        da.from_array(series, chunks=(300, -1)),
        window=24,
        horizon=horizon,
        target=target,
    )
    w = rng.uniform(0.2, 2.0, X_dask.shape[0]) if weighted else None
    xgb = dict(n_estimators=20, max_depth=3, random_state=0, tree_method="hist")
    params = dict(
        n_variates=3,
        channel_independent=channel_independent,
        target_variates=target_variates,
    )
    model, reference, X = fit_on_dask_and_in_memory(
        DaskXGBRegressor(**xgb),
        XGBRegressor(**xgb, n_jobs=1),
        params,
        X_dask,
        Y_dask,
        sample_weight=w,
    )
    assert all(type(r) is XGBRegressor for r in model.regressors_)
    assert len(model.regressors_) == len(reference.regressors_)
    want = reference.predict(X)
    tolerance = XGBOOST_TOLERANCE * np.max(np.abs(want))
    assert_allclose(model.predict(X), want, rtol=0, atol=tolerance)
    assert_allclose(model.predict(X_dask).compute(), want, rtol=0, atol=tolerance)


def test_dask_ml_incremental_fit_equals_the_partial_fit_route(one_worker_client):
    """Check dask-ml's Incremental as the regressor, on a cluster.

    Its fit hands the lazily normalized blocks, in order
    (``shuffle_blocks=False``), to the ``partial_fit`` of its estimator: the
    same blocks, in the same order, as RevINRegressor's own block-by-block
    fit of the estimator itself. The estimator it fitted is kept.
    """
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml's Incremental")
    rng = np.random.RandomState(1)
    series = series_of(rng, n_times=1500)
    X_dask, Y_dask = make_windows(
        da.from_array(series, chunks=(300, -1)), window=24, horizon=1
    )
    params = dict(n_variates=3, channel_independent=True, window_weights="uniform")
    model = RevINRegressor(wrappers.Incremental(sgd(), shuffle_blocks=False), **params)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "fit computes the whole")
        model.fit(X_dask, Y_dask)
    assert type(model.regressor_) is SGDRegressor  # Incremental.estimator_

    reference = RevINRegressor(sgd(), **params).fit(X_dask, Y_dask)
    assert_same_regressors(model, reference.regressors_)
    X = X_dask.compute()
    want = reference.predict(X)
    assert_allclose(model.predict(X), want, rtol=1e-10)
    assert_allclose(model.predict(X_dask).compute(), want, rtol=1e-10)


def test_dask_ml_incremental_refuses_window_weights():
    """Check the error where Incremental would be given per-window weights."""
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml's Incremental")
    rng = np.random.RandomState(2)
    X_dask, Y_dask = make_windows(
        da.from_array(series_of(rng, n_times=300), chunks=(100, -1)),
        window=24,
        horizon=1,
    )
    model = RevINRegressor(
        wrappers.Incremental(sgd()), n_variates=3, window_weights="scale"
    )
    with pytest.raises(
        ValueError, match=r"Incremental\.fit does not take sample_weight"
    ):
        model.fit(X_dask, Y_dask)
    uniform = RevINRegressor(
        wrappers.Incremental(sgd()), n_variates=3, window_weights="uniform"
    )
    with pytest.raises(ValueError, match="cannot go through it"):
        uniform.fit(X_dask, Y_dask, sample_weight=np.ones(X_dask.shape[0]))


def _never_computed(block):
    raise AssertionError("a block of X was computed")


@pytest.mark.parametrize(
    ("horizon", "target", "want"),
    [(2, 0, r"\(\d+, 2\)"), (1, None, r"\(\d+, 3\)"), (1, 0, r"\(\d+, 1\)")],
)
def test_dask_ml_incremental_refuses_two_dimensional_y(horizon, target, want):
    """Check the error, before anything is computed, where Incremental gets 2-D y.

    dask-ml's fit looks up the blocks of y by row only: a 2-D y (several
    steps, several target variates, or one column kept 2-D) failed inside
    dask-ml ("inconsistent numbers of samples").
    """
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml's Incremental")
    rng = np.random.RandomState(4)
    X_dask, Y_dask = make_windows(
        da.from_array(series_of(rng, n_times=300), chunks=(100, -1)),
        window=24,
        horizon=horizon,
    )
    if target is not None:
        Y_dask = Y_dask[:, target * horizon : (target + 1) * horizon]
    X_lazy = X_dask.map_blocks(_never_computed, dtype=X_dask.dtype)
    model = RevINRegressor(
        wrappers.Incremental(sgd()),
        n_variates=3,
        target_variates=target,
        window_weights="uniform",
    )
    with pytest.raises(
        ValueError,
        match=r"Incremental\.fit takes y of shape \(n_samples,\) only.* give it y "
        r"of shape " + want,
    ):
        model.fit(X_lazy, Y_dask)


def test_dask_ml_incremental_of_revin_regressor_equals_its_own_dask_fit(
    one_worker_client,
):
    """Check Incremental(RevINRegressor(SGDRegressor)) from outside.

    dask-ml calls RevINRegressor.partial_fit block by block, on the worker.
    With uniform window weights this is RevINRegressor's own dask fit of the
    same blocks. (With "scale" weights partial_fit divides by the first
    block's mean weight, the dask fit by the mean over all blocks.)
    """
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml's Incremental")
    rng = np.random.RandomState(3)
    X_dask, Y_dask = make_windows(
        da.from_array(series_of(rng, n_times=1500), chunks=(300, -1)),
        window=24,
        horizon=1,
        target=[1],
    )
    y_dask = Y_dask[:, 0]  # dask-ml's fit takes y of one column block
    params = dict(n_variates=3, target_variates=1, window_weights="uniform")
    outer = wrappers.Incremental(RevINRegressor(sgd(), **params), shuffle_blocks=False)
    outer.fit(X_dask, y_dask)
    reference = RevINRegressor(sgd(), **params).fit(X_dask, y_dask)
    assert_same_regressors(outer.estimator_, reference.regressors_)
    X = X_dask.compute()
    assert_allclose(outer.predict(X_dask).compute(), reference.predict(X), rtol=1e-10)
